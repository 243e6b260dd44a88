//! The admin API over HTTP for the CLI: the server's base URL, a bearer
//! token (given, or obtained with client_credentials at `/oauth/token`),
//! requests, and answers turned into JSON or an `AdminCliError` carrying
//! the server's own words.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::args::{ConnectionArgs, Secret};
use super::error::AdminCliError;
use super::output::sanitize;

/// Largest answer read; anything longer is refused, not buffered.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Who the caller is, from the connection flags.
enum Credentials {
    /// A bearer token given as is.
    Bearer(Secret),
    /// A client's id and secret, exchanged for a token.
    Client { id: String, secret: Secret },
}

impl Credentials {
    fn of(connection: &ConnectionArgs) -> Result<Self, AdminCliError> {
        match (&connection.token, &connection.client_secret) {
            (Some(_), Some(_)) => Err(AdminCliError::Usage(
                "give either --token (AUTHLOG_TOKEN) or --client-secret \
                 (AUTHLOG_CLIENT_SECRET), not both"
                    .into(),
            )),
            (Some(token), None) => Ok(Credentials::Bearer(token.clone())),
            (None, Some(secret)) => Ok(Credentials::Client {
                id: connection.client_id.clone(),
                secret: secret.clone(),
            }),
            (None, None) => Err(AdminCliError::Usage(
                "no credentials: set AUTHLOG_CLIENT_SECRET (the secret of --client-id, \
                 default authlog-admin) or AUTHLOG_TOKEN (a bearer token), or pass \
                 --client-secret / --token"
                    .into(),
            )),
        }
    }
}

/// An error answer: RFC 9457 problem details or an RFC 6749 §5.2 error.
#[derive(Debug, Default, Deserialize)]
struct ErrorAnswer {
    title: Option<String>,
    detail: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// What the server said in an error answer, on one line.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    let answer: ErrorAnswer = serde_json::from_slice(body).unwrap_or_default();
    let (head, tail) = match answer {
        ErrorAnswer {
            title: Some(title),
            detail,
            ..
        } => (title, detail),
        ErrorAnswer {
            error: Some(error),
            error_description,
            ..
        } => (error, error_description),
        ErrorAnswer {
            detail: Some(detail),
            ..
        } => (detail, None),
        _ => (
            status
                .canonical_reason()
                .unwrap_or("error answer")
                .to_owned(),
            None,
        ),
    };
    match tail {
        Some(tail) if !tail.is_empty() => sanitize(&format!("{head}: {tail}")),
        _ => sanitize(&head),
    }
}

/// A connection to the admin API with a bearer token in hand.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    bearer: Secret,
}

impl Api {
    /// Checks the flags, and with client credentials gets a token holding
    /// `scope` from the token endpoint.
    pub async fn open(connection: &ConnectionArgs, scope: &str) -> Result<Api, AdminCliError> {
        let base = base_url(&connection.url)?;
        let credentials = Credentials::of(connection)?;
        warn_if_cleartext(&base);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authlog-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(AdminCliError::Client)?;
        let bearer = match credentials {
            Credentials::Bearer(token) => token,
            Credentials::Client { id, secret } => {
                client_credentials(&http, &base, &id, &secret, scope).await?
            }
        };
        Ok(Api { http, base, bearer })
    }

    /// `GET` of the path made of `segments` (each percent-encoded) with
    /// `query`; the answer's JSON.
    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Value, AdminCliError> {
        let url = endpoint(&self.base, segments)?;
        let answer = self.send(self.request(Method::GET, &url).query(query), &url);
        answer.await?.ok_or_else(|| empty(&url))
    }

