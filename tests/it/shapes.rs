//! The JSON shapes users' scripts depend on, snapshotted with insta into
//! the top-level `snapshots/` (values that change per run are redacted).

use serde_json::{json, Value};

use crate::harness::Server;

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.set_sort_maps(true);
    s
}

fn redact(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    match k.as_str() {
                        "created_at"
                        | "updated_at"
                        | "previous_secret_expires_at"
                        | "issued_at"
                        | "expires_at"
                        | "client_secret"
                        | "access_token"
                        | "jti"
                        | "token_id"
                        | "exp"
                        | "iat"
                        | "next_cursor"
                        | "last_used_at"
                            if !val.is_null() =>
                        {
                            *val = json!("[redacted]")
                        }
                        _ => walk(val),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

#[test]
fn json_shapes_of_the_admin_and_oauth_apis() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let created = s.create_client(
        &admin,
        json!({
            "client_id": "shape",
            "client_name": "Shape",
            "description": "all fields",
            "redirect_uris": ["https://app.example.com/cb"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scope": "read write",
            "allowed_cors_origins": ["https://app.example.com"],
            "team_restrictions": ["red"],
            "team_selection": "multiple",
            "refresh_token_enabled": true,
            "refresh_token_ttl_seconds": 2_592_000,
        }),
    );
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let token_response: Value = s
        .token_basic("shape", &secret, Some("read"))
        .json()
        .unwrap();
    let introspection = s.introspect(
        "shape",
        &secret,
        token_response["access_token"].as_str().unwrap(),
    );
    let list: Value = s
        .get("/api/admin/oauth-clients?limit=1")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let problem: Value = s
        .post("/api/admin/oauth-clients")
        .bearer_auth(&admin)
        .json(&json!({"client_name": "x", "redirect_uris": ["http://evil.example.com/cb"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let oauth_error: Value = s.token_basic("shape", "wrong", None).json().unwrap();
    let metadata: Value = s
        .get("/.well-known/oauth-authorization-server")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let tokens: Value = s
        .get("/api/admin/oauth-clients/shape/tokens")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();

    settings().bind(|| {
        insta::assert_json_snapshot!("api_client_created", redact(created));
        insta::assert_json_snapshot!("api_client_list", redact(list));
        insta::assert_json_snapshot!("api_client_tokens", redact(tokens));
        insta::assert_json_snapshot!("api_problem_validation", problem);
        insta::assert_json_snapshot!("oauth_token_response", redact(token_response));
        insta::assert_json_snapshot!("oauth_introspection_active", redact(introspection));
        insta::assert_json_snapshot!("oauth_error_invalid_client", oauth_error);
        insta::assert_json_snapshot!("oauth_server_metadata", metadata);
    });
}
