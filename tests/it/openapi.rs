//! `GET /openapi.json` against the routes the server really has: every
//! admin, audit, self-service and registration route the handlers declare
//! is in the document and the reverse, and each documented operation is
//! answered by a handler (not the unknown-path fallback).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::Server;

/// The documented families of routes.
fn documented_family(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/oauth/register")
}

/// `(method, path)` of every actix route attribute in `src/http`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().map(str::trim) {
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) else {
                    continue;
                };
                let route = rest.split('"').next().unwrap().to_owned();
                if documented_family(&route) {
                    routes.insert((method.to_owned(), route));
                }
            }
        }
    }
    routes
}

fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

#[test]
fn the_document_lists_exactly_the_routes_the_server_has() {
    let s = Server::start();
    let r = s.get("/openapi.json").send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = r.json().unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let declared = declared_routes();
    assert!(declared.len() > 30, "{declared:?}");
    let documented = documented_routes(&doc);
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&declared).collect();
    assert!(
        unserved.is_empty(),
        "documented but not declared: {unserved:?}"
    );

    // Each operation reaches a handler: without a token it is refused as
    // unauthenticated, where an unknown path would get 404.
    for (method, path) in &documented {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = s
            .request(method.clone(), &concrete)
            .header("Content-Type", "application/json")
            .body("{}")
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let open_registration = path == "/oauth/register";
        assert!(
            status == 401 || (open_registration && status < 500 && status != 404),
            "{method} {concrete}: {status}"
        );
    }

    // Operation ids are unique, every operation says what it answers and
    // how it fails, and every schema it names exists.
    let mut ids = BTreeSet::new();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "missing schema {name}");
    }
    for item in doc["paths"].as_object().unwrap().values() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "{op}"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method}: {op}"
            );
            assert!(responses.contains_key("default"), "{method}: {op}");
        }
    }
}

#[test]
fn documented_bodies_match_what_the_server_answers() {
    let s = Server::start();
    let doc: Value = s.get("/openapi.json").send().unwrap().json().unwrap();
    let schemas = &doc["components"]["schemas"];
    let admin = s.admin_token(None);
    let created = s.create_client(
        &admin,
        serde_json::json!({"client_name": "documented", "grant_types": ["client_credentials"]}),
    );
    // Every required member of the documented view is in the answer, and
    // no member of the answer is undocumented.
    let view = &schemas["ClientView"];
    let required: BTreeSet<&str> = view["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let properties: BTreeSet<&str> = view["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let id = created["client_id"].as_str().unwrap();
    let read: Value = s
        .get(&format!("/api/admin/oauth-clients/{id}"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let answered: BTreeSet<&str> = read
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        required.is_subset(&answered),
        "{required:?} vs {answered:?}"
    );
    assert_eq!(answered, properties);
    // A problem document has the documented members.
    let r = s
        .get("/api/admin/oauth-clients/nope")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().unwrap();
    for member in schemas["Problem"]["required"].as_array().unwrap() {
        assert!(problem.get(member.as_str().unwrap()).is_some(), "{problem}");
    }
}