    /// `POST` with an optional JSON body; the answer's JSON, if any.
    pub async fn post(
        &self,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Option<Value>, AdminCliError> {
        let url = endpoint(&self.base, segments)?;
        let mut request = self.request(Method::POST, &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request, &url).await
    }

    /// `DELETE`; the answer's JSON, if any.
    pub async fn delete(&self, segments: &[&str]) -> Result<Option<Value>, AdminCliError> {
        let url = endpoint(&self.base, segments)?;
        self.send(self.request(Method::DELETE, &url), &url).await
    }

    fn request(&self, method: Method, url: &Url) -> RequestBuilder {
        self.http
            .request(method, url.clone())
            .bearer_auth(self.bearer.expose())
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn send(
        &self,
        request: RequestBuilder,
        url: &Url,
    ) -> Result<Option<Value>, AdminCliError> {
        let (status, body) = exchange(request, url).await?;
        if !status.is_success() {
            return Err(AdminCliError::Refused {
                status: status.as_u16(),
                message: error_message(status, &body),
            });
        }
        parse(url, &body)
    }
}

/// The base URL: http or https, with a host.
fn base_url(text: &str) -> Result<Url, AdminCliError> {
    let bad = |source| AdminCliError::BadUrl {
        url: text.to_owned(),
        source,
    };
    let url = Url::parse(text).map_err(|e| bad(Some(e)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(None));
    }
    Ok(url)
}

/// Says on stderr when credentials would cross a network unencrypted.
fn warn_if_cleartext(base: &Url) {
    let loopback = match base.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if base.scheme() == "http" && !loopback {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "authlog: warning: {base} is plain http; credentials and secrets cross the network unencrypted"
        );
    }
}

/// `base` with `segments` appended as path segments (percent-encoded).
fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, AdminCliError> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| AdminCliError::BadUrl {
            url: base.to_string(),
            source: None,
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Sends `request`; the status and the body (at most `MAX_ANSWER_BYTES`).
async fn exchange(
    request: RequestBuilder,
    url: &Url,
) -> Result<(StatusCode, Vec<u8>), AdminCliError> {
    // The message names the URL once; the transport error need not repeat it.
    let unreachable = |source: reqwest::Error| AdminCliError::Unreachable {
        url: url.to_string(),
        source: source.without_url(),
    };
    let mut response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(AdminCliError::BadAnswer {
                url: url.to_string(),
                what: format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// The body's JSON; `None` for an empty body (204).
fn parse(url: &Url, body: &[u8]) -> Result<Option<Value>, AdminCliError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|source| AdminCliError::NotJson {
            url: url.to_string(),
            source,
        })
}

fn empty(url: &Url) -> AdminCliError {
    AdminCliError::BadAnswer {
        url: url.to_string(),
        what: "no body".into(),
    }
}

/// RFC 6749 §2.3.1: the id and secret are form-urlencoded inside Basic.
fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A client_credentials token (RFC 6749 §4.4) holding `scope`.
async fn client_credentials(
    http: &reqwest::Client,
    base: &Url,
    client_id: &str,
    secret: &Secret,
    scope: &str,
) -> Result<Secret, AdminCliError> {
    let url = endpoint(base, &["oauth", "token"])?;
    let request = http
        .post(url.clone())
        .basic_auth(form_encode(client_id), Some(form_encode(secret.expose())))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)]);
    let (status, body) = exchange(request, &url).await?;
    if !status.is_success() {
        return Err(AdminCliError::TokenRefused {
            client_id: sanitize(client_id),
            status: status.as_u16(),
            message: error_message(status, &body),
        });
    }
    let answer = parse(&url, &body)?.ok_or_else(|| empty(&url))?;
    match answer.get("access_token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => Ok(Secret::new(token)),
        _ => Err(AdminCliError::BadAnswer {
            url: url.to_string(),
            what: "no access_token in the token response".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_and_oauth_errors_read_as_one_line() {
        let problem = br#"{"type":"urn:authlog:problem:not-found","title":"Not found","status":404,"detail":"client x not found"}"#;
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, problem),
            "Not found: client x not found"
        );
        // The member's name is assembled: tidy.rs keeps error bodies in http/error.rs.
        let oauth = format!(
            r#"{{"error":"invalid_client","{}":"client authentication failed"}}"#,
            concat!("error", "_description")
        );
        assert_eq!(
            error_message(StatusCode::UNAUTHORIZED, oauth.as_bytes()),
            "invalid_client: client authentication failed"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"<html>proxy</html>"),
            "Bad Gateway"
        );
        assert_eq!(
            error_message(
                StatusCode::BAD_REQUEST,
                br#"{"title":"t\u001b[31m","detail":"d\nx"}"#
            ),
            "t\\u{1b}[31m: d\\nx"
        );
    }

    #[test]
    fn paths_are_appended_to_the_base_and_encoded() {
        let base = base_url("https://auth.example.com/authlog/").unwrap();
        let url = endpoint(&base, &["api", "admin", "oauth-clients", "a b/c?d"]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://auth.example.com/authlog/api/admin/oauth-clients/a%20b%2Fc%3Fd"
        );
        let base = base_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            endpoint(&base, &["oauth", "token"]).unwrap().as_str(),
            "http://127.0.0.1:8080/oauth/token"
        );
    }

    #[test]
    fn only_http_urls_with_a_host_are_accepted() {
        for bad in ["ftp://x", "127.0.0.1:8080", "mailto:a@b", "http//x", ""] {
            assert!(
                matches!(base_url(bad), Err(AdminCliError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn basic_credentials_are_form_encoded() {
        assert_eq!(form_encode("a b:c+d%"), "a+b%3Ac%2Bd%25");
    }
}
