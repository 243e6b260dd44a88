//! The OAuth endpoints for backend services: client_credentials at
//! `/oauth/token`, introspection (RFC 7662), revocation (RFC 7009), secret
//! rotation grace, pause and resume, and expiry.

use serde_json::{json, Value};

use crate::harness::{enc, Server};

fn oauth_error(
    r: reqwest::blocking::Response,
    status: u16,
    code: &str,
) -> reqwest::header::HeaderMap {
    assert_eq!(r.status(), status);
    let headers = r.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string());
    headers
}

fn token_of(r: reqwest::blocking::Response) -> String {
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn client_credentials_with_basic_returns_an_rfc_6749_token_response() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "svc", "read write");
    let r = s.token_basic(&id, &secret, Some("read"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let body: Value = r.json().unwrap();
    assert!(body["access_token"].as_str().unwrap().starts_with("alat_"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read");
    // No scope asked: all of the client's.
    let all: Value = s.token_basic(&id, &secret, None).json().unwrap();
    assert_eq!(all["scope"], "read write");
}

#[test]
fn client_secret_post_works_only_for_clients_registered_for_it() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let created = s.create_client(
        &admin,
        json!({"client_id": "poster", "client_name": "p", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}),
    );
    let secret = created["client_secret"].as_str().unwrap();
    let ok = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "poster"),
            ("client_secret", secret),
        ])
        .send()
        .unwrap();
    token_of(ok);
    // Basic for a client_secret_post client is the wrong method.
    oauth_error(s.token_basic("poster", secret, None), 401, "invalid_client");
    // And post for a client_secret_basic client.
    let (id, basic_secret) = s.service_client(&admin, "basic", "x");
    let r = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", basic_secret.as_str()),
        ])
        .send()
        .unwrap();
    oauth_error(r, 401, "invalid_client");
}

#[test]
fn only_a_client_that_used_http_basic_gets_a_basic_challenge() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, _) = s.service_client(&admin, "svc", "x");
    // HTTP Basic: the challenge names the scheme and the error.
    let headers = oauth_error(
        s.token_basic(&id, "alcs_wrong", None),
        401,
        "invalid_client",
    );
    assert_eq!(
        headers["www-authenticate"],
        "Basic realm=\"authlog\", charset=\"UTF-8\", error=\"invalid_client\""
    );
    // Credentials in the body (RFC 6749 §5.2): 401 without a challenge,
    // which openid-client would report instead of invalid_client.
    for form in [
        vec![("client_id", id.as_str()), ("client_secret", "alcs_wrong")],
        vec![("client_id", "nobody")],
    ] {
        let mut form = form;
        form.push(("grant_type", "client_credentials"));
        let r = s.post("/oauth/token").form(&form).send().unwrap();
        let headers = oauth_error(r, 401, "invalid_client");
        assert!(headers.get("www-authenticate").is_none(), "{headers:?}");
    }
    // A resource request with no token: a Bearer challenge, no error code
    // (RFC 6750 §3.1); a bad token: with its error code.
    let none = s.get("/oauth/userinfo").send().unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"authlog\""
    );
    let bad = s
        .get("/oauth/userinfo")
        .bearer_auth("alat_nothing")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer realm=\"authlog\", error=\"invalid_token\""));
}

#[test]
fn a_wrong_secret_and_an_unknown_client_get_the_same_invalid_client() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, _) = s.service_client(&admin, "svc", "x");
    let wrong = s.token_basic(&id, "alcs_wrong", None);
    let headers = oauth_error(wrong, 401, "invalid_client");
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let unknown = s.token_basic("nobody", "alcs_wrong", None);
    let unknown_body = {
        assert_eq!(unknown.status(), 401);
        unknown.json::<Value>().unwrap()
    };
    let wrong_body: Value = s.token_basic(&id, "alcs_wrong", None).json().unwrap();
    assert_eq!(unknown_body, wrong_body);
    // Credentials per RFC 6749 §2.3.1 are form-encoded inside Basic.
    let created = s.create_client(
        &admin,
        json!({"client_id": "odd:id", "client_name": "o", "grant_types": ["client_credentials"]}),
    );
    token_of(s.token_basic("odd:id", created["client_secret"].as_str().unwrap(), None));
}

