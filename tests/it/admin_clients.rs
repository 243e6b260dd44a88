//! The admin client API: create, read, edit with `If-Match`, validation,
//! warnings, list filters and pagination, export, delete and bulk delete,
//! and the scopes each endpoint needs.

use serde_json::{json, Value};

use crate::harness::Server;

fn problem(r: reqwest::blocking::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    r.json().unwrap()
}

#[test]
fn create_shows_the_secret_once_and_read_never_does() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let created = s.create_client(&admin, json!({"client_id": "svc", "client_name": "Service", "grant_types": ["client_credentials"], "scope": "a b"}));
    assert!(created["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("alcs_"));
    assert_eq!(created["registration_type"], "preregistered");
    assert_eq!(created["status"], "active");
    assert_eq!(created["active_token_count"], 0);
    let read = s
        .get("/api/admin/oauth-clients/svc")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(read.headers()["etag"], "\"1\"");
    let read: Value = read.json().unwrap();
    assert!(read.get("client_secret").is_none());
    assert_eq!(read["scope"], "a b");
}

#[test]
fn public_clients_get_no_secret() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let created = s.create_client(
        &admin,
        json!({"client_name": "App", "redirect_uris": ["http://127.0.0.1:9999/cb"], "token_endpoint_auth_method": "none"}),
    );
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["grant_types"], json!(["authorization_code"]));
    assert_eq!(created["response_types"], json!(["code"]));
    // A generated id.
    assert_eq!(created["client_id"].as_str().unwrap().len(), 36);
}

#[test]
fn each_validation_rule_is_a_422_naming_the_field_and_appends_nothing() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let cases = [
        (
            json!({"grant_types": ["client_credentials"]}),
            "client_name",
        ),
        (
            json!({"client_name": "x", "redirect_uris": ["http://app.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_name": "x", "redirect_uris": ["https://*.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_name": "x", "redirect_uris": ["https://app.example.com/cb#frag"]}),
            "redirect_uris",
        ),
        (
            json!({"client_name": "x", "redirect_uris": ["/relative"]}),
            "redirect_uris",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "allowed_cors_origins": ["https://a.example.com/"]}),
            "allowed_cors_origins",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "allowed_cors_origins": ["https://a.example.com/path"]}),
            "allowed_cors_origins",
        ),
        (
            json!({"client_name": "x", "grant_types": ["authorization_code"]}),
            "redirect_uris",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "grant_types",
        ),
        (
            json!({"client_name": "x", "grant_types": ["password"]}),
            "grant_types",
        ),
        (
            json!({"client_name": "x", "grant_types": ["implicit"]}),
            "grant_types",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials", "refresh_token"]}),
            "grant_types",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}),
            "token_endpoint_auth_method",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "access_preset": "admin"}),
            "access_preset",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "access_token_ttl_seconds": 5}),
            "access_token_ttl_seconds",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "scope": "a  b"}),
            "scope",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "access_preset": "full", "access_token_ttl_seconds": 7200}),
            "confirm_high_risk",
        ),
        (
            json!({"client_name": "x", "client_id": "../etc/passwd"}),
            "client_id",
        ),
        (
            json!({"client_name": "x", "unknown_field": 1}),
            "unknown_field",
        ),
        (json!({"client_name": 5}), "client_name"),
        (
            json!({"client_name": "x", "redirect_uris": "https://a.example.com/cb"}),
            "redirect_uris",
        ),
    ];
    let head = s.head();
    for (body, field) in cases {
        let r = s
            .post("/api/admin/oauth-clients")
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .unwrap();
        let p = problem(r, 422);
        assert_eq!(p["field"], field, "{body} -> {p}");
        assert_eq!(p["type"], "urn:authlog:problem:validation");
    }
    assert_eq!(s.head(), head, "no rejected request appended anything");
}

#[test]
fn refresh_lifetime_warnings_grow_with_the_lifetime() {
    let s = Server::start();
    let admin = s.admin_token(None);
    for (days, level) in [(7, "info"), (60, "warning"), (120, "high")] {
        let body = s.create_client(
            &admin,
            json!({
                "client_name": "app",
                "redirect_uris": ["https://app.example.com/cb"],
                "grant_types": ["authorization_code", "refresh_token"],
                "refresh_token_enabled": true,
                "refresh_token_ttl_seconds": days * 86_400,
            }),
        );
        let warnings = body["warnings"].as_array().unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w["field"] == "refresh_token_ttl_seconds" && w["level"] == level),
            "{days} days: {warnings:?}"
        );
    }
}

