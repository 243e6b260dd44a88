//! Hardening against abuse (issue 22): password hashing cannot be made to
//! take unbounded memory and threads, a slow body cannot hold a
//! connection, and one address cannot hold every connection.

use std::sync::Barrier;

use serde_json::Value;

use crate::browser::Browser;
use crate::harness::Server;

#[test]
fn password_checks_beyond_the_hashing_slots_are_refused_at_once() {
    let s = Server::start_with(&[("AUTHLOG_PASSWORD_HASHING_SLOTS", "1")]);
    let attempts = 5; // the login throttle's budget per address
    let browsers: Vec<(Browser, crate::browser::Page)> = (0..attempts)
        .map(|_| {
            let browser = Browser::new(&s);
            let login = browser.get("/oauth/device");
            (browser, login)
        })
        .collect();
    let start = Barrier::new(attempts);
    let answers: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let running: Vec<_> = browsers
            .iter()
            .enumerate()
            .map(|(i, (browser, login))| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let page = browser.login(login, &format!("nobody{i}"), "not the password");
                    let retry = page
                        .headers
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned());
                    (page.status, retry)
                })
            })
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    });
    // Each is either checked (and fails: 401) or refused at once (503 with
    // Retry-After); with one slot and five at once, some are refused.
    for (status, retry) in &answers {
        match status {
            401 => {}
            503 => assert_eq!(retry.as_deref(), Some("1"), "{answers:?}"),
            other => panic!("unexpected {other}: {answers:?}"),
        }
    }
    assert!(answers.iter().any(|(s, _)| *s == 503), "{answers:?}");
    assert!(answers.iter().any(|(s, _)| *s == 401), "{answers:?}");
    // Refusals did not count against the address: a real user still signs in.
    let browser = Browser::new(&s);
    let login = browser.get("/oauth/device");
    let page = browser.login(&login, "nobody", "not the password");
    assert_ne!(page.status, 429, "{}", page.body);
}

#[test]
fn a_body_that_trickles_in_is_cut_off_and_others_are_served_meanwhile() {
    use std::io::{Read, Write};
    let s = Server::start();
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    slow.write_all(
        b"POST /oauth/token HTTP/1.1\r\nHost: authlog\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ng",
    )
    .unwrap();
    // Meanwhile the server answers everyone else.
    assert_eq!(s.get("/readyz").send().unwrap().status(), 200);
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("invalid_request"), "{answer}");
}

/// Sends `GET /readyz` on a connection from `local` and says whether it
/// was answered (`false`: the server closed the connection unanswered).
fn answered(stream: &mut std::net::TcpStream) -> bool {
    use std::io::{Read, Write};
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    if stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: authlog\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    match stream.read_exact(&mut head) {
        Ok(()) => {
            assert_eq!(&head, b"HTTP/1.1 200", "an admitted connection is served");
            true
        }
        Err(_) => false,
    }
}

fn connect_from(local: &str, server: &str) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{local}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    let server: std::net::SocketAddr = server.parse().unwrap();
    socket.connect(&server.into()).unwrap();
    socket.into()
}