#[test]
fn each_token_endpoint_error_has_its_rfc_code() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "svc", "read");
    let basic = |form: &[(&str, &str)]| {
        s.post("/oauth/token")
            .basic_auth(enc(&id), Some(enc(&secret)))
            .form(form)
            .send()
            .unwrap()
    };
    oauth_error(basic(&[]), 400, "invalid_request");
    oauth_error(
        basic(&[("grant_type", "password")]),
        400,
        "unsupported_grant_type",
    );
    oauth_error(
        basic(&[("grant_type", "authorization_code")]),
        400,
        "unauthorized_client",
    );
    oauth_error(
        basic(&[("grant_type", "client_credentials"), ("scope", "write")]),
        400,
        "invalid_scope",
    );
    oauth_error(
        basic(&[
            ("grant_type", "client_credentials"),
            ("scope", "bad\"scope"),
        ]),
        400,
        "invalid_scope",
    );
    let repeated = s
        .post("/oauth/token")
        .basic_auth(enc(&id), Some(enc(&secret)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=read&scope=read")
        .send()
        .unwrap();
    oauth_error(repeated, 400, "invalid_request");
    let both = s
        .post("/oauth/token")
        .basic_auth(enc(&id), Some(enc(&secret)))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .unwrap();
    oauth_error(both, 400, "invalid_request");
    let json_body = s
        .post("/oauth/token")
        .basic_auth(enc(&id), Some(enc(&secret)))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .unwrap();
    oauth_error(json_body, 400, "invalid_request");
    let no_auth = s
        .post("/oauth/token")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    oauth_error(no_auth, 401, "invalid_client");
    let huge = "a".repeat(20_000);
    let big = s
        .post("/oauth/token")
        .basic_auth(enc(&id), Some(enc(&secret)))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", huge.as_str()),
        ])
        .send()
        .unwrap();
    oauth_error(big, 413, "invalid_request");
}

#[test]
fn introspection_shows_a_client_its_own_tokens_only_unless_allowed() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (a, a_secret) = s.service_client(&admin, "a", "read");
    let (b, b_secret) = s.service_client(&admin, "b", "read");
    let token = token_of(s.token_basic(&a, &a_secret, None));
    let own = s.introspect(&a, &a_secret, &token);
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], "a");
    assert_eq!(own["sub"], "a");
    assert_eq!(own["scope"], "read");
    assert_eq!(own["token_type"], "Bearer");
    assert_eq!(own["iss"], "http://127.0.0.1:8080");
    assert_eq!(
        own["exp"].as_i64().unwrap() - own["iat"].as_i64().unwrap(),
        3600
    );
    assert!(own["jti"].is_string());
    assert_eq!(
        s.introspect(&b, &b_secret, &token),
        json!({"active": false})
    );
    assert_eq!(
        s.introspect(&a, &a_secret, "alat_unknown"),
        json!({"active": false})
    );

    let rs = s.create_client(
        &admin,
        json!({"client_id": "rs", "client_name": "rs", "grant_types": ["client_credentials"], "introspection_allowed": true}),
    );
    assert_eq!(
        s.introspect("rs", rs["client_secret"].as_str().unwrap(), &token)["active"],
        true
    );

    let public = s.create_client(
        &admin,
        json!({"client_id": "pub", "client_name": "pub", "token_endpoint_auth_method": "none", "redirect_uris": ["http://127.0.0.1/cb"]}),
    );
    assert!(public.get("client_secret").is_none());
    let r = s
        .post("/oauth/introspect")
        .form(&[("client_id", "pub"), ("token", token.as_str())])
        .send()
        .unwrap();
    oauth_error(r, 401, "invalid_client");
    let r = s
        .post("/oauth/introspect")
        .form(&[("token", token.as_str())])
        .send()
        .unwrap();
    oauth_error(r, 401, "invalid_client");
}

