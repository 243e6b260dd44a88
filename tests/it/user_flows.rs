//! The interactive flows, driven through HTTP as a person and an app would:
//! login, consent, authorization code + PKCE (with the `oauth2` crate as the
//! client), refresh rotation and reuse detection, consent remembered,
//! authorize errors, CSRF, the device flow, userinfo, sessions, user
//! disabling, and role limits on user tokens.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

use crate::browser::{Browser, Page};
use crate::harness::{enc, Server};

pub(crate) const ADMIN_PASSWORD: &str = "admin-password-123";
const ALICE_PASSWORD: &str = "alice-password-123";
const CALLBACK: &str = "http://127.0.0.1:9/cb";

pub(crate) fn start() -> Server {
    Server::start_with(&[("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)])
}

/// alice (member, teams red and blue), the `app` client, and an introspecting resource server.
fn setup(s: &Server) -> (String, String, String) {
    let admin = s.admin_token(None);
    let r = s
        .post("/api/admin/users")
        .bearer_auth(&admin)
        .json(&json!({"username": "alice", "display_name": "Alice", "email": "alice@example.com", "password": ALICE_PASSWORD, "teams": ["red", "blue"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let alice: Value = r.json().unwrap();
    s.create_client(
        &admin,
        json!({
            "client_id": "app", "client_name": "The App", "token_endpoint_auth_method": "none",
            "redirect_uris": [CALLBACK], "grant_types": ["authorization_code", "refresh_token"],
            "scope": "profile email clients:read", "refresh_token_enabled": true,
            "team_selection": "multiple", "team_restrictions": ["red", "blue", "green"],
        }),
    );
    let rs = s.create_client(
        &admin,
        json!({"client_id": "rs", "client_name": "API", "grant_types": ["client_credentials"], "introspection_allowed": true}),
    );
    (
        alice["user_id"].as_str().unwrap().to_owned(),
        rs["client_secret"].as_str().unwrap().to_owned(),
        admin,
    )
}

/// The `oauth2` crate's client with authorize and token URLs set.
type AppClient = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn oauth_client(s: &Server, client_id: &str, redirect: &str) -> AppClient {
    BasicClient::new(ClientId::new(client_id.into()))
        .set_auth_uri(AuthUrl::new(s.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
        .set_auth_type(oauth2::AuthType::RequestBody)
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Runs the browser part of the code flow: authorize, (login), consent
/// with `teams`; returns the final redirect.
fn authorize(browser: &Browser, url: &str, login: Option<(&str, &str)>, teams: &[&str]) -> Page {
    let mut page = browser.get(url);
    if let Some((user, password)) = login {
        let back = browser.login(&page, user, password);
        assert_eq!(back.status, 303, "{}", back.body);
        page = browser.get(back.location.as_deref().unwrap());
    }
    if page.status == 302 {
        return page;
    }
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Allow"), "{}", page.body);
    let csrf = page.hidden("csrf");
    let request = page.hidden("request");
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("request", request.as_str()),
        ("decision", "approve"),
    ];
    for t in teams {
        form.push(("team", t));
    }
    browser.post("/oauth/authorize", &form)
}

#[test]
fn the_code_flow_with_pkce_refresh_rotation_and_reuse_detection() {
    let s = start();
    let (alice_id, rs_secret, _) = setup(&s);
    let client = oauth_client(&s, "app", CALLBACK);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf_state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("clients:read".into()))
        .set_pkce_challenge(challenge)
        .add_extra_param("resource", "https://api.example.com")
        .url();
    let browser = Browser::new(&s);
    let done = authorize(
        &browser,
        url.as_str(),
        Some(("alice", ALICE_PASSWORD)),
        &["red"],
    );
    assert_eq!(done.status, 303);
    assert!(done.location.as_deref().unwrap().starts_with(CALLBACK));
    assert_eq!(
        done.location_param("state").as_deref(),
        Some(csrf_state.secret().as_str())
    );
    assert_eq!(
        done.location_param("iss").as_deref(),
        Some("http://127.0.0.1:8080")
    );
    let code = done.location_param("code").unwrap();
    assert!(code.starts_with("alac_"));

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request(&http())
        .expect("code exchange");
    let access = tokens.access_token().secret().clone();
    let refresh = tokens
        .refresh_token()
        .expect("refresh token")
        .secret()
        .clone();
    // clients:read was narrowed away: alice is a member.
    assert_eq!(
        tokens.scopes().unwrap(),
        &vec![Scope::new("profile".into())]
    );

    let info = s.introspect("rs", &rs_secret, &access);
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], alice_id);
    assert_eq!(info["username"], "alice");
    assert_eq!(info["teams"], json!(["red"]));
    assert_eq!(info["access"], "read_only");
    assert_eq!(info["aud"], json!(["https://api.example.com"]));

    let me: Value = s
        .get("/oauth/userinfo")
        .bearer_auth(&access)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["sub"], alice_id);
    assert_eq!(me["name"], "Alice");
    // Claims follow the granted scopes (OpenID Connect Core §5.4): no
    // `email` scope, no email.
    assert!(me.get("email").is_none(), "{me}");
    assert_eq!(me["teams"], json!(["red"]));
    assert_eq!(me["user_teams"], json!(["red", "blue"]));

    // A second use of the code fails and revokes what it produced.
    let again = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
        .request(&http());
    assert!(again.is_err());
    assert_eq!(s.introspect("rs", &rs_secret, &access)["active"], false);
    assert_eq!(s.introspect("rs", &rs_secret, &refresh)["active"], false);
}

#[test]
fn refresh_rotates_narrows_and_a_reused_refresh_token_revokes_the_family() {
    let s = start();
    let (_, rs_secret, _) = setup(&s);
    let client = oauth_client(&s, "app", CALLBACK);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(&s);
    let done = authorize(
        &browser,
        url.as_str(),
        Some(("alice", ALICE_PASSWORD)),
        &["red", "blue"],
    );
    let tokens = client
        .exchange_code(AuthorizationCode::new(done.location_param("code").unwrap()))
        .set_pkce_verifier(verifier)
        .request(&http())
        .unwrap();
    let first_refresh = tokens.refresh_token().unwrap().clone();
    let rotated = client
        .exchange_refresh_token(&first_refresh)
        .add_scope(Scope::new("email".into()))
        .request(&http())
        .expect("refresh");
    assert_eq!(rotated.scopes().unwrap(), &vec![Scope::new("email".into())]);
    let second_refresh = rotated.refresh_token().unwrap().clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    let info = s.introspect("rs", &rs_secret, rotated.access_token().secret());
    assert_eq!(info["teams"], json!(["red", "blue"]));

    // Widening is refused.
    let widened = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", second_refresh.secret()),
            ("scope", "clients:read"),
        ])
        .send()
        .unwrap();
    assert_eq!(widened.status(), 400);
    assert_eq!(widened.json::<Value>().unwrap()["error"], "invalid_scope");

    // The retired refresh token comes back: the whole family dies.
    let reuse = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", first_refresh.secret()),
        ])
        .send()
        .unwrap();
    assert_eq!(reuse.status(), 400);
    assert_eq!(reuse.json::<Value>().unwrap()["error"], "invalid_grant");
    assert_eq!(
        s.introspect("rs", &rs_secret, rotated.access_token().secret())["active"],
        false
    );
    assert!(client
        .exchange_refresh_token(&second_refresh)
        .request(&http())
        .is_err());
}

#[test]
fn consent_is_remembered_unless_the_client_requires_it() {
    let s = start();
    setup(&s);
    let client = oauth_client(&s, "app", CALLBACK);
    let browser = Browser::new(&s);
    let url = |client: &AppClient| {
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url()
            .0
    };
    let first = authorize(
        &browser,
        url(&client).as_str(),
        Some(("alice", ALICE_PASSWORD)),
        &["red"],
    );
    assert_eq!(first.status, 303);
    // Same client, same scope: straight back with a code.
    let second = browser.get(url(&client).as_str());
    assert_eq!(second.status, 302, "{}", second.body);
    assert!(second.location_param("code").is_some());

    let admin = s.admin_token(None);
    s.patch("/api/admin/oauth-clients/app")
        .bearer_auth(&admin)
        .json(&json!({"require_consent": true}))
        .send()
        .unwrap();
    let third = browser.get(url(&client).as_str());
    assert_eq!(third.status, 200);
    assert!(third.body.contains("Allow"));
}

#[test]
fn authorize_errors_are_pages_for_bad_clients_and_redirects_otherwise() {
    let s = start();
    setup(&s);
    let browser = Browser::new(&s);
    let ch = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let base = format!(
        "/oauth/authorize?client_id=app&redirect_uri={}&state=xyz",
        enc(CALLBACK)
    );
    for (query, status) in [
        (
            "/oauth/authorize?client_id=nobody&response_type=code".to_owned(),
            400,
        ),
        (
            format!(
                "/oauth/authorize?client_id=app&redirect_uri={}&response_type=code",
                enc("https://evil.example.com/cb")
            ),
            400,
        ),
        ("/oauth/authorize?response_type=code".to_owned(), 400),
        (format!("{base}&client_id=app&response_type=code"), 400),
    ] {
        let p = browser.get(&query);
        assert_eq!(p.status, status, "{query}");
        assert!(p.location.is_none(), "{query} must not redirect");
        assert_eq!(p.headers["x-frame-options"], "DENY");
    }
    for (extra, error) in [
        (format!("&response_type=code&code_challenge={ch}"), "invalid_request"),
        (format!("&response_type=code&code_challenge={ch}&code_challenge_method=plain"), "invalid_request"),
        ("&response_type=code&code_challenge_method=S256".to_owned(), "invalid_request"),
        (format!("&response_type=token&code_challenge={ch}&code_challenge_method=S256"), "unsupported_response_type"),
        (format!("&code_challenge={ch}&code_challenge_method=S256"), "invalid_request"),
        (format!("&response_type=code&code_challenge={ch}&code_challenge_method=S256&scope=admin"), "invalid_scope"),
        (format!("&response_type=code&code_challenge={ch}&code_challenge_method=S256&resource=not-a-uri"), "invalid_target"),
    ] {
        let p = browser.get(&format!("{base}{extra}"));
        assert_eq!(p.status, 302, "{extra}: {}", p.body);
        assert!(p.location.as_deref().unwrap().starts_with(CALLBACK));
        assert_eq!(p.location_param("error").as_deref(), Some(error), "{extra}");
        assert_eq!(p.location_param("state").as_deref(), Some("xyz"));
        assert_eq!(p.location_param("iss").as_deref(), Some("http://127.0.0.1:8080"));
    }
}

#[test]
fn forms_without_a_valid_csrf_token_are_refused() {
    let s = start();
    setup(&s);
    let browser = Browser::new(&s);
    let head = s.head();
    let p = browser.post(
        "/login",
        &[
            ("csrf", "forged"),
            ("return_to", "/oauth/device"),
            ("username", "alice"),
            ("password", ALICE_PASSWORD),
        ],
    );
    assert_eq!(p.status, 403);
    assert!(p
        .headers
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap().contains("authlog_session")));
    let page = browser.get("/oauth/device");
    let back = browser.login(&page, "alice", ALICE_PASSWORD);
    assert_eq!(back.status, 303);
    let consent = browser.post(
        "/oauth/authorize",
        &[
            ("csrf", "forged"),
            ("request", "client_id=app"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(consent.status, 403);
    assert!(consent.location.is_none());
    // Only the successful login was appended.
    assert_eq!(s.head(), head + 1);
}

#[test]
fn failed_logins_are_recorded_and_throttled() {
    let s = start();
    setup(&s);
    let browser = Browser::new(&s);
    let page = browser.get("/oauth/device");
    for _ in 0..5 {
        let p = browser.login(&page, "alice", "wrong-password");
        assert_eq!(p.status, 401);
        assert!(p.body.contains("Invalid username or password"));
    }
    let p = browser.login(&page, "alice", ALICE_PASSWORD);
    assert_eq!(p.status, 429, "throttled even with the right password");
    assert!(p.headers.get("retry-after").is_some());
}

#[test]
fn the_device_flow_answers_each_polling_state() {
    let s = start();
    setup(&s);
    let start_device = || -> Value {
        let r = s
            .post("/oauth/device_authorization")
            .form(&[("client_id", "authlog-cli"), ("scope", "profile")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().unwrap()
    };
    let poll = |device_code: &str| -> (u16, Value) {
        let r = s
            .post("/oauth/token")
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", "authlog-cli"),
                ("device_code", device_code),
            ])
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    };
    let pending = start_device();
    let user_code = pending["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(
        pending["verification_uri"],
        "http://127.0.0.1:8080/oauth/device"
    );
    assert_eq!(pending["interval"], 5);
    assert_eq!(pending["expires_in"], 600);
    let code = pending["device_code"].as_str().unwrap();
    assert_eq!(poll(code).1["error"], "authorization_pending");
    assert_eq!(poll(code).1["error"], "slow_down");

    // Approved: tokens on the first poll.
    let approved = start_device();
    let browser = Browser::new(&s);
    let complete = format!(
        "/oauth/device?user_code={}",
        approved["user_code"].as_str().unwrap()
    );
    let login = browser.get(&complete);
    let back = browser.login(&login, "alice", ALICE_PASSWORD);
    let consent = browser.get(back.location.as_deref().unwrap());
    assert!(consent.body.contains("authlog CLI"), "{}", consent.body);
    let done = browser.post(
        "/oauth/device/decision",
        &[
            ("csrf", &consent.hidden("csrf")),
            ("user_code", &consent.hidden("user_code")),
            ("decision", "approve"),
            ("team", "blue"),
        ],
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let (status, tokens) = poll(approved["device_code"].as_str().unwrap());
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("alrt_"));
    let me: Value = s
        .get("/oauth/userinfo")
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["preferred_username"], "alice");
    assert_eq!(me["teams"], json!(["blue"]));
    // Used once only.
    assert_eq!(
        poll(approved["device_code"].as_str().unwrap()).1["error"],
        "invalid_grant"
    );

    // Denied: typed in by hand this time.
    let denied = start_device();
    let entry = browser.get("/oauth/device");
    let consent = browser.post(
        "/oauth/device",
        &[
            ("csrf", &entry.hidden("csrf")),
            (
                "user_code",
                &denied["user_code"].as_str().unwrap().to_lowercase(),
            ),
        ],
    );
    assert!(consent.body.contains("Allow"), "{}", consent.body);
    browser.post(
        "/oauth/device/decision",
        &[
            ("csrf", &consent.hidden("csrf")),
            ("user_code", &consent.hidden("user_code")),
            ("decision", "deny"),
        ],
    );
    assert_eq!(
        poll(denied["device_code"].as_str().unwrap()).1["error"],
        "access_denied"
    );

    // Expired, ten minutes later.
    let late = start_device();
    let s = s.restart_with(&[("AUTHLOG_CLOCK_SKEW_SECONDS", "601")]);
    let r = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "authlog-cli"),
            ("device_code", late["device_code"].as_str().unwrap()),
        ])
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["error"], "expired_token");
}