#[test]
fn one_address_cannot_hold_every_connection() {
    let s = Server::start_with(&[("AUTHLOG_MAX_CONNECTIONS_PER_ADDRESS", "8")]);
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut attacker: Vec<_> = (0..9).map(|_| connect_from("127.0.0.2", &addr)).collect();
    let served = attacker.iter_mut().map(answered).filter(|ok| *ok).count();
    assert_eq!(
        served, 8,
        "the ninth connection from one address is closed unanswered"
    );
    // Another address is served meanwhile, health checks included.
    let mut other = connect_from("127.0.0.1", &addr);
    assert!(answered(&mut other));
    assert_eq!(s.get("/readyz").send().unwrap().status(), 200);
    // Closing connections gives their slots back.
    attacker.clear();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut again = connect_from("127.0.0.2", &addr);
        if answered(&mut again) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slots never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_hidden_cause_is_replaced_by_a_fixed_text_citing_the_request_id() {
    let s = Server::start();
    // RFC 6761: .invalid never resolves; the resolver's words stay in the log.
    let r = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "https://no-such-host.invalid/client.json"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let id = r
        .headers()
        .get("x-request-id")
        .expect("every response carries its request id")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = r.json().unwrap();
    assert_eq!(
        body["error_description"],
        format!("the client metadata document could not be fetched: the host could not be resolved (request id {id})"),
    );
    // Answers that hide nothing do not cite it.
    let r = s
        .post("/oauth/token")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().unwrap();
    assert!(!body["error_description"]
        .as_str()
        .unwrap()
        .contains("request id"));
}

/// A browser whose cookies the test holds, to replay them across sessions.
struct Jar {
    http: reqwest::blocking::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

/// A page: status, body, and the `csrf` form field when there is one.
struct Seen {
    status: u16,
    csrf: Option<String>,
    headers: reqwest::header::HeaderMap,
}

impl Jar {
    fn new(s: &Server) -> Jar {
        Jar {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: s.base.clone(),
            cookies: Default::default(),
        }
    }

    fn send(&mut self, request: reqwest::blocking::RequestBuilder) -> Seen {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let r = request.header("cookie", cookie).send().unwrap();
        let headers = r.headers().clone();
        for set in headers.get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        let status = r.status().as_u16();
        let body = r.text().unwrap();
        let marker = "name=\"csrf\" value=\"";
        let csrf = body.find(marker).map(|at| {
            let rest = &body[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        });
        Seen {
            status,
            csrf,
            headers,
        }
    }

    fn get(&mut self, path: &str) -> Seen {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Seen {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request)
    }

    fn sign_in(&mut self, username: &str, password: &str) -> Seen {
        let page = self.get("/oauth/device");
        let csrf = page.csrf.expect("a login form");
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("return_to", "/oauth/device"),
                ("username", username),
                ("password", password),
            ],
        )
    }
}

const PASSWORD: &str = "admin-password-123";

#[test]
fn a_csrf_cookie_and_token_from_another_session_are_refused() {
    let s = Server::start_with(&[("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)]);
    // The attacker's own CSRF cookie and matching form token.
    let mut attacker = Jar::new(&s);
    let attacker_token = attacker.get("/oauth/device").csrf.unwrap();
    let attacker_cookie = attacker.cookies["authlog_csrf"].clone();
    // The victim signs in.
    let mut victim = Jar::new(&s);
    assert_eq!(victim.sign_in("admin", PASSWORD).status, 303);
    assert!(victim.cookies.contains_key("authlog_session"));
    // The victim's own form is processed (an unknown code: 400) ...
    let own = victim.get("/oauth/device").csrf.unwrap();
    let code = [("csrf", own.as_str()), ("user_code", "BCDF-GHJK")];
    assert_eq!(victim.post("/oauth/device", &code).status, 400);
    // ... but with the attacker's cookie planted, the attacker's token is refused.
    victim
        .cookies
        .insert("authlog_csrf".into(), attacker_cookie);
    let forged = [
        ("csrf", attacker_token.as_str()),
        ("user_code", "BCDF-GHJK"),
    ];
    assert_eq!(victim.post("/oauth/device", &forged).status, 403);
}

#[test]
fn an_https_issuer_gets_host_only_secure_cookies_and_hsts() {
    let s = Server::start_with(&[
        ("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
        ("AUTHLOG_ISSUER", "https://auth.example.com"),
    ]);
    let mut browser = Jar::new(&s);
    let signed_in = browser.sign_in("admin", PASSWORD);
    assert_eq!(signed_in.status, 303);
    assert_eq!(
        browser.cookies.keys().collect::<Vec<_>>(),
        ["__Host-authlog_csrf", "__Host-authlog_session"]
    );
    let session = signed_in.headers["set-cookie"].to_str().unwrap();
    for flag in ["Secure", "Path=/", "HttpOnly"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    // The session works under its prefixed name: the code entry form shows.
    let entry = browser.get("/oauth/device");
    assert_eq!(entry.status, 200);
    assert!(entry.csrf.is_some());
    for response in [
        entry.headers,
        s.get("/readyz").send().unwrap().headers().clone(),
    ] {
        assert_eq!(response["strict-transport-security"], "max-age=31536000");
    }
    // A plain-http issuer sends no HSTS (browsers ignore it over http).
    let plain = Server::start();
    let r = plain.get("/readyz").send().unwrap();
    assert!(!r.headers().contains_key("strict-transport-security"));
}

/// Every file under `dir`, read whole.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

#[test]
fn refused_authentications_grow_the_log_by_bounded_summaries_only() {
    const TYPED: &str = "correct horse battery staple";
    let env = [
        ("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
        ("AUTHLOG_USAGE_FLUSH_SECONDS", "3600"),
    ];
    let s = Server::start_with(&env);
    let admin = s.admin_token(None);
    let (id, _secret) = s.service_client(&admin, "real", "read");
    let before = s.head();
    // 8 addresses × (40 made-up client ids + 10 bad secrets for "real"):
    // most over the per-address budget (429), all failures.
    let addresses = 8u8;
    std::thread::scope(|scope| {
        for a in 0..addresses {
            let (s, id) = (&s, &id);
            scope.spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .local_address(std::net::IpAddr::from([127, 0, 0, 2 + a]))
                    .build()
                    .unwrap();
                for i in 0..50 {
                    let client = if i < 40 {
                        format!("guess-{a}-{i}")
                    } else {
                        id.clone()
                    };
                    let status = http
                        .post(s.url("/oauth/token"))
                        .basic_auth(&client, Some("alcs_guess"))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .unwrap()
                        .status()
                        .as_u16();
                    assert!(status == 401 || status == 429, "{status}");
                }
            });
        }
    });
    // A password typed into the username field, three times.
    let mut browser = Jar::new(&s);
    for _ in 0..3 {
        assert_eq!(browser.sign_in(TYPED, "whatever").status, 401);
    }
    assert_eq!(s.head(), before, "no refusal appends an event of its own");

    // Stopping flushes the tally: a bounded number of summaries.
    let s = s.restart_with(&env);
    let appended = s.head() - before;
    assert!(appended <= 100 + 2, "{appended} events for 403 failures");
    let audit: Value = s
        .get("/api/audit/events?type=AuthenticationFailures&limit=500")
        .bearer_auth(s.admin_token(None))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = audit["items"].as_array().unwrap();
    // At most 100 named subjects and one for the rest; besides them only
    // the flush of token use (the admin's token) was appended.
    assert!(items.len() <= 100 + 1, "{} summaries", items.len());
    assert!(appended <= items.len() as u64 + 1, "{appended} appended");
    let failures = |pick: &dyn Fn(&Value) -> bool| -> u64 {
        items
            .iter()
            .filter(|e| pick(&e["summary"]))
            .map(|e| e["summary"]["failures"].as_u64().unwrap())
            .sum()
    };
    // Nothing is lost: every failure is counted in some summary ...
    assert_eq!(failures(&|_| true), u64::from(addresses) * 50 + 3);
    // ... the real client by name, with all its failures ...
    assert_eq!(
        failures(&|e| e["client_id"] == "real"),
        u64::from(addresses) * 10
    );
    // ... the made-up ids past the named ones together ...
    assert!(
        items
            .iter()
            .any(|e| e["summary"]["other_client_ids"].as_u64().unwrap_or(0) > 0),
        "{audit}"
    );
    // ... and the unknown username only as a count.
    assert_eq!(failures(&|e| e["unknown_usernames"] == true), 3);
    let stored = all_bytes(&s.data);
    assert!(
        !stored.windows(TYPED.len()).any(|w| w == TYPED.as_bytes()),
        "the name typed reached the disk"
    );
}