#[test]
fn revocation_revokes_only_the_callers_own_tokens_and_always_answers_200() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (a, a_secret) = s.service_client(&admin, "a", "read");
    let (b, b_secret) = s.service_client(&admin, "b", "read");
    let token = token_of(s.token_basic(&a, &a_secret, None));
    let revoke = |id: &str, secret: &str, token: &str| {
        s.post("/oauth/revoke")
            .basic_auth(enc(id), Some(enc(secret)))
            .form(&[("token", token)])
            .send()
            .unwrap()
    };
    let head = s.head();
    assert_eq!(revoke(&b, &b_secret, &token).status(), 200);
    assert_eq!(revoke(&a, &a_secret, "alat_unknown").status(), 200);
    assert_eq!(
        s.head(),
        head,
        "nothing appended for unknown or foreign tokens"
    );
    assert_eq!(s.introspect(&a, &a_secret, &token)["active"], true);
    assert_eq!(revoke(&a, &a_secret, &token).status(), 200);
    assert_eq!(s.introspect(&a, &a_secret, &token)["active"], false);
    assert_eq!(s.head(), head + 1);
    assert_eq!(revoke(&a, &a_secret, &token).status(), 200);
    assert_eq!(s.head(), head + 1, "revoking twice appends once");
    oauth_error(revoke(&a, "wrong", &token), 401, "invalid_client");
}

#[test]
fn a_rotated_secret_keeps_working_until_its_deadline() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, old) = s.service_client(&admin, "svc", "read");
    let r: Value = s
        .post("/api/admin/oauth-clients/svc/rotate-secret")
        .bearer_auth(&admin)
        .json(&json!({"previous_secret_valid_for_seconds": 3600}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let new = r["client_secret"].as_str().unwrap().to_owned();
    assert!(r["previous_secret_expires_at"].is_string());
    token_of(s.token_basic(&id, &old, None));
    token_of(s.token_basic(&id, &new, None));
    // An hour and a second later, only the new one works.
    let s = s.restart_with(&[("AUTHLOG_CLOCK_SKEW_SECONDS", "3601")]);
    oauth_error(s.token_basic(&id, &old, None), 401, "invalid_client");
    token_of(s.token_basic(&id, &new, None));

    // Grace 0: the old secret stops at once.
    let admin = s.admin_token(None);
    let r: Value = s
        .post("/api/admin/oauth-clients/svc/rotate-secret")
        .bearer_auth(&admin)
        .json(&json!({"previous_secret_valid_for_seconds": 0}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    oauth_error(s.token_basic(&id, &new, None), 401, "invalid_client");
    token_of(s.token_basic(&id, r["client_secret"].as_str().unwrap(), None));

    let too_long = s
        .post("/api/admin/oauth-clients/svc/rotate-secret")
        .bearer_auth(&admin)
        .json(&json!({"previous_secret_valid_for_seconds": 2_592_001}))
        .send()
        .unwrap();
    assert_eq!(too_long.status(), 422);
    let default_grace: Value = s
        .post("/api/admin/oauth-clients/svc/rotate-secret")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(default_grace["previous_secret_expires_at"].is_string());
}

#[test]
fn pausing_kills_existing_tokens_at_once_and_refuses_new_ones_until_resumed() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "svc", "read");
    let token = token_of(s.token_basic(&id, &secret, None));
    let paused: Value = s
        .post("/api/admin/oauth-clients/svc/pause")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["active_token_count"], 0);
    oauth_error(
        s.token_basic(&id, &secret, None),
        400,
        "unauthorized_client",
    );
    let rs = s.create_client(
        &admin,
        json!({"client_id": "rs", "client_name": "rs", "grant_types": ["client_credentials"], "introspection_allowed": true}),
    );
    assert_eq!(
        s.introspect("rs", rs["client_secret"].as_str().unwrap(), &token)["active"],
        false
    );
    // Pausing again changes nothing.
    let head = s.head();
    assert_eq!(
        s.post("/api/admin/oauth-clients/svc/pause")
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(s.head(), head);

    let resumed: Value = s
        .post("/api/admin/oauth-clients/svc/resume")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(resumed["status"], "active");
    let fresh = token_of(s.token_basic(&id, &secret, None));
    assert_eq!(s.introspect(&id, &secret, &fresh)["active"], true);
    assert_eq!(
        s.introspect(&id, &secret, &token)["active"],
        false,
        "a pause's revocations stay"
    );
}

#[test]
fn an_expired_token_is_inactive() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "svc", "read");
    let token = token_of(s.token_basic(&id, &secret, None));
    let count = |s: &Server| -> Value {
        let admin = s.admin_token(None);
        s.get("/api/admin/oauth-clients/svc")
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["active_token_count"]
            .clone()
    };
    assert_eq!(count(&s), 1);
    let s = s.restart_with(&[("AUTHLOG_CLOCK_SKEW_SECONDS", "3601")]);
    assert_eq!(s.introspect(&id, &secret, &token)["active"], false);
    assert_eq!(count(&s), 0);
}