/// A code-flow token for `user` through authlog-console (loopback redirect, any port).
pub(crate) fn console_token(s: &Server, user: &str, password: &str, teams: &[&str]) -> String {
    let redirect = "http://127.0.0.1:54321/callback";
    let client = oauth_client(s, "authlog-console", redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("clients:read".into()))
        .add_scope(Scope::new("clients:write".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(s);
    let done = authorize(&browser, url.as_str(), Some((user, password)), teams);
    assert!(
        done.location.as_deref().unwrap().starts_with(redirect),
        "{:?}",
        done.location
    );
    client
        .exchange_code(AuthorizationCode::new(done.location_param("code").unwrap()))
        .set_pkce_verifier(verifier)
        .request(&http())
        .unwrap()
        .access_token()
        .secret()
        .clone()
}

#[test]
fn a_users_token_never_does_more_than_the_user() {
    let s = start();
    let (alice_id, _, admin) = setup(&s);
    let admin_user_token = console_token(&s, "admin", ADMIN_PASSWORD, &[]);
    let r = s
        .get("/api/admin/oauth-clients")
        .bearer_auth(&admin_user_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let alice_token = console_token(&s, "alice", ALICE_PASSWORD, &["red"]);
    let r = s
        .get("/api/admin/oauth-clients")
        .bearer_auth(&alice_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403, "a member's token carries no admin scope");

    // Make alice an auditor: her old token still lacks the scope; a read
    // scope granted later is limited by her role.
    let r = s
        .patch(&format!("/api/admin/users/{alice_id}"))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["auditor"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let auditor_token = console_token(&s, "alice", ALICE_PASSWORD, &["red"]);
    assert_eq!(
        s.get("/api/admin/oauth-clients")
            .bearer_auth(&auditor_token)
            .send()
            .unwrap()
            .status(),
        200
    );
    let write = s
        .post("/api/admin/oauth-clients")
        .bearer_auth(&auditor_token)
        .json(&json!({"client_name": "x", "grant_types": ["client_credentials"]}))
        .send()
        .unwrap();
    assert_eq!(write.status(), 403);
    // Demoted after issuance: the token stops working for admin scopes at once.
    s.patch(&format!("/api/admin/users/{alice_id}"))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["member"]}))
        .send()
        .unwrap();
    assert_eq!(
        s.get("/api/admin/oauth-clients")
            .bearer_auth(&auditor_token)
            .send()
            .unwrap()
            .status(),
        403
    );
}

#[test]
fn disabling_a_user_cuts_off_their_tokens_and_sessions_list_and_end() {
    let s = start();
    let (alice_id, rs_secret, admin) = setup(&s);
    let alice_token = console_token(&s, "alice", ALICE_PASSWORD, &["red"]);
    let mine: Value = s
        .get("/api/me/sessions")
        .bearer_auth(&alice_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let groups = mine["items"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["client_id"], "authlog-console");
    let tokens = groups[0]["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "access and refresh");
    let all: Value = s
        .get("/api/admin/sessions")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(all["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["client_id"] == "authlog-console"));

    let second = console_token(&s, "alice", ALICE_PASSWORD, &["red"]);
    let second_id = s.introspect("rs", &rs_secret, &second)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .delete(&format!("/api/me/sessions/{second_id}"))
        .bearer_auth(&alice_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(s.introspect("rs", &rs_secret, &second)["active"], false);
    assert_eq!(s.introspect("rs", &rs_secret, &alice_token)["active"], true);
    // Another user's session cannot be ended.
    let admin_session = console_token(&s, "admin", ADMIN_PASSWORD, &[]);
    let admin_jti = s.introspect("rs", &rs_secret, &admin_session)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .delete(&format!("/api/me/sessions/{admin_jti}"))
        .bearer_auth(&alice_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = s
        .post(&format!("/api/admin/users/{alice_id}/disable"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["disabled"], true);
    assert_eq!(
        s.introspect("rs", &rs_secret, &alice_token)["active"],
        false
    );
    assert_eq!(
        s.get("/oauth/userinfo")
            .bearer_auth(&alice_token)
            .send()
            .unwrap()
            .status(),
        401
    );
    let browser = Browser::new(&s);
    let page = browser.get("/oauth/device");
    assert_eq!(browser.login(&page, "alice", ALICE_PASSWORD).status, 401);
}

#[test]
fn last_use_is_recorded_coarsely_and_survives_a_restart() {
    let s = Server::start_with(&[
        ("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("AUTHLOG_USAGE_FLUSH_SECONDS", "1"),
    ]);
    let admin = s.admin_token(None);
    let head = s.head();
    for _ in 0..5 {
        s.get("/api/admin/oauth-clients")
            .bearer_auth(&admin)
            .send()
            .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // Five uses, at most a couple of summary events.
    assert!(s.head() - head <= 2, "uses are not written one by one");
    let tokens: Value = s
        .get("/api/admin/oauth-clients/authlog-admin/tokens")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(tokens["items"][0]["last_used_at"].is_string());
    let s = s.restart();
    let tokens: Value = s
        .get("/api/admin/oauth-clients/authlog-admin/tokens")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let first = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["last_used_at"].is_string());
    assert!(first.is_some(), "{tokens}");
}

#[test]
fn pages_send_security_headers_and_cookies_are_flagged() {
    let s = start();
    setup(&s);
    let browser = Browser::new(&s);
    let page = browser.get("/oauth/device");
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    let csrf_cookie = page.headers["set-cookie"].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(csrf_cookie.contains(flag), "{csrf_cookie}");
    }
    let back = browser.login(&page, "alice", ALICE_PASSWORD);
    let session = back
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("authlog_session="))
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain http issuer: no Secure flag"
    );
}

#[test]
fn wrong_device_codes_are_throttled_per_user() {
    let s = start();
    setup(&s);
    let browser = Browser::new(&s);
    let login = browser.get("/oauth/device");
    browser.login(&login, "alice", ALICE_PASSWORD);
    let entry = browser.get("/oauth/device");
    let csrf = entry.hidden("csrf");
    for _ in 0..5 {
        let p = browser.post(
            "/oauth/device",
            &[("csrf", &csrf), ("user_code", "BCDF-GHJK")],
        );
        assert_eq!(p.status, 400);
    }
    // Over budget: even a following lookup by link is refused.
    let p = browser.get("/oauth/device?user_code=BCDF-GHJK");
    assert_eq!(p.status, 429, "{}", p.body);
    assert!(p.body.contains("Too many wrong codes"));
}
