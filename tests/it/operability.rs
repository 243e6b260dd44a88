//! Operability (issue 21): `/metrics` counts what the requests did
//! and moves to its own listener with `AUTHLOG_METRICS_LISTEN`; JSON logs.

use crate::harness::Server;

/// The value of the sample `name{labels}` (labels as rendered, sorted by
/// the exporter); `None` when absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

fn scrape(s: &Server) -> String {
    let r = s.get("/metrics").send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    r.text().unwrap()
}

#[test]
fn metrics_count_requests_tokens_failures_and_read_the_projections() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let created = s.create_client(
        &admin,
        serde_json::json!({"client_id": "svc", "client_name": "Service", "grant_types": ["client_credentials"], "scope": "read"}),
    );
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(s.token_basic("svc", &secret, None).status(), 200);
    }
    let revoked: serde_json::Value = s.token_basic("svc", &secret, None).json().unwrap();
    let r = s
        .post("/oauth/revoke")
        .basic_auth("svc", Some(&secret))
        .form(&[("token", revoked["access_token"].as_str().unwrap())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.token_basic("svc", "wrong-secret", None).status(), 401);
    assert_eq!(s.get("/no/such/path/12345").send().unwrap().status(), 404);

    let text = scrape(&s);
    let value =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(
        value(r#"authlog_http_requests_total{route="/oauth/token",method="POST",status="200"}"#),
        5.0,
        "the admin token and four service tokens"
    );
    assert_eq!(
        value(r#"authlog_http_requests_total{route="/oauth/token",method="POST",status="401"}"#),
        1.0
    );
    assert_eq!(
        value(r#"authlog_http_requests_total{route="unmatched",method="GET",status="404"}"#),
        1.0,
        "raw paths never become labels"
    );
    assert!(!text.contains("/no/such/path"));
    assert_eq!(
        value(r#"authlog_http_request_duration_seconds_count{route="/oauth/token",method="POST"}"#),
        6.0
    );
    assert_eq!(
        value(r#"authlog_tokens_issued_total{grant_type="client_credentials"}"#),
        5.0
    );
    assert_eq!(
        value("authlog_tokens_active"),
        4.0,
        "five issued, one revoked"
    );
    assert_eq!(
        value(r#"authlog_failed_authentications_total{kind="client"}"#),
        1.0
    );
    assert_eq!(value(r#"authlog_events_total{type="TokenIssued"}"#), 5.0);
    assert!(value("authlog_writer_batch_size_count") >= 1.0);
    assert!(value("authlog_writer_commit_seconds_count") >= 1.0);
    assert_eq!(value("authlog_writer_queue_depth"), 0.0);
    assert_eq!(value("authlog_ready"), 1.0);
    assert!(value("authlog_replay_seconds") >= 0.0);
    assert!(text.contains("authlog_build_info{version=\""));
    // The secret and the tokens are nowhere in it.
    assert!(!text.contains(&secret));
}

#[test]
fn metrics_listen_serves_them_apart_from_the_api() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let s = Server::start_with(&[("AUTHLOG_METRICS_LISTEN", &addr)]);
    s.admin_token(None);
    assert_eq!(s.get("/metrics").send().unwrap().status(), 404);
    let text = reqwest::blocking::get(format!("http://{addr}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        sample(
            &text,
            r#"authlog_tokens_issued_total{grant_type="client_credentials"}"#
        ),
        Some(1.0)
    );
    // A bad address is refused at start with the variable's name.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_authlog"))
        .args(["serve"])
        .env("AUTHLOG_DATA", tempfile::tempdir().unwrap().path())
        .env("AUTHLOG_LISTEN", "127.0.0.1:0")
        .env("AUTHLOG_METRICS_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("AUTHLOG_METRICS_LISTEN"));
}

#[test]
fn json_logs_are_one_object_a_line_with_request_id_route_status_latency_and_client() {
    let s = Server::start_with(&[("AUTHLOG_LOG_FORMAT", "json")]);
    let admin = s.admin_token(None);
    let created = s.create_client(
        &admin,
        serde_json::json!({"client_id": "svc", "client_name": "Service", "grant_types": ["client_credentials"], "scope": "read"}),
    );
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let ok = s.token_basic("svc", &secret, None);
    let request_id = ok.headers()["x-request-id"].to_str().unwrap().to_owned();
    let token: serde_json::Value = ok.json().unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    // A secret in the query string must not reach the log either.
    s.get(&format!("/oauth/userinfo?access_token={token}"))
        .send()
        .unwrap();
    let log_path = s.data.with_extension("stderr.log");
    let _dir = s.stop();
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "ready"), "{text}");
    let access = lines
        .iter()
        .find(|l| l["target"] == "authlog::access" && l["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no access line for {request_id} in\n{text}"));
    assert_eq!(access["route"], "/oauth/token");
    assert_eq!(access["method"], "POST");
    assert_eq!(access["status"], 200);
    assert_eq!(access["client_id"], "svc");
    assert!(access["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(access["timestamp"].is_string() && access["level"] == "INFO");
    for secret in [
        secret.as_str(),
        token.as_str(),
        super::harness::ADMIN_SECRET,
    ] {
        assert!(!text.contains(secret), "a secret in the log:\n{text}");
    }

    // An unknown format is refused at start, naming the variable.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_authlog"))
        .args(["serve"])
        .env("AUTHLOG_DATA", tempfile::tempdir().unwrap().path())
        .env("AUTHLOG_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("AUTHLOG_LOG_FORMAT"));
}
