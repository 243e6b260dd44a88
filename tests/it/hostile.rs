//! Hostile input, table-driven: malformed and repeated form parameters,
//! wrong content types, oversized bodies, invalid UTF-8, JSON of the wrong
//! types, unknown fields, huge limits, bad cursors, path traversal in ids,
//! CR/LF in redirect URIs and `state`, and open-redirect attempts. Every
//! case must get its protocol's error shape and status (OAuth JSON
//! `{"error"}`, RFC 9457 problem JSON under `/api`, an HTML page on
//! `/oauth/authorize`), the server must keep answering, and the log head
//! must not move.

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{enc, Server};

/// The error shape a case must get.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// RFC 6749 / 7591 `{"error": code}`.
    OAuth(&'static str),
    /// RFC 9457 problem JSON with this `type` suffix.
    Problem(&'static str),
}

/// Who the request authenticates as.
#[derive(Debug, Clone, Copy)]
enum Auth {
    Anon,
    /// Basic as the confidential service client.
    Service,
    /// Bearer admin token (every admin scope).
    Admin,
    /// This `Authorization` header as is.
    Raw(&'static str),
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    auth: Auth,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    shape: Shape,
}

#[allow(clippy::too_many_arguments)]
fn case(
    name: &'static str,
    method: Method,
    path: impl Into<String>,
    auth: Auth,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: u16,
    shape: Shape,
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        auth,
        content_type,
        body: body.into(),
        status,
        shape,
    }
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const JSON: Option<&str> = Some("application/json");

/// Form cases shared by every OAuth form endpoint.
#[rustfmt::skip]
fn form_cases(path: &'static str, auth: Auth, valid: &str) -> Vec<Case> {
    use Method as M;
    use Shape::OAuth;
    let big = format!("{valid}&pad={}", "a".repeat(20 * 1024));
    vec![
        case("no content type", M::POST, path, auth, None, valid, 400, OAuth("invalid_request")),
        case("json instead of a form", M::POST, path, auth, JSON, r#"{"token":"x"}"#, 400, OAuth("invalid_request")),
        case("text/plain form", M::POST, path, auth, Some("text/plain"), valid, 400, OAuth("invalid_request")),
        case("repeated parameter", M::POST, path, auth, FORM, format!("{valid}&{valid}"), 400, OAuth("invalid_request")),
        case("raw invalid utf-8", M::POST, path, auth, FORM, [valid.as_bytes(), b"&x=\xff\xfe"].concat(), 400, OAuth("invalid_request")),
        case("percent-encoded invalid utf-8", M::POST, path, auth, FORM, format!("{valid}&x=%C3%28"), 400, OAuth("invalid_request")),
        case("invalid utf-8 in a name", M::POST, path, auth, FORM, format!("{valid}&%ff=1"), 400, OAuth("invalid_request")),
        case("oversized body", M::POST, path, auth, FORM, big, 413, OAuth("invalid_request")),
        case("only separators", M::POST, path, auth, FORM, "&&&==&=", 400, OAuth("invalid_request")),
    ]
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Auth::*;
    use Method as M;
    use Shape::*;
    let mut all = Vec::new();

    // /oauth/token
    all.extend(form_cases("/oauth/token", Service, "grant_type=client_credentials"));
    all.extend([
        case("grant type with NUL", M::POST, "/oauth/token", Service, FORM, "grant_type=client_credentials%00", 400, OAuth("unsupported_grant_type")),
        case("scope with CR/LF", M::POST, "/oauth/token", Service, FORM, "grant_type=client_credentials&scope=read%0d%0aX-Evil:%201", 400, OAuth("invalid_scope")),
        case("Basic that is not base64", M::POST, "/oauth/token", Raw("Basic !!!not base64!!!"), FORM, "grant_type=client_credentials", 401, OAuth("invalid_client")),
        case("GET on the token endpoint", M::GET, "/oauth/token?grant_type=client_credentials", Service, None, "", 404, OAuth("invalid_request")),
    ]);
    // /oauth/introspect and /oauth/revoke
    all.extend(form_cases("/oauth/introspect", Service, "token=alat_x"));
    all.extend(form_cases("/oauth/revoke", Service, "token=alat_x"));
    all.extend([
        case("introspect without token", M::POST, "/oauth/introspect", Service, FORM, "token_type_hint=access_token", 400, OAuth("invalid_request")),
        case("revoke without token", M::POST, "/oauth/revoke", Service, FORM, "", 400, OAuth("invalid_request")),
    ]);
    // /oauth/device_authorization
    all.extend(form_cases("/oauth/device_authorization", Anon, "client_id=authlog-cli"));

    // /oauth/register (RFC 7591 errors)
    let reg = "/oauth/register";
    let meta = |v: Value| v.to_string();
    all.extend([
        case("register: form instead of json", M::POST, reg, Anon, FORM, "redirect_uris=https://a.example.com/cb", 400, OAuth("invalid_client_metadata")),
        case("register: no content type", M::POST, reg, Anon, None, r#"{"redirect_uris":["https://a.example.com/cb"]}"#, 400, OAuth("invalid_client_metadata")),
        case("register: not json", M::POST, reg, Anon, JSON, "{redirect_uris", 400, OAuth("invalid_client_metadata")),
        case("register: raw invalid utf-8", M::POST, reg, Anon, JSON, b"{\"client_name\":\"\xff\xfe\",\"redirect_uris\":[\"https://a.example.com/cb\"]}".to_vec(), 400, OAuth("invalid_client_metadata")),
        case("register: redirect_uris a string", M::POST, reg, Anon, JSON, meta(json!({"redirect_uris": "https://a.example.com/cb"})), 400, OAuth("invalid_client_metadata")),
        case("register: redirect_uris numbers", M::POST, reg, Anon, JSON, meta(json!({"redirect_uris": [1, 2]})), 400, OAuth("invalid_client_metadata")),
        case("register: client_name an object", M::POST, reg, Anon, JSON, meta(json!({"client_name": {"a": 1}, "redirect_uris": ["https://a.example.com/cb"]})), 400, OAuth("invalid_client_metadata")),
        case("register: CR/LF in redirect uri", M::POST, reg, Anon, JSON, meta(json!({"redirect_uris": ["https://a.example.com/cb\r\nLocation: https://evil.example.com"]})), 400, OAuth("invalid_redirect_uri")),
        case("register: javascript redirect uri", M::POST, reg, Anon, JSON, meta(json!({"redirect_uris": ["javascript:alert(1)"]})), 400, OAuth("invalid_redirect_uri")),
        case("register: fragment in redirect uri", M::POST, reg, Anon, JSON, meta(json!({"redirect_uris": ["https://a.example.com/cb#x"]})), 400, OAuth("invalid_redirect_uri")),
        case("register: oversized", M::POST, reg, Anon, JSON, meta(json!({"client_name": "n".repeat(20 * 1024), "redirect_uris": ["https://a.example.com/cb"]})), 413, OAuth("invalid_client_metadata")),
        case("register: deeply nested redirect_uris", M::POST, reg, Anon, JSON, format!(r#"{{"redirect_uris":{}{}}}"#, "[".repeat(5000), "]".repeat(5000)), 400, OAuth("invalid_client_metadata")),
        case("register: array body", M::POST, reg, Anon, JSON, "[]", 400, OAuth("invalid_client_metadata")),
        case("register: traversal in the client path", M::GET, "/oauth/register/..%2f..%2fetc%2fpasswd", Anon, None, "", 401, OAuth("invalid_token")),
    ]);

    // /api/admin/oauth-clients
    let clients = "/api/admin/oauth-clients";
    all.extend([
        case("create: text/plain", M::POST, clients, Admin, Some("text/plain"), r#"{"client_name":"x"}"#, 400, Problem("bad-request")),
        case("create: raw invalid utf-8", M::POST, clients, Admin, JSON, b"{\"client_name\":\"\xff\"}".to_vec(), 400, Problem("bad-request")),
        case("create: truncated json", M::POST, clients, Admin, JSON, r#"{"client_name":"#, 400, Problem("bad-request")),
        case("create: trailing garbage", M::POST, clients, Admin, JSON, r#"{"client_name":"x"} {"#, 400, Problem("bad-request")),
        case("create: name a number", M::POST, clients, Admin, JSON, r#"{"client_name":5}"#, 422, Problem("validation")),
        case("create: grant_types a string", M::POST, clients, Admin, JSON, r#"{"client_name":"x","grant_types":"client_credentials"}"#, 422, Problem("validation")),
        case("create: ttl negative", M::POST, clients, Admin, JSON, r#"{"client_name":"x","access_token_ttl_seconds":-1}"#, 422, Problem("validation")),
        case("create: ttl huge", M::POST, clients, Admin, JSON, r#"{"client_name":"x","access_token_ttl_seconds":1e30}"#, 422, Problem("validation")),
        case("create: unknown field", M::POST, clients, Admin, JSON, r#"{"client_name":"x","is_admin":true}"#, 422, Problem("validation")),
        case("create: traversal id", M::POST, clients, Admin, JSON, r#"{"client_id":"../../etc/passwd","client_name":"x"}"#, 422, Problem("validation")),
        case("create: CR/LF id", M::POST, clients, Admin, JSON, r#"{"client_id":"a\r\nb","client_name":"x"}"#, 422, Problem("validation")),
        case("create: CR/LF in a redirect uri", M::POST, clients, Admin, JSON, r#"{"client_name":"x","redirect_uris":["https://a.example.com/cb\r\nSet-Cookie: a=b"]}"#, 422, Problem("validation")),
        case("create: oversized", M::POST, clients, Admin, JSON, format!(r#"{{"client_name":"{}"}}"#, "n".repeat(70 * 1024)), 413, Problem("payload-too-large")),
        case("create: deeply nested", M::POST, clients, Admin, JSON, format!("{}{}", "[".repeat(5000), "]".repeat(5000)), 422, Problem("validation")),
        case("create: deeply nested field", M::POST, clients, Admin, JSON, format!(r#"{{"client_name":"x","description":{}{}}}"#, "[".repeat(5000), "]".repeat(5000)), 422, Problem("validation")),
        case("create: no token", M::POST, clients, Anon, JSON, r#"{"client_name":"x"}"#, 401, Problem("unauthenticated")),
        case("list: huge limit", M::GET, format!("{clients}?limit=99999999999999999999999"), Admin, None, "", 422, Problem("validation")),
        case("list: limit over the maximum", M::GET, format!("{clients}?limit=501"), Admin, None, "", 422, Problem("validation")),
        case("list: negative limit", M::GET, format!("{clients}?limit=-1"), Admin, None, "", 422, Problem("validation")),
        case("list: bad cursor", M::GET, format!("{clients}?cursor=!!not-a-cursor!!"), Admin, None, "", 422, Problem("validation")),
        case("list: cursor of invalid utf-8", M::GET, format!("{clients}?cursor=_w"), Admin, None, "", 422, Problem("validation")),
        case("list: repeated limit", M::GET, format!("{clients}?limit=1&limit=2"), Admin, None, "", 400, Problem("bad-request")),
        case("list: invalid utf-8 query", M::GET, format!("{clients}?q=%ff"), Admin, None, "", 400, Problem("bad-request")),
        case("read: traversal id", M::GET, format!("{clients}/..%2f..%2fetc%2fpasswd"), Admin, None, "", 404, Problem("not-found")),
        case("read: dot-dot id", M::GET, format!("{clients}/%2e%2e"), Admin, None, "", 404, Problem("not-found")),
        case("read: NUL id", M::GET, format!("{clients}/svc%00"), Admin, None, "", 404, Problem("not-found")),
        case("edit: traversal id", M::PATCH, format!("{clients}/..%2fsvc"), Admin, JSON, r#"{"client_name":"y"}"#, 404, Problem("not-found")),
        case("edit: name a list", M::PATCH, format!("{clients}/svc"), Admin, JSON, r#"{"client_name":["y"]}"#, 422, Problem("validation")),
        case("edit: changing the id", M::PATCH, format!("{clients}/svc"), Admin, JSON, r#"{"client_id":"other"}"#, 422, Problem("validation")),
        case("edit: unknown field", M::PATCH, format!("{clients}/svc"), Admin, JSON, r#"{"secret_digest":"00"}"#, 422, Problem("validation")),
        case("edit: scope with CR/LF", M::PATCH, format!("{clients}/svc"), Admin, JSON, r#"{"scope":"read\r\nwrite"}"#, 422, Problem("validation")),
        case("edit: form body", M::PATCH, format!("{clients}/svc"), Admin, FORM, "client_name=y", 400, Problem("bad-request")),
        case("bulk-delete: ids a string", M::POST, format!("{clients}/bulk-delete"), Admin, JSON, r#"{"client_ids":"svc"}"#, 422, Problem("validation")),
        case("bulk-delete: empty", M::POST, format!("{clients}/bulk-delete"), Admin, JSON, r#"{"client_ids":[]}"#, 422, Problem("validation")),
        case("bulk-delete: too many", M::POST, format!("{clients}/bulk-delete"), Admin, JSON, json!({"client_ids": (0..501).map(|i| format!("c{i}")).collect::<Vec<_>>()}).to_string(), 422, Problem("validation")),
        case("bulk-delete: unknown id", M::POST, format!("{clients}/bulk-delete"), Admin, JSON, r#"{"client_ids":["svc","../nope"]}"#, 404, Problem("not-found")),
        case("bulk-delete: unknown field", M::POST, format!("{clients}/bulk-delete"), Admin, JSON, r#"{"client_ids":["svc"],"force":true}"#, 422, Problem("validation")),
    ]);

    // /api/admin/users
    let users = "/api/admin/users";
    all.extend([
        case("users: username a number", M::POST, users, Admin, JSON, r#"{"username":1,"password":"long enough pw"}"#, 422, Problem("validation")),
        case("users: unknown field", M::POST, users, Admin, JSON, r#"{"username":"u","password":"long enough pw","is_root":true}"#, 422, Problem("validation")),
        case("users: roles an object", M::POST, users, Admin, JSON, r#"{"username":"u","password":"long enough pw","roles":{"admin":true}}"#, 422, Problem("validation")),
        case("users: raw invalid utf-8", M::POST, users, Admin, JSON, b"{\"username\":\"\xc3\x28\",\"password\":\"long enough pw\"}".to_vec(), 400, Problem("bad-request")),
        case("users: read traversal id", M::GET, format!("{users}/..%2f..%2fetc"), Admin, None, "", 404, Problem("not-found")),
        case("users: repeated q", M::GET, format!("{users}?q=a&q=b"), Admin, None, "", 400, Problem("bad-request")),
        case("users: invalid utf-8 query", M::GET, format!("{users}?q=%c3%28"), Admin, None, "", 400, Problem("bad-request")),
        case("users: bad role", M::GET, format!("{users}?role=root"), Admin, None, "", 422, Problem("validation")),
    ]);

    // Token exchange (RFC 8693) and upstream providers
    let exchange = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange";
    let access = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
    let providers = "/api/admin/upstream-providers";
    let provider = |extra: Value| {
        let mut v = json!({"id": "up", "name": "Up", "authorization_url": "https://up.example.com/a", "token_url": "https://up.example.com/t", "client_id": "c", "client_secret": "s"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v.to_string()
    };
    all.extend([
        case("exchange: no subject_token", M::POST, "/oauth/token", Service, FORM, format!("{exchange}&subject_token_type={access}&audience=up"), 400, OAuth("invalid_request")),
        case("exchange: an id token type", M::POST, "/oauth/token", Service, FORM, format!("{exchange}&subject_token=x&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token&audience=up"), 400, OAuth("invalid_request")),
        case("exchange: a refresh token asked for", M::POST, "/oauth/token", Service, FORM, format!("{exchange}&subject_token=x&subject_token_type={access}&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Arefresh_token&audience=up"), 400, OAuth("invalid_request")),
        case("exchange: an actor token", M::POST, "/oauth/token", Service, FORM, format!("{exchange}&subject_token=x&subject_token_type={access}&actor_token=y&audience=up"), 400, OAuth("invalid_request")),
        case("exchange: no target", M::POST, "/oauth/token", Service, FORM, format!("{exchange}&subject_token=x&subject_token_type={access}"), 400, OAuth("invalid_target")),
        case("exchange: two targets", M::POST, "/oauth/token", Service, FORM, format!("{exchange}&subject_token=x&subject_token_type={access}&audience=up&audience=down"), 400, OAuth("invalid_target")),
        case("exchange: unknown provider", M::POST, "/oauth/token", Service, FORM, format!("{exchange}&subject_token=x&subject_token_type={access}&audience=..%2fetc"), 400, OAuth("invalid_target")),
        case("providers: no id", M::POST, providers, Admin, JSON, r#"{"name":"x"}"#, 422, Problem("validation")),
        case("providers: traversal id", M::POST, providers, Admin, JSON, provider(json!({"id": "../etc"})), 422, Problem("validation")),
        case("providers: http endpoint", M::POST, providers, Admin, JSON, provider(json!({"token_url": "http://up.example.com/t"})), 422, Problem("validation")),
        case("providers: javascript endpoint", M::POST, providers, Admin, JSON, provider(json!({"authorization_url": "javascript:alert(1)"})), 422, Problem("validation")),
        case("providers: unknown field", M::POST, providers, Admin, JSON, provider(json!({"client_secret_digest": "00"})), 422, Problem("validation")),
        case("providers: reserved parameter", M::POST, providers, Admin, JSON, provider(json!({"authorization_params": {"redirect_uri": "https://evil.example.com"}})), 422, Problem("validation")),
        case("providers: secret with auth none", M::POST, providers, Admin, JSON, provider(json!({"token_endpoint_auth_method": "none"})), 422, Problem("validation")),
        case("providers: scope with CR/LF", M::POST, providers, Admin, JSON, provider(json!({"scopes": ["a\r\nb"]})), 422, Problem("validation")),
        case("providers: undiscoverable issuer", M::POST, providers, Admin, JSON, provider(json!({"issuer": "https://127.0.0.1:1"})), 422, Problem("validation")),
        case("providers: no token", M::POST, providers, Anon, JSON, provider(json!({})), 401, Problem("unauthenticated")),
        case("providers: read unknown", M::GET, format!("{providers}/nope"), Admin, None, "", 404, Problem("not-found")),
        case("providers: edit unknown", M::PATCH, format!("{providers}/nope"), Admin, JSON, r#"{"name":"y"}"#, 404, Problem("not-found")),
        case("connections: not a user's token", M::GET, "/api/me/connections", Admin, None, "", 403, Problem("insufficient-scope")),
        case("connections: bad user id", M::GET, "/api/admin/users/..%2f/connections", Admin, None, "", 404, Problem("not-found")),
        case("users: delete a bad id", M::DELETE, format!("{users}/not-a-uuid"), Admin, None, "", 404, Problem("not-found")),
    ]);

    // /api/audit/events
    let events = "/api/audit/events";
    all.extend([
        case("audit: huge limit", M::GET, format!("{events}?limit=18446744073709551616"), Admin, None, "", 422, Problem("validation")),
        case("audit: zero limit", M::GET, format!("{events}?limit=0"), Admin, None, "", 422, Problem("validation")),
        case("audit: bad cursor", M::GET, format!("{events}?cursor=..%2f..%2f"), Admin, None, "", 422, Problem("validation")),
        case("audit: bad time", M::GET, format!("{events}?since=yesterday"), Admin, None, "", 422, Problem("validation")),
        case("audit: unknown type", M::GET, format!("{events}?type=DropTables"), Admin, None, "", 422, Problem("validation")),
        case("audit: unknown parameter", M::GET, format!("{events}?sql=1"), Admin, None, "", 422, Problem("validation")),
        case("audit: invalid utf-8", M::GET, format!("{events}?client_id=%ff"), Admin, None, "", 422, Problem("validation")),
    ]);
    all
}

/// The authorization endpoint: never a redirect to an unregistered URI,
/// never a header built from raw CR/LF.
#[rustfmt::skip]
fn authorize_cases() -> Vec<(&'static str, String)> {
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let base = format!("/oauth/authorize?client_id=app&response_type=code&code_challenge={challenge}&code_challenge_method=S256");
    vec![
        ("unregistered redirect", format!("{base}&redirect_uri=https%3A%2F%2Fevil.example.com%2Fcb")),
        ("CR/LF in redirect", format!("{base}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%0d%0aLocation%3A%20https%3A%2F%2Fevil.example.com")),
        ("userinfo trick", format!("{base}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%40evil.example.com")),
        ("host suffix trick", format!("{base}&redirect_uri=https%3A%2F%2Fapp.example.com.evil.example.com%2Fcb")),
        ("dot segments", format!("{base}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%2F..%2F..%2Fevil")),
        ("scheme-relative", format!("{base}&redirect_uri=%2F%2Fevil.example.com%2Fcb")),
        ("extra query", format!("{base}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fnext%3Dhttps%3A%2F%2Fevil.example.com")),
        ("fragment", format!("{base}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%23evil")),
        ("repeated redirect", format!("{base}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&redirect_uri=https%3A%2F%2Fevil.example.com")),
        ("repeated client", format!("{base}&client_id=authlog-console&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb")),
        ("traversal client", "/oauth/authorize?client_id=..%2f..%2fapp&response_type=code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb".into()),
        ("invalid utf-8 client", "/oauth/authorize?client_id=%ff&response_type=code".into()),
        ("loopback with userinfo", "/oauth/authorize?client_id=authlog-console&response_type=code&redirect_uri=http%3A%2F%2Fevil.example.com%40127.0.0.1%3A9%2Fcallback".into()),
        ("loopback other path", "/oauth/authorize?client_id=authlog-console&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback%2F..%2Fevil".into()),
        ("loopback other host", "/oauth/authorize?client_id=authlog-console&response_type=code&redirect_uri=http%3A%2F%2Flocalhost.evil.example.com%3A9%2Fcallback".into()),
    ]
}

fn setup() -> (Server, String, String, Client) {
    let s = Server::start_with(&[
        ("AUTHLOG_USAGE_FLUSH_SECONDS", "3600"),
        ("AUTHLOG_REGISTRATION_RATE_LIMIT", "100000"),
    ]);
    let admin = s.admin_token(None);
    let (_, secret) = s.service_client(&admin, "svc", "read");
    s.create_client(
        &admin,
        json!({"client_id": "app", "client_name": "App", "redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "none"}),
    );
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (s, admin, secret, http)
}

#[test]
fn hostile_requests_get_their_protocol_error_and_leave_the_log_alone() {
    let (s, admin, secret, http) = setup();
    let head = s.head();
    let mut failures = Vec::new();
    for c in cases() {
        let mut headers = HeaderMap::new();
        if let Some(ct) = c.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let mut rb = http
            .request(c.method.clone(), s.url(&c.path))
            .headers(headers)
            .body(c.body.clone());
        rb = match c.auth {
            Auth::Anon => rb,
            Auth::Service => rb.basic_auth(enc("svc"), Some(enc(&secret))),
            Auth::Admin => rb.bearer_auth(&admin),
            Auth::Raw(value) => rb.header("authorization", value),
        };
        let r = match rb.send() {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: no response: {e}", c.name));
                continue;
            }
        };
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let shape_ok = match c.shape {
            Shape::OAuth(code) => {
                content_type.starts_with("application/json") && body["error"] == code
            }
            Shape::Problem(kind) => {
                content_type.starts_with("application/problem+json")
                    && body["type"] == format!("urn:authlog:problem:{kind}")
                    && body["status"] == status
            }
        };
        if status != c.status || !shape_ok {
            failures.push(format!(
                "{}: {} {} -> {status} {content_type} {text:.200} (expected {} {:?})",
                c.name, c.method, c.path, c.status, c.shape
            ));
        }
    }
    assert!(s.get("/healthz").send().unwrap().status().is_success());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(s.head(), head, "a refused request appended to the log");
}

#[test]
fn authorize_never_redirects_to_an_unregistered_uri() {
    let (s, _, _, http) = setup();
    let head = s.head();
    for (name, path) in authorize_cases() {
        let r = http.get(s.url(&path)).send().unwrap();
        assert_eq!(r.status(), 400, "{name}");
        assert!(r.headers().get("location").is_none(), "{name}: redirected");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{name}: {ct}");
        let html = r.text().unwrap();
        assert!(!html.contains("evil.example.com\""), "{name}: {html}");
    }
    assert_eq!(s.head(), head);
}

#[test]
fn cr_lf_in_state_never_reaches_a_header() {
    let (s, _, _, http) = setup();
    let head = s.head();
    // A registered redirect with an error to report: the redirect carries
    // `state` percent-encoded, and no header is injected.
    let r = http
        .get(s.url("/oauth/authorize?client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&state=x%0d%0aSet-Cookie%3A%20a%3Db%0d%0a%0d%0a<script>"))
        .send()
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://app.example.com/cb?"),
        "{location}"
    );
    assert!(!location.contains('\r') && !location.contains('\n') && !location.contains('<'));
    assert!(location.contains("state=x%0D%0ASet-Cookie"), "{location}");
    assert!(r
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap_or("").starts_with("a=")));
    assert_eq!(s.head(), head);
}