#[test]
fn a_real_oauth2_client_library_gets_a_token_that_introspects_active() {
    use oauth2::basic::BasicClient;
    use oauth2::{ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "lib", "read write");
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_token_uri(TokenUrl::new(s.url("/oauth/token")).unwrap());
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request(&http)
        .expect("client_credentials via the oauth2 crate");
    assert_eq!(token.scopes().unwrap(), &vec![Scope::new("read".into())]);
    let introspected = s.introspect(&id, &secret, token.access_token().secret());
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["scope"], "read");
}

#[test]
fn failed_client_authentications_are_summarised_and_throttled() {
    let s = Server::start_with(&[("AUTHLOG_USAGE_FLUSH_SECONDS", "1")]);
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "target", "read");
    for _ in 0..10 {
        oauth_error(
            s.token_basic(&id, "alcs_guess", None),
            401,
            "invalid_client",
        );
    }
    // Failures never lock the client out: the right secret still works.
    assert_eq!(s.token_basic(&id, &secret, None).status(), 200);
    // Another failure from this address is over its budget: 429.
    let throttled = s.token_basic(&id, "alcs_guess", None);
    assert_eq!(throttled.status(), 429, "over budget");
    assert!(
        throttled.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    // Failures reach the log as periodic summaries, never one event each.
    let summaries = |s: &Server| -> Vec<Value> {
        let audit: Value = s
            .get("/api/audit/events?client_id=target&type=AuthenticationFailures&limit=50")
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        audit["items"].as_array().unwrap().clone()
    };
    let total = |items: &[Value], field: &str| -> u64 {
        items
            .iter()
            .map(|e| {
                e["summary"][field]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{e}"))
            })
            .sum()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let items = loop {
        let items = summaries(&s);
        if total(&items, "failures") >= 11 || std::time::Instant::now() > deadline {
            break items;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(total(&items, "failures"), 11, "{items:?}");
    assert_eq!(total(&items, "throttled"), 1, "{items:?}");
    assert!(items.len() <= 2, "one summary per flush: {items:?}");
    assert_eq!(items[0]["summary"]["client_id"], "target", "{items:?}");
    assert_eq!(
        items[0]["summary"]["addresses"][0]["address"], "127.0.0.1",
        "{items:?}"
    );
    assert_eq!(
        total(&items, "failures"),
        items
            .iter()
            .map(|e| e["summary"]["reasons"]["bad_credentials"].as_u64().unwrap())
            .sum::<u64>(),
        "{items:?}"
    );
    let summary: Value = s
        .get("/api/audit/clients/target")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let failed = summary
        .pointer("/failed_authentications")
        .or_else(|| summary.pointer("/counts/failed_authentications"));
    assert_eq!(failed, Some(&json!(11)), "{summary}");
}

/// The server's `/oauth/token` from another loopback source address.
fn token_from(s: &Server, source: [u8; 4], client_id: &str, secret: &str) -> u16 {
    let http = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .build()
        .unwrap();
    http.post(s.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn failures_from_one_address_never_stop_the_client_elsewhere() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let (id, secret) = s.service_client(&admin, "gateway", "read");
    let attacker = [127, 0, 0, 2];
    let answers: Vec<u16> = (0..12)
        .map(|_| token_from(&s, attacker, &id, "alcs_guess"))
        .collect();
    assert_eq!(answers[..10], [401; 10], "{answers:?}");
    assert_eq!(answers[10..], [429; 2], "{answers:?}");
    // The client, from its own address, is neither locked out nor throttled.
    assert_eq!(token_from(&s, [127, 0, 0, 1], &id, &secret), 200);
    assert_eq!(token_from(&s, [127, 0, 0, 1], &id, "alcs_stale"), 401);
    // Nor from the attacker's address with the right secret.
    assert_eq!(token_from(&s, attacker, &id, &secret), 200);
}
