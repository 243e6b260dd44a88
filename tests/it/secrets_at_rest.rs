//! No raw secret or token ever reaches the database file or the logs: the
//! log holds HMAC digests only.

use serde_json::{json, Value};

use crate::harness::{Server, ADMIN_SECRET};

#[test]
fn no_raw_secret_or_token_appears_in_the_database_or_the_logs() {
    let s = Server::start_with(&[("AUTHLOG_LOG", "debug")]);
    let admin = s.admin_token(None);
    let mut secrets = vec![ADMIN_SECRET.to_owned(), admin.clone()];
    let (id, secret) = s.service_client(&admin, "svc", "read");
    secrets.push(secret.clone());
    let token: Value = s.token_basic(&id, &secret, None).json().unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    secrets.push(token.clone());
    s.introspect(&id, &secret, &token);
    let rotated: Value = s
        .post("/api/admin/oauth-clients/svc/rotate-secret")
        .bearer_auth(&admin)
        .json(&json!({"previous_secret_valid_for_seconds": 0}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    secrets.push(new_secret.clone());
    let t2: Value = s.token_basic(&id, &new_secret, None).json().unwrap();
    secrets.push(t2["access_token"].as_str().unwrap().to_owned());
    s.post("/oauth/revoke")
        .basic_auth(&id, Some(&new_secret))
        .form(&[("token", token.as_str())])
        .send()
        .unwrap();
    // A failed attempt with a wrong secret must not log what was tried either.
    s.token_basic(&id, "alcs_tried-and-wrong-secret", None);
    secrets.push("alcs_tried-and-wrong-secret".to_owned());

    let data = s.data.clone();
    let logs_path = data.with_extension("stderr.log");
    let _dir = s.stop();
    let db = std::fs::read(data.join("authlog.redb")).unwrap();
    let records = std::fs::read(data.join("authlog.log")).unwrap();
    let logs = std::fs::read(&logs_path).unwrap();
    assert!(logs.len() > 1000, "debug logs were captured");
    for secret in &secrets {
        let needle = secret.as_bytes();
        // The random part alone, too, in case a prefix was stripped somewhere.
        let body = &needle[needle.len() / 2..];
        for (name, haystack) in [("index", &db), ("record file", &records), ("logs", &logs)] {
            assert!(
                !haystack.windows(body.len()).any(|w| w == body),
                "{name} contains a raw secret"
            );
        }
    }
}
