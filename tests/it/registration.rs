//! Registration for AI assistants and tools: RFC 7591/7592 dynamic
//! registration with its policy and rate limit, Client ID Metadata
//! Documents with SSRF protection and caching, and what an MCP client does
//! end to end.

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::doc_server::DocServer;
use crate::harness::Server;

const ALICE_PASSWORD: &str = "alice-password-123";

fn register(s: &Server, body: Value) -> reqwest::blocking::Response {
    s.post("/oauth/register").json(&body).send().unwrap()
}

fn rfc7591_error(r: reqwest::blocking::Response, status: u16, code: &str) {
    assert_eq!(r.status(), status);
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"], code, "{body}");
}

#[test]
fn dynamic_registration_defaults_to_a_public_client_managed_with_its_access_token() {
    let s = Server::start();
    let r = register(
        &s,
        json!({"client_name": "Desktop assistant", "redirect_uris": ["http://127.0.0.1:33418/callback"], "x-unknown": 1}),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let reg: Value = r.json().unwrap();
    let id = reg["client_id"].as_str().unwrap();
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    assert_eq!(
        reg["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert!(reg["client_id_issued_at"].is_i64());
    assert!(reg.get("client_secret").is_none());
    let rat = reg["registration_access_token"].as_str().unwrap();
    assert!(rat.starts_with("alra_"));
    let uri = reg["registration_client_uri"].as_str().unwrap();
    assert_eq!(uri, format!("http://127.0.0.1:8080/oauth/register/{id}"));
    let path = format!("/oauth/register/{id}");

    let read: Value = s
        .get(&path)
        .bearer_auth(rat)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(read["client_name"], "Desktop assistant");
    assert!(read.get("registration_access_token").is_none());
    assert_eq!(
        s.get(&path)
            .bearer_auth("alra_wrong")
            .send()
            .unwrap()
            .status(),
        401
    );

    let admin = s.admin_token(None);
    let listed: Value = s
        .get(&format!("/api/admin/oauth-clients/{id}"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["registration_type"], "dynamic");
    assert_eq!(listed["refresh_token_enabled"], true);

    let updated = s
        .put(&path)
        .bearer_auth(rat)
        .json(&json!({"client_id": id, "client_name": "Renamed", "redirect_uris": ["http://127.0.0.1:1/cb"]}))
        .send()
        .unwrap();
    assert_eq!(updated.status(), 200);
    assert_eq!(updated.json::<Value>().unwrap()["client_name"], "Renamed");
    let wrong_id = s
        .put(&path)
        .bearer_auth(rat)
        .json(&json!({"client_id": "other", "redirect_uris": ["http://127.0.0.1/cb"]}))
        .send()
        .unwrap();
    rfc7591_error(wrong_id, 400, "invalid_client_metadata");

    assert_eq!(
        s.delete(&path).bearer_auth(rat).send().unwrap().status(),
        204
    );
    assert_eq!(s.get(&path).bearer_auth(rat).send().unwrap().status(), 401);
    assert_eq!(
        s.get(&format!("/api/admin/oauth-clients/{id}"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn a_confidential_dynamic_client_gets_its_secret_once_and_can_use_it() {
    let s = Server::start();
    let reg: Value = register(
        &s,
        json!({"client_name": "worker", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic", "scope": "jobs:run"}),
    )
    .json()
    .unwrap();
    let secret = reg["client_secret"].as_str().unwrap();
    assert_eq!(reg["client_secret_expires_at"], 0);
    let token = s.token_basic(reg["client_id"].as_str().unwrap(), secret, None);
    assert_eq!(token.status(), 200);
    assert_eq!(token.json::<Value>().unwrap()["scope"], "jobs:run");
}

#[test]
fn registration_errors_follow_rfc_7591_and_append_nothing() {
    let s = Server::start();
    let head = s.head();
    rfc7591_error(
        register(&s, json!({"redirect_uris": ["http://evil.example.com/cb"]})),
        400,
        "invalid_redirect_uri",
    );
    rfc7591_error(
        register(&s, json!({"redirect_uris": ["https://a.example.com/cb#x"]})),
        400,
        "invalid_redirect_uri",
    );
    rfc7591_error(
        register(
            &s,
            json!({"grant_types": ["password"], "redirect_uris": ["https://a.example.com/cb"]}),
        ),
        400,
        "invalid_client_metadata",
    );
    rfc7591_error(
        register(&s, json!({"grant_types": ["client_credentials"]})),
        400,
        "invalid_client_metadata",
    );
    rfc7591_error(
        register(&s, json!({"client_name": 5})),
        400,
        "invalid_client_metadata",
    );
    // authlog's own API scopes are for admin-registered clients only.
    rfc7591_error(
        register(
            &s,
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic", "scope": "users:write"}),
        ),
        400,
        "invalid_client_metadata",
    );
    rfc7591_error(
        register(
            &s,
            json!({"redirect_uris": ["https://a.example.com/cb"], "scope": "profile clients:read"}),
        ),
        400,
        "invalid_client_metadata",
    );
    let not_json = s
        .post("/oauth/register")
        .body("client_name=x")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .unwrap();
    rfc7591_error(not_json, 400, "invalid_client_metadata");
    assert_eq!(s.head(), head);
}

#[test]
fn the_eleventh_registration_in_a_minute_gets_429_and_appends_nothing() {
    let s = Server::start();
    for i in 0..10 {
        let r = register(
            &s,
            json!({"client_name": format!("c{i}"), "redirect_uris": ["http://127.0.0.1/cb"]}),
        );
        assert_eq!(r.status(), 201);
    }
    let head = s.head();
    let r = register(
        &s,
        json!({"client_name": "one too many", "redirect_uris": ["http://127.0.0.1/cb"]}),
    );
    assert_eq!(r.status(), 429);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(s.head(), head);
}

#[test]
fn registrations_from_many_addresses_share_one_budget() {
    let s = Server::start_with(&[("AUTHLOG_ANONYMOUS_WRITES_PER_MINUTE", "3")]);
    let from = |last: u8| {
        let http = reqwest::blocking::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, last]))
            .build()
            .unwrap();
        http.post(s.url("/oauth/register"))
            .json(&json!({"client_name": format!("from .{last}"), "redirect_uris": ["http://127.0.0.1/cb"]}))
            .send()
            .unwrap()
    };
    // Each address is well within its own limit (10 a minute) ...
    for last in 2..5 {
        assert_eq!(from(last).status(), 201);
    }
    // ... but together they have spent the server's.
    let head = s.head();
    let refused = from(5);
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    rfc7591_error(refused, 429, "too_many_requests");
    assert_eq!(s.head(), head, "a refusal appends nothing");
}

#[test]
fn registration_policy_can_require_an_initial_access_token_or_be_disabled() {
    let token = "initial-access-token-0123456789";
    let s = Server::start_with(&[
        ("AUTHLOG_REGISTRATION_POLICY", "initial_access_token"),
        ("AUTHLOG_REGISTRATION_INITIAL_ACCESS_TOKEN", token),
    ]);
    let body = json!({"redirect_uris": ["http://127.0.0.1/cb"]});
    assert_eq!(register(&s, body.clone()).status(), 401);
    assert_eq!(
        s.post("/oauth/register")
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap()
            .status(),
        201
    );
    let s = Server::start_with(&[("AUTHLOG_REGISTRATION_POLICY", "disabled")]);
    assert_eq!(register(&s, body).status(), 403);
}

#[test]
fn metadata_documents_on_internal_addresses_are_refused_by_default() {
    let docs = DocServer::start();
    docs.serve(
        "/client.json",
        &doc(&docs.url("/client.json"), "Doc app"),
        "max-age=600",
    );
    let s = Server::start();
    let browser = Browser::new(&s);
    for client_id in [
        docs.url("/client.json"),
        "https://127.0.0.1/client.json".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::1]/client.json".to_owned(),
        "https://10.0.0.1/client.json".to_owned(),
        "http://example.com/client.json".to_owned(),
    ] {
        let page = browser.get(&authorize_url(&client_id));
        assert_eq!(page.status, 400, "{client_id}: {}", page.body);
        assert!(page.location.is_none());
    }
    assert_eq!(
        docs.hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing was fetched"
    );
}

fn doc(client_id: &str, name: &str) -> String {
    json!({"client_id": client_id, "client_name": name, "redirect_uris": ["http://127.0.0.1:7777/cb"], "scope": "profile email"}).to_string()
}

fn authorize_url(client_id: &str) -> String {
    format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        crate::harness::enc(client_id),
        crate::harness::enc("http://127.0.0.1:7777/cb")
    )
}

fn doc_server_env(docs: &DocServer, dir: &tempfile::TempDir) -> Vec<(String, String)> {
    docs.env(dir.path())
}

#[test]
fn a_metadata_document_registers_the_client_once_and_is_cached() {
    let docs = DocServer::start();
    let id = docs.url("/clients/assistant.json");
    docs.serve(
        "/clients/assistant.json",
        &doc(&id, "Assistant"),
        "max-age=600",
    );
    let dir = tempfile::tempdir().unwrap();
    let env = doc_server_env(&docs, &dir);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = Server::start_with(&env);
    let browser = Browser::new(&s);
    let page = browser.get(&authorize_url(&id));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sign in"));
    browser.get(&authorize_url(&id));
    assert_eq!(
        docs.hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "cached"
    );
    let admin = s.admin_token(None);
    let client: Value = s
        .get(&format!(
            "/api/admin/oauth-clients/{}",
            crate::harness::enc(&id)
        ))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(client["registration_type"], "cimd");
    assert_eq!(client["client_name"], "Assistant");
    assert_eq!(client["token_endpoint_auth_method"], "none");

    // A changed document (seen after the cache expires, here after a restart) is an update.
    docs.serve(
        "/clients/assistant.json",
        &doc(&id, "Assistant v2"),
        "max-age=600",
    );
    let s = s.restart_with(&env);
    browser_get_ok(&s, &authorize_url(&id));
    let client: Value = s
        .get(&format!(
            "/api/admin/oauth-clients/{}",
            crate::harness::enc(&id)
        ))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(client["client_name"], "Assistant v2");
    assert_eq!(client["version"], 2);

    // Deleted by an admin: never usable again.
    s.delete(&format!(
        "/api/admin/oauth-clients/{}",
        crate::harness::enc(&id)
    ))
    .bearer_auth(&admin)
    .send()
    .unwrap();
    let page = Browser::new(&s).get(&authorize_url(&id));
    assert_eq!(page.status, 400);
}

fn browser_get_ok(s: &Server, path: &str) {
    let page = Browser::new(s).get(path);
    assert_eq!(page.status, 200, "{}", page.body);
}

#[test]
fn concurrent_first_uses_of_a_document_fetch_it_once() {
    let docs = DocServer::start();
    let id = docs.url("/slow.json");
    docs.serve("/slow.json", &doc(&id, "Slow"), "max-age=600");
    docs.delay(400);
    let dir = tempfile::tempdir().unwrap();
    let env = doc_server_env(&docs, &dir);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = Server::start_with(&env);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| browser_get_ok(&s, &authorize_url(&id)));
        }
    });
    assert_eq!(docs.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn an_mcp_client_discovers_registers_authorizes_with_resource_and_refreshes() {
    let docs = DocServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = doc_server_env(&docs, &dir);
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD", "admin-password-123"));
    let s = Server::start_with(&env);
    let admin = s.admin_token(Some("users:write"));
    s.post("/api/admin/users")
        .bearer_auth(&admin)
        .json(&json!({"username": "alice", "password": ALICE_PASSWORD}))
        .send()
        .unwrap();
    let rs = s.create_client(
        &s.admin_token(None),
        json!({"client_id": "mcp-server", "client_name": "MCP server", "grant_types": ["client_credentials"], "introspection_allowed": true}),
    );
    let rs_secret = rs["client_secret"].as_str().unwrap().to_owned();

    // Discovery.
    let discovered = s
        .get("/.well-known/oauth-authorization-server")
        .header("Origin", "https://claude.example")
        .send()
        .unwrap();
    assert_eq!(discovered.headers()["access-control-allow-origin"], "*");
    let meta: Value = discovered.json().unwrap();
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let registration_endpoint = meta["registration_endpoint"]
        .as_str()
        .unwrap()
        .replace("http://127.0.0.1:8080", "");

    // Both ways of becoming a client.
    let dcr: Value = s
        .post(&registration_endpoint)
        .json(&json!({"client_name": "Agent", "redirect_uris": ["http://127.0.0.1:7777/cb"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let cimd_id = docs.url("/agent.json");
    docs.serve(
        "/agent.json",
        &doc(&cimd_id, "Agent (document)"),
        "max-age=3600",
    );

    for client_id in [dcr["client_id"].as_str().unwrap().to_owned(), cimd_id] {
        let resource = "https://mcp.example.com/mcp";
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let url = format!(
            "{}&state=s1&scope=profile&resource={}",
            authorize_url(&client_id),
            crate::harness::enc(resource)
        );
        let browser = Browser::new(&s);
        let login = browser.get(&url);
        let back = browser.login(&login, "alice", ALICE_PASSWORD);
        let consent = browser.get(back.location.as_deref().unwrap());
        let done = browser.post(
            "/oauth/authorize",
            &[
                ("csrf", &consent.hidden("csrf")),
                ("request", &consent.hidden("request")),
                ("decision", "approve"),
            ],
        );
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(
            done.location_param("iss").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        let code = done.location_param("code").unwrap();
        let tokens: Value = s
            .post("/oauth/token")
            .header("Origin", "http://127.0.0.1:7777")
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", client_id.as_str()),
                ("code", code.as_str()),
                ("redirect_uri", "http://127.0.0.1:7777/cb"),
                ("code_verifier", verifier),
                ("resource", resource),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let access = tokens["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{tokens}"));
        let info = s.introspect("mcp-server", &rs_secret, access);
        assert_eq!(info["active"], true);
        assert_eq!(info["aud"], json!([resource]));
        assert_eq!(info["client_id"], client_id.as_str());
        let refreshed: Value = s
            .post("/oauth/token")
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", client_id.as_str()),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let info = s.introspect(
            "mcp-server",
            &rs_secret,
            refreshed["access_token"].as_str().unwrap(),
        );
        assert_eq!(
            info["aud"],
            json!([resource]),
            "the refreshed token keeps its audience"
        );
    }
}

#[test]
fn token_endpoint_cors_allows_only_the_clients_origins() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let created = s.create_client(
        &admin,
        json!({"client_id": "spa", "client_name": "SPA", "grant_types": ["client_credentials"], "allowed_cors_origins": ["https://spa.example.com"]}),
    );
    let secret = created["client_secret"].as_str().unwrap();
    let preflight = s.http_options("/oauth/token", "https://spa.example.com");
    assert_eq!(preflight.status(), 204);
    let call = |origin: &str| {
        s.post("/oauth/token")
            .basic_auth("spa", Some(secret))
            .header("Origin", origin)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap()
    };
    let ok = call("https://spa.example.com");
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://spa.example.com"
    );
    let other = call("https://evil.example.com");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn dynamic_registration_takes_the_openid_connect_logout_and_signing_settings() {
    let s = Server::start();
    // Refused values name their field and register nothing.
    rfc7591_error(
        register(
            &s,
            json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "id_token_signed_response_alg": "none"}),
        ),
        400,
        "invalid_client_metadata",
    );
    rfc7591_error(
        register(
            &s,
            json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "backchannel_logout_uri": "http://rp.example/bc"}),
        ),
        400,
        "invalid_client_metadata",
    );
    let r = register(
        &s,
        json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "id_token_signed_response_alg": "RS256",
               "backchannel_logout_uri": "https://rp.example/bc", "backchannel_logout_session_required": true}),
    );
    assert_eq!(r.status(), 201);
    let reg: Value = r.json().unwrap();
    assert_eq!(reg["id_token_signed_response_alg"], "RS256");
    assert_eq!(reg["backchannel_logout_uri"], "https://rp.example/bc");
    assert_eq!(reg["backchannel_logout_session_required"], true);
    // The RS256 key exists and is published before anything is signed.
    let jwks: Value = s.get("/oauth/jwks").send().unwrap().json().unwrap();
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "RS256" && k["kty"] == "RSA")
        .count();
    assert_eq!(rsa, 2, "{jwks}");

    // An RFC 7592 update carries the whole client: omitted settings reset.
    let path = format!("/oauth/register/{}", reg["client_id"].as_str().unwrap());
    let updated: Value = s
        .put(&path)
        .bearer_auth(reg["registration_access_token"].as_str().unwrap())
        .json(&json!({"client_id": reg["client_id"], "redirect_uris": ["http://127.0.0.1:9/cb"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(updated["id_token_signed_response_alg"], "ES256");
    assert!(updated.get("backchannel_logout_uri").is_none(), "{updated}");
}