#[test]
fn full_access_with_long_tokens_needs_a_recorded_confirmation() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let body = json!({"client_id": "risky", "client_name": "risky", "grant_types": ["client_credentials"], "access_preset": "full", "access_token_ttl_seconds": 7200});
    let r = s
        .post("/api/admin/oauth-clients")
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(problem(r, 422)["field"], "confirm_high_risk");
    let mut confirmed = body.clone();
    confirmed["confirm_high_risk"] = json!(true);
    let created = s.create_client(&admin, confirmed);
    assert_eq!(created["confirm_high_risk"], true);
    assert!(created["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["level"] == "high"));
    // An edit into high risk needs it too.
    s.create_client(
        &admin,
        json!({"client_id": "calm", "client_name": "calm", "grant_types": ["client_credentials"]}),
    );
    let r = s
        .patch("/api/admin/oauth-clients/calm")
        .bearer_auth(&admin)
        .json(&json!({"access_preset": "full", "access_token_ttl_seconds": 7200}))
        .send()
        .unwrap();
    assert_eq!(problem(r, 422)["field"], "confirm_high_risk");
}

#[test]
fn edits_honour_if_match_and_keep_client_id_immutable() {
    let s = Server::start();
    let admin = s.admin_token(None);
    s.service_client(&admin, "svc", "a");
    let r = s
        .patch("/api/admin/oauth-clients/svc")
        .bearer_auth(&admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"client_name": "renamed", "description": "hello"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let body: Value = r.json().unwrap();
    assert_eq!(body["client_name"], "renamed");
    assert_eq!(body["description"], "hello");

    let head = s.head();
    let stale = s
        .patch("/api/admin/oauth-clients/svc")
        .bearer_auth(&admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"client_name": "lost update"}))
        .send()
        .unwrap();
    assert_eq!(
        problem(stale, 412)["type"],
        "urn:authlog:problem:precondition-failed"
    );
    assert_eq!(s.head(), head);

    let r = s
        .patch("/api/admin/oauth-clients/svc")
        .bearer_auth(&admin)
        .json(&json!({"client_id": "other"}))
        .send()
        .unwrap();
    assert_eq!(problem(r, 422)["field"], "client_id");

    // null clears an optional field.
    let r = s
        .patch("/api/admin/oauth-clients/svc")
        .bearer_auth(&admin)
        .json(&json!({"description": null}))
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["description"], Value::Null);

    let r = s
        .patch("/api/admin/oauth-clients/missing")
        .bearer_auth(&admin)
        .json(&json!({"client_name": "x"}))
        .send()
        .unwrap();
    problem(r, 404);
}

