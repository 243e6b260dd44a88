//! Projections are rebuilt by replay: after a scenario, a restart answers
//! every admin read exactly as before.

use serde_json::{json, Value};

use crate::harness::Server;

/// Every admin read, in one value.
fn snapshot(s: &Server) -> Value {
    let admin = s.admin_token(Some("clients:read"));
    let list: Value = s
        .get("/api/admin/oauth-clients?limit=500")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut clients = Vec::new();
    for c in list["items"].as_array().unwrap() {
        let id = c["client_id"].as_str().unwrap();
        let r = s
            .get(&format!("/api/admin/oauth-clients/{id}"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let mut detail: Value = r.json().unwrap();
        let mut tokens: Value = s
            .get(&format!("/api/admin/oauth-clients/{id}/tokens?limit=500"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if id == "authlog-admin" {
            // The snapshot's own read token is the one difference.
            detail["active_token_count"] = json!("ignored");
            tokens = json!("ignored");
        }
        clients.push(json!({"detail": detail, "etag": etag, "tokens": tokens}));
    }
    let mut list = list;
    for c in list["items"].as_array_mut().unwrap() {
        if c["client_id"] == "authlog-admin" {
            c["active_token_count"] = json!("ignored");
        }
    }
    let users_token = s.admin_token(Some("users:read"));
    let users: Value = s
        .get("/api/admin/users")
        .bearer_auth(&users_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut sessions: Value = s
        .get("/api/admin/sessions")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    sessions["items"]
        .as_array_mut()
        .unwrap()
        .retain(|g| g["client_id"] != "authlog-admin");
    json!({ "list": list, "clients": clients, "users": users, "sessions": sessions })
}

#[test]
fn a_restart_answers_every_admin_read_as_before() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (a, a_secret) = s.service_client(&admin, "a", "read write");
    let (b, b_secret) = s.service_client(&admin, "b", "read");
    s.create_client(
        &admin,
        json!({"client_id": "app", "client_name": "App", "redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "none", "team_restrictions": ["red"]}),
    );
    for _ in 0..3 {
        s.token_basic(&a, &a_secret, Some("read"));
    }
    let b_token: Value = s.token_basic(&b, &b_secret, None).json().unwrap();
    s.post("/oauth/revoke")
        .basic_auth(&b, Some(&b_secret))
        .form(&[("token", b_token["access_token"].as_str().unwrap())])
        .send()
        .unwrap();
    s.patch("/api/admin/oauth-clients/a")
        .bearer_auth(&admin)
        .json(&json!({"description": "edited", "access_token_ttl_seconds": 600}))
        .send()
        .unwrap();
    s.post("/api/admin/oauth-clients/a/rotate-secret")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    s.post("/api/admin/oauth-clients/b/pause")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    s.post("/api/admin/oauth-clients/b/resume")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    s.service_client(&admin, "gone", "x");
    s.delete("/api/admin/oauth-clients/gone")
        .bearer_auth(&admin)
        .send()
        .unwrap();

    let users_token = s.admin_token(Some("users:write"));
    let r = s
        .post("/api/admin/users")
        .bearer_auth(&users_token)
        .json(&json!({"username": "bob", "password": "bob-password-1", "teams": ["red"], "roles": ["auditor"]}))
        .send()
        .unwrap();
    let bob = r.json::<Value>().unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.patch(&format!("/api/admin/users/{bob}"))
        .bearer_auth(&users_token)
        .json(&json!({"display_name": "Bob B."}))
        .send()
        .unwrap();

    let before = snapshot(&s);
    let s = s.restart();
    let after = snapshot(&s);
    assert_eq!(before, after);
    assert_eq!(after["users"]["items"].as_array().unwrap().len(), 2);
    // a, b, app and the three default clients.
    assert_eq!(after["clients"].as_array().unwrap().len(), 6);
}
