//! A person's browser for the HTML flows: keeps cookies, never follows
//! redirects (tests read `Location`), and reads hidden form fields.

use reqwest::blocking::{Client, Response};
use reqwest::header::LOCATION;

use crate::harness::Server;

/// A cookie-keeping, non-redirecting client.
pub struct Browser {
    http: Client,
    base: String,
}

/// A page as the browser saw it.
pub struct Page {
    /// Status code.
    pub status: u16,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// Body text.
    pub body: String,
    /// All headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    fn from(r: Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            body: r.text().unwrap(),
            headers,
        }
    }

    /// The value of the hidden input `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        html_unescape(&self.body[start..end])
    }

    /// A query parameter of the `Location` URL.
    pub fn location_param(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(self.location.as_deref()?).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

impl Browser {
    /// A fresh browser for `server`.
    pub fn new(server: &Server) -> Browser {
        Browser {
            http: Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.base.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// GET a page.
    pub fn get(&self, path: &str) -> Page {
        Page::from(self.http.get(self.url(path)).send().unwrap())
    }

    /// POST a form.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Page::from(self.http.post(self.url(path)).form(form).send().unwrap())
    }

    /// Signs in from a login page; returns the redirect back.
    pub fn login(&self, login_page: &Page, username: &str, password: &str) -> Page {
        assert_eq!(login_page.status, 200, "{}", login_page.body);
        assert!(login_page.body.contains("Sign in"), "{}", login_page.body);
        let csrf = login_page.hidden("csrf");
        let return_to = login_page.hidden("return_to");
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("return_to", &return_to),
                ("username", username),
                ("password", password),
            ],
        )
    }
}