#[test]
fn list_filters_combine_and_pages_never_skip_or_repeat() {
    let s = Server::start();
    let admin = s.admin_token(None);
    for i in 0..7 {
        s.create_client(
            &admin,
            json!({
                "client_id": format!("c{i}"),
                "client_name": if i % 2 == 0 { format!("Even {i}") } else { format!("Odd {i}") },
                "grant_types": ["client_credentials"],
                "scope": if i < 3 { "read" } else { "write" },
                "team_restrictions": if i == 4 { json!(["red"]) } else { json!([]) },
            }),
        );
    }
    s.post("/api/admin/oauth-clients/c6/pause")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    let ids = |query: &str| -> Vec<String> {
        let body: Value = s
            .get(&format!("/api/admin/oauth-clients?{query}"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("q=even"), vec!["c0", "c2", "c4", "c6"]);
    assert_eq!(ids("q=even&scope=read"), vec!["c0", "c2"]);
    assert_eq!(ids("team=red"), vec!["c4"]);
    assert_eq!(ids("status=paused"), vec!["c6"]);
    assert_eq!(
        ids("registration_type=default"),
        vec!["authlog-admin", "authlog-cli", "authlog-console"]
    );
    assert_eq!(
        ids("grant_type=urn:ietf:params:oauth:grant-type:device_code"),
        vec!["authlog-cli"]
    );
    assert_eq!(
        ids("grant_type=authorization_code&registration_type=default"),
        vec!["authlog-console"]
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/admin/oauth-clients?limit=3&cursor={c}"),
            None => "/api/admin/oauth-clients?limit=3".to_owned(),
        };
        let body: Value = s
            .get(&q)
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        for c in body["items"].as_array().unwrap() {
            seen.push(c["client_id"].as_str().unwrap().to_owned());
            assert!(c["active_token_count"].is_u64());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![
            "authlog-admin",
            "authlog-cli",
            "authlog-console",
            "c0",
            "c1",
            "c2",
            "c3",
            "c4",
            "c5",
            "c6"
        ]
    );

    for bad in [
        "limit=0",
        "limit=100000",
        "limit=x",
        "cursor=%%%",
        "status=gone",
        "registration_type=x",
        "grant_type=password",
    ] {
        let r = s
            .get(&format!("/api/admin/oauth-clients?{bad}"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert!(
            r.status() == 422 || r.status() == 400,
            "{bad}: {}",
            r.status()
        );
    }
}

#[test]
fn export_downloads_the_filtered_list_as_csv_or_json() {
    let s = Server::start();
    let admin = s.admin_token(None);
    s.service_client(&admin, "svc-1", "read");
    s.create_client(&admin, json!({"client_id": "formula", "client_name": "=cmd|' /C calc'!A0", "grant_types": ["client_credentials"], "scope": "read"}));
    let csv = s
        .get("/api/admin/oauth-clients/export?format=csv&scope=read")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("oauth-clients.csv"));
    let text = csv.text().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("client_id,client_name,status"));
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines.iter().any(|l| l.starts_with("formula,'=cmd")),
        "formula cells are neutralised: {text}"
    );
    let json: Value = s
        .get("/api/admin/oauth-clients/export?format=json&q=svc")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    let r = s
        .get("/api/admin/oauth-clients/export?format=xml")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(problem(r, 422)["field"], "format");
}

#[test]
fn the_admin_api_needs_a_valid_token_with_the_right_scope() {
    let s = Server::start();
    let none = s.get("/api/admin/oauth-clients").send().unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let bad = s
        .get("/api/admin/oauth-clients")
        .bearer_auth("alat_nope")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    let reader = s.admin_token(Some("clients:read"));
    assert_eq!(
        s.get("/api/admin/oauth-clients")
            .bearer_auth(&reader)
            .send()
            .unwrap()
            .status(),
        200
    );
    let head = s.head();
    let write = s
        .post("/api/admin/oauth-clients")
        .bearer_auth(&reader)
        .json(&json!({"client_name": "x", "grant_types": ["client_credentials"]}))
        .send()
        .unwrap();
    assert_eq!(write.status(), 403);
    assert!(write.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    assert_eq!(
        problem(write, 403)["type"],
        "urn:authlog:problem:insufficient-scope"
    );
    let revoke = s
        .post("/api/admin/oauth-clients/authlog-admin/tokens/revoke-all")
        .bearer_auth(&reader)
        .send()
        .unwrap();
    assert_eq!(revoke.status(), 403);
    assert_eq!(s.head(), head);

    let writer = s.admin_token(Some("clients:write"));
    assert_eq!(
        s.get("/api/admin/oauth-clients")
            .bearer_auth(&writer)
            .send()
            .unwrap()
            .status(),
        403
    );
}

#[test]
fn bulk_delete_is_all_or_nothing() {
    let s = Server::start();
    let admin = s.admin_token(None);
    for id in ["a", "b", "c"] {
        s.service_client(&admin, id, "x");
    }
    let head = s.head();
    let r = s
        .post("/api/admin/oauth-clients/bulk-delete")
        .bearer_auth(&admin)
        .json(&json!({"client_ids": ["a", "missing", "b"]}))
        .send()
        .unwrap();
    let p = problem(r, 404);
    assert!(p["detail"].as_str().unwrap().contains("missing"), "{p}");
    assert_eq!(s.head(), head);
    for id in ["a", "b", "c"] {
        assert_eq!(
            s.get(&format!("/api/admin/oauth-clients/{id}"))
                .bearer_auth(&admin)
                .send()
                .unwrap()
                .status(),
            200
        );
    }
    let r = s
        .post("/api/admin/oauth-clients/bulk-delete")
        .bearer_auth(&admin)
        .json(&json!({"client_ids": ["a", "b"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["deleted"], 2);
    let r = s
        .post("/api/admin/oauth-clients/bulk-delete")
        .bearer_auth(&admin)
        .json(&json!({"client_ids": ["c", "a"]}))
        .send()
        .unwrap();
    let p = problem(r, 409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("a is already deleted"),
        "{p}"
    );
    assert_eq!(
        s.get("/api/admin/oauth-clients/c")
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .status(),
        200
    );

    for body in [
        json!({"client_ids": []}),
        json!({"client_ids": ["c", "c"]}),
        json!({"ids": ["c"]}),
    ] {
        let r = s
            .post("/api/admin/oauth-clients/bulk-delete")
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 422, "{body}");
    }
    let too_many: Vec<String> = (0..501).map(|i| format!("x{i}")).collect();
    let r = s
        .post("/api/admin/oauth-clients/bulk-delete")
        .bearer_auth(&admin)
        .json(&json!({"client_ids": too_many}))
        .send()
        .unwrap();
    assert_eq!(problem(r, 422)["field"], "client_ids");
}

#[test]
fn delete_cascades_to_tokens_and_the_id_is_never_reused() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "doomed", "x");
    let token = s.token_basic(&id, &secret, None).json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.introspect(&id, &secret, &token)["active"], true);
    let r = s
        .delete("/api/admin/oauth-clients/doomed")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        s.get("/api/admin/oauth-clients/doomed")
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .status(),
        404
    );
    // The deleted client cannot authenticate, and its token is dead for any introspector.
    let rs = s.create_client(
        &admin,
        json!({"client_id": "rs", "client_name": "resource server", "grant_types": ["client_credentials"], "introspection_allowed": true}),
    );
    let rs_secret = rs["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        s.introspect("rs", &rs_secret, &token),
        json!({"active": false})
    );
    assert_eq!(s.token_basic(&id, &secret, None).status(), 401);
    let again = s
        .post("/api/admin/oauth-clients")
        .bearer_auth(&admin)
        .json(&json!({"client_id": "doomed", "client_name": "again", "grant_types": ["client_credentials"]}))
        .send()
        .unwrap();
    problem(again, 409);
    problem(
        s.delete("/api/admin/oauth-clients/doomed")
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        409,
    );
}

