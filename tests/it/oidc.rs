//! OpenID Connect (issue 18): signing keys as events, the JWKS, rotation
//! (a key is published before it signs; a retired key stays published
//! until its tokens have expired), and the scheduled rotation.

use serde_json::Value;

use crate::harness::Server;

fn jwks_kids(s: &Server) -> Vec<String> {
    let r = s.get("/oauth/jwks").send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/jwk-set+json");
    let body: Value = r.json().unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["kty"], "EC");
            assert_eq!(k["crv"], "P-256");
            assert_eq!(k["alg"], "ES256");
            assert_eq!(k["use"], "sig");
            assert!(k.get("d").is_none(), "no private part: {k}");
            k["kid"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// (active, next, every kid) from the admin API.
fn key_states(s: &Server, admin: &str) -> (String, String, Vec<(String, String)>) {
    let body: Value = s
        .get("/api/admin/keys")
        .bearer_auth(admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let all: Vec<(String, String)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert!(k.get("sealed_private_key").is_none());
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let find = |state: &str| {
        all.iter()
            .find(|(_, s)| s == state)
            .unwrap_or_else(|| panic!("no {state} key: {all:?}"))
            .0
            .clone()
    };
    (find("active"), find("next"), all)
}

#[test]
fn keys_are_published_a_rotation_before_they_sign_and_until_their_tokens_expire() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (active, next, all) = key_states(&s, &admin);
    assert_eq!(all.len(), 2);
    assert_eq!(jwks_kids(&s), vec![active.clone(), next.clone()]);

    // Rotating needs clients:write.
    let read_only = s.admin_token(Some("clients:read"));
    let refused = s
        .post("/api/admin/keys/rotate")
        .bearer_auth(&read_only)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(key_states(&s, &admin).0, active, "nothing rotated");

    let rotated: Value = s
        .post("/api/admin/keys/rotate")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    // The key that signs now is the one already published.
    assert_eq!(rotated["active"], next.as_str());
    assert_eq!(rotated["retired"], active.as_str());
    let newest = rotated["next"].as_str().unwrap().to_owned();
    assert_eq!(key_states(&s, &admin).0, next);
    assert_eq!(
        jwks_kids(&s),
        vec![active.clone(), next.clone(), newest.clone()]
    );

    // The retired key leaves the JWKS once every token it signed has
    // expired (a day, plus skew), not before.
    let s = s.restart_with(&[("AUTHLOG_CLOCK_SKEW_SECONDS", "86000")]);
    assert!(jwks_kids(&s).contains(&active));
    let s = s.restart_with(&[("AUTHLOG_CLOCK_SKEW_SECONDS", "86800")]);
    assert_eq!(jwks_kids(&s), vec![next, newest]);
}

#[test]
fn a_key_older_than_the_rotation_period_is_rotated_on_schedule() {
    let s = Server::start_with(&[("AUTHLOG_SIGNING_KEY_ROTATION_DAYS", "30")]);
    let admin = s.admin_token(None);
    let (active, next, _) = key_states(&s, &admin);
    let s = s.restart_with(&[
        ("AUTHLOG_SIGNING_KEY_ROTATION_DAYS", "30"),
        ("AUTHLOG_CLOCK_SKEW_SECONDS", &(31 * 86_400).to_string()),
    ]);
    let admin = s.admin_token(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while key_states(&s, &admin).0 == active {
        assert!(std::time::Instant::now() < deadline, "not rotated");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (now_active, _, all) = key_states(&s, &admin);
    assert_eq!(now_active, next);
    assert_eq!(all.len(), 3);
    // Rotation is an event an auditor sees.
    let audit: Value = s
        .get("/api/audit/events?type=SigningKeyActivated")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        audit["items"][0]["summary"]["kid"],
        next.as_str(),
        "{audit}"
    );
    assert_eq!(audit["items"][0]["actor"]["principal"], "system");
}