#[test]
fn tokens_of_a_client_are_listed_and_revoked_by_an_admin() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "svc", "a b");
    let t1 = s
        .token_basic(&id, &secret, Some("a"))
        .json::<Value>()
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t2 = s.token_basic(&id, &secret, None).json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let list: Value = s
        .get("/api/admin/oauth-clients/svc/tokens")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["scope"], "a");
    assert_eq!(items[0]["kind"], "access");
    assert!(items[0].get("digest").is_none() && !list.to_string().contains(&t1));
    let client: Value = s
        .get("/api/admin/oauth-clients/svc")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(client["active_token_count"], 2);

    let first_id = items[0]["token_id"].as_str().unwrap();
    assert_eq!(
        s.delete(&format!("/api/admin/tokens/{first_id}"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .status(),
        204
    );
    assert_eq!(s.introspect(&id, &secret, &t1)["active"], false);
    assert_eq!(s.introspect(&id, &secret, &t2)["active"], true);
    problem(
        s.delete("/api/admin/tokens/not-a-uuid")
            .bearer_auth(&admin)
            .send()
            .unwrap(),
        404,
    );
    problem(
        s.delete(&format!(
            "/api/admin/tokens/{}",
            authlog::entropy::Entropy::id(&authlog::entropy::SystemEntropy)
        ))
        .bearer_auth(&admin)
        .send()
        .unwrap(),
        404,
    );

    s.token_basic(&id, &secret, None);
    let r: Value = s
        .post("/api/admin/oauth-clients/svc/tokens/revoke-all")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["revoked"], 2);
    assert_eq!(s.introspect(&id, &secret, &t2)["active"], false);
    let client: Value = s
        .get("/api/admin/oauth-clients/svc")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(client["active_token_count"], 0);
}
