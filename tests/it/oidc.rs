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

    // A token signed before the rotation (a JWT access token).
    let created = s.create_client(
        &admin,
        serde_json::json!({"client_id": "jwt-svc", "client_name": "JWT service", "grant_types": ["client_credentials"], "scope": "read", "access_token_format": "jwt"}),
    );
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let jwt = |s: &Server| -> String {
        let tokens: Value = s.token_basic("jwt-svc", &secret, None).json().unwrap();
        tokens["access_token"].as_str().unwrap().to_owned()
    };
    let before = jwt(&s);
    let issuer = "http://127.0.0.1:8080";
    assert_eq!(
        verify_with_jwks(&s, &before, issuer).0.kid,
        Some(active.clone())
    );

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
    // The old token still verifies; new ones carry the new kid.
    verify_with_jwks(&s, &before, issuer);
    assert_eq!(
        verify_with_jwks(&s, &jwt(&s), issuer).0.kid,
        Some(next.clone())
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

const ALICE_PASSWORD: &str = "alice-password-123";
const CALLBACK: &str = "http://127.0.0.1:9/cb";

/// A user, alice (member; email set), and a public client `rp` that may
/// ask for openid, profile, email and role.
fn relying_party_setup(s: &Server) {
    let admin = s.admin_token(None);
    let r = s
        .post("/api/admin/users")
        .bearer_auth(&admin)
        .json(&serde_json::json!({"username": "alice", "display_name": "Alice", "email": "alice@example.com", "password": ALICE_PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    s.create_client(
        &admin,
        serde_json::json!({
            "client_id": "rp", "client_name": "Relying party", "token_endpoint_auth_method": "none",
            "redirect_uris": [CALLBACK], "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile email role", "refresh_token_enabled": true,
        }),
    );
}

/// Signs alice in at `url` and approves; returns the code from the redirect.
fn sign_in_and_approve(s: &Server, url: &str) -> String {
    let browser = crate::browser::Browser::new(s);
    let login = browser.get(url);
    let back = browser.login(&login, "alice", ALICE_PASSWORD);
    assert_eq!(back.status, 303, "{}", back.body);
    let consent = browser.get(back.location.as_deref().unwrap());
    assert_eq!(consent.status, 200, "{}", consent.body);
    let done = browser.post(
        "/oauth/authorize",
        &[
            ("csrf", &consent.hidden("csrf")),
            ("request", &consent.hidden("request")),
            ("decision", "approve"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    done.location_param("code").expect("a code")
}

#[test]
fn a_certified_relying_party_library_signs_a_user_in() {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreUserInfoClaims};
    use openidconnect::{
        AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, LogoutRequest, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
        RedirectUrl, Scope, TokenResponse,
    };

    let s = Server::start_as_issuer(&[]);
    relying_party_setup(&s);
    let admin = s.admin_token(None);
    let r = s
        .patch("/api/admin/oauth-clients/rp")
        .bearer_auth(&admin)
        .json(&serde_json::json!({"post_logout_redirect_uris": [SIGNED_OUT]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let http = openidconnect::reqwest::blocking::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Discovery, as the library does it (issuer checked against the URL).
    let provider =
        ProviderMetadataWithLogout::discover(&IssuerUrl::new(s.base.clone()).unwrap(), &http)
            .expect("discovery");
    let end_session = provider
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("an end_session_endpoint");
    let client = CoreClient::from_provider_metadata(provider, ClientId::new("rp".into()), None)
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("role".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = sign_in_and_approve(&s, url.as_str());
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request(&http)
        .expect("code exchange");

    // The library verifies signature (from the JWKS), iss, aud, exp and nonce.
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("a valid ID token");
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.authorized_party().map(|a| a.as_str()), Some("rp"));
    let raw = id_token.to_string();
    let payload: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            raw.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["roles"], serde_json::json!(["member"]), "{payload}");
    assert_eq!(payload["amr"], serde_json::json!(["pwd"]), "{payload}");
    let sid = payload["sid"].as_str().expect("sid").to_owned();

    // Userinfo: the same subject and claims.
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request(&http)
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    // Refresh: a new ID token, same subject, session and auth_time, no nonce.
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request(&http)
        .expect("refresh");
    let again = refreshed.id_token().expect("an ID token on refresh");
    let again_claims = again
        .claims(&verifier, |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("a refreshed ID token carries no nonce".to_owned()),
        })
        .expect("a valid refreshed ID token");
    assert_eq!(again_claims.subject(), claims.subject());
    assert_eq!(again_claims.auth_time(), claims.auth_time());
    let again_payload: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            again.to_string().split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(again_payload["sid"], sid.as_str());

    // Logout as the library builds it: back to the registered URI with the
    // state, and the session ended for this client.
    let logout = LogoutRequest::from(end_session)
        .set_id_token_hint(again)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(SIGNED_OUT.into()).unwrap())
        .set_state(CsrfToken::new("bye".into()))
        .http_get_url();
    let done = http.get(logout).send().unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(
        done.headers()["location"].to_str().unwrap(),
        format!("{SIGNED_OUT}?state=bye")
    );
    let audit: Value = s
        .get("/api/audit/events?type=UserLoggedOut")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        audit["items"][0]["summary"]["session_id"],
        sid.as_str(),
        "{audit}"
    );
}

#[test]
fn a_public_client_asking_for_openid_must_send_a_nonce() {
    let s = Server::start();
    relying_party_setup(&s);
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let url = format!(
        "/oauth/authorize?response_type=code&client_id=rp&redirect_uri={}&scope=openid&code_challenge={challenge}&code_challenge_method=S256&state=s1",
        crate::harness::enc(CALLBACK)
    );
    let r = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(s.url(&url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    assert!(location.contains("error=invalid_request"), "{location}");
    assert!(location.contains("state=s1"), "{location}");
}

#[test]
fn signing_keys_never_reach_the_disk_in_the_clear() {
    // The server's own unit test shows a sealed key opens only with the
    // server key; here: nothing in the data directory (log, index,
    // snapshot, key files) parses as a P-256 or RSA PKCS#8 private key.
    let s = Server::start();
    let admin = s.admin_token(None);
    // An RS256 client makes the RS256 keys exist.
    s.create_client(
        &admin,
        serde_json::json!({"client_id": "rsa-rp", "client_name": "RSA", "redirect_uris": [CALLBACK], "id_token_signed_response_alg": "RS256"}),
    );
    let kinds: Value = s
        .get("/api/admin/keys")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let algs: Vec<&str> = kinds["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(
        algs.iter().filter(|a| **a == "RS256").count(),
        2,
        "{algs:?}"
    );
    let data = s.data.clone();
    let dir = s.stop();
    let mut found = Vec::new();
    for entry in walk(&data) {
        let bytes = std::fs::read(&entry).unwrap();
        // PKCS#8 of an EC key starts with SEQUENCE, version 0, and the
        // id-ecPublicKey algorithm identifier.
        // PKCS#8 of an RSA key: version 0 and rsaEncryption.
        let markers: [&[u8]; 2] = [
            &[
                0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
            ],
            &[
                0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
                0x01, 0x01,
            ],
        ];
        for marker in markers {
            if bytes.windows(marker.len()).any(|w| w == marker) {
                found.push(entry.display().to_string());
            }
        }
    }
    drop(dir);
    assert!(found.is_empty(), "PKCS#8 in {found:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// An authorization URL for `rp` with `extra` parameters.
fn authorize_url(extra: &str) -> String {
    format!(
        "/oauth/authorize?response_type=code&client_id=rp&redirect_uri={}&scope=openid%20profile&nonce=n1&state=s1&code_challenge=L_RgZLMHwLu7PZW2rUuis_dkaIz8tEBbwZrm7iX-wVk&code_challenge_method=S256{extra}",
        crate::harness::enc(CALLBACK)
    )
}

#[test]
fn prompt_and_max_age_decide_whether_a_page_is_shown() {
    let s = Server::start();
    relying_party_setup(&s);
    let browser = crate::browser::Browser::new(&s);
    let error_of = |page: &crate::browser::Page| page.location_param("error");

    // prompt=none without a session: login_required, no page.
    let page = browser.get(&authorize_url("&prompt=none"));
    assert_eq!(page.status, 302);
    assert_eq!(error_of(&page).as_deref(), Some("login_required"));
    assert_eq!(page.location_param("state").as_deref(), Some("s1"));

    // login_hint prefills the login form.
    let login = browser.get(&authorize_url("&login_hint=alice"));
    assert!(login.body.contains(r#"value="alice""#), "{}", login.body);

    // Signed in, never consented: prompt=none gets consent_required.
    let back = browser.login(&login, "alice", ALICE_PASSWORD);
    assert_eq!(back.status, 303);
    let page = browser.get(&authorize_url("&prompt=none"));
    assert_eq!(error_of(&page).as_deref(), Some("consent_required"));

    // After consent, prompt=none answers with a code and no page.
    let consent = browser.get(&authorize_url(""));
    assert_eq!(consent.status, 200);
    let done = browser.post(
        "/oauth/authorize",
        &[
            ("csrf", &consent.hidden("csrf")),
            ("request", &consent.hidden("request")),
            ("decision", "approve"),
        ],
    );
    assert!(done.location_param("code").is_some(), "{:?}", done.location);
    let silent = browser.get(&authorize_url("&prompt=none"));
    assert_eq!(silent.status, 302);
    assert!(
        silent.location_param("code").is_some(),
        "{:?}",
        silent.location
    );

    // prompt=consent shows the consent page although consent is remembered.
    let again = browser.get(&authorize_url("&prompt=consent"));
    assert_eq!(again.status, 200);
    assert!(again.body.contains("Allow"), "{}", again.body);

    // A generous max_age is met by the session; max_age=0 and prompt=login
    // need a new login, after which the request goes through.
    let recent = browser.get(&authorize_url("&max_age=3600"));
    assert!(
        recent.location_param("code").is_some(),
        "{:?}",
        recent.location
    );
    for extra in ["&max_age=0", "&prompt=login"] {
        let login = browser.get(&authorize_url(extra));
        assert_eq!(login.status, 200, "{extra}");
        assert!(login.body.contains("Sign in"), "{extra}: {}", login.body);
        let back = browser.login(&login, "alice", ALICE_PASSWORD);
        assert_eq!(back.status, 303);
        let done = browser.get(back.location.as_deref().unwrap());
        assert!(
            done.location_param("code").is_some(),
            "{extra}: {:?}",
            done.location
        );
    }
    // prompt=none with max_age=0 cannot be met without a page.
    let page = browser.get(&authorize_url("&prompt=none&max_age=0"));
    assert_eq!(error_of(&page).as_deref(), Some("login_required"));
}

#[test]
fn unsupported_openid_request_parameters_are_refused_with_their_codes() {
    let s = Server::start();
    relying_party_setup(&s);
    let browser = crate::browser::Browser::new(&s);
    for (extra, code) in [
        ("&claims=%7B%7D", "invalid_request"),
        ("&request=eyJhbGciOiJub25lIn0.e30.", "request_not_supported"),
        (
            "&request_uri=https%3A%2F%2Frp.example%2Fr",
            "request_uri_not_supported",
        ),
        ("&prompt=none%20login", "invalid_request"),
        ("&prompt=sometimes", "invalid_request"),
        ("&max_age=-1", "invalid_request"),
    ] {
        let page = browser.get(&authorize_url(extra));
        assert_eq!(page.status, 302, "{extra}");
        assert_eq!(
            page.location_param("error").as_deref(),
            Some(code),
            "{extra}"
        );
    }
    // ui_locales and id_token_hint are accepted and ignored.
    let page = browser.get(&authorize_url("&ui_locales=fr-CA%20en&id_token_hint=x.y.z"));
    assert_eq!(page.status, 200, "{}", page.body);
}

const SIGNED_OUT: &str = "http://127.0.0.1:9/signed-out";

/// Signs alice in with `browser` and returns her ID token.
fn id_token_of(s: &Server, browser: &crate::browser::Browser) -> String {
    let login = browser.get(&authorize_url(""));
    let back = browser.login(&login, "alice", ALICE_PASSWORD);
    assert_eq!(back.status, 303);
    let consent = browser.get(back.location.as_deref().unwrap());
    let tokens = approve_and_redeem(s, browser, &consent, "rp");
    tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no ID token: {tokens}"))
        .to_owned()
}

/// Approves `consent` (a consent page of an `authorize_url` request for
/// `client_id`) and redeems the code; returns the token response.
fn approve_and_redeem(
    s: &Server,
    browser: &crate::browser::Browser,
    consent: &crate::browser::Page,
    client_id: &str,
) -> Value {
    let done = browser.post(
        "/oauth/authorize",
        &[
            ("csrf", &consent.hidden("csrf")),
            ("request", &consent.hidden("request")),
            ("decision", "approve"),
        ],
    );
    let code = done.location_param("code").expect("a code");
    s.post("/oauth/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            // The verifier of the challenge in authorize_url.
            (
                "code_verifier",
                "dBjftJeZ4CVP-mJ92K1uAaN8IgNjzAVXFNmzq1Ru3sQ",
            ),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn rp_initiated_logout_ends_the_session_everywhere_and_returns_to_the_client() {
    let s = Server::start();
    relying_party_setup(&s);
    let admin = s.admin_token(None);
    let r = s
        .patch("/api/admin/oauth-clients/rp")
        .bearer_auth(&admin)
        .json(&serde_json::json!({"post_logout_redirect_uris": [SIGNED_OUT]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let browser = crate::browser::Browser::new(&s);
    let id_token = id_token_of(&s, &browser);
    let signed_in = browser.get(&authorize_url("&prompt=none"));
    assert!(signed_in.location_param("code").is_some(), "session works");

    // An unregistered post_logout_redirect_uri: an error page, no redirect,
    // and the session goes on.
    let logout = |uri: &str| {
        format!(
            "/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye",
            crate::harness::enc(uri)
        )
    };
    let refused = crate::browser::Browser::new(&s).get(&logout("https://evil.example/"));
    assert_eq!(refused.status, 400);
    assert!(refused.location.is_none());
    let refused = crate::browser::Browser::new(&s).get(&logout(&format!("{SIGNED_OUT}/")));
    assert_eq!(refused.status, 400, "exact match only");
    assert!(browser
        .get(&authorize_url("&prompt=none"))
        .location_param("code")
        .is_some());

    // The relying party logs out from another browser context with the
    // hint: back to it with its state, and alice's session is over.
    let done = crate::browser::Browser::new(&s).get(&logout(SIGNED_OUT));
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(&*format!("{SIGNED_OUT}?state=bye"))
    );
    let after = browser.get(&authorize_url("&prompt=none"));
    assert_eq!(
        after.location_param("error").as_deref(),
        Some("login_required")
    );

    // The log says who ended which session, for which client.
    let audit: Value = s
        .get("/api/audit/events?type=UserLoggedOut")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["items"][0]["summary"]["client_id"], "rp");
}

#[test]
fn logout_without_a_hint_asks_first() {
    let s = Server::start();
    relying_party_setup(&s);
    let browser = crate::browser::Browser::new(&s);
    id_token_of(&s, &browser);
    let page = browser.get("/oauth/logout?client_id=rp");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign out of authlog?"), "{}", page.body);
    // Still signed in until the user answers.
    assert!(browser
        .get(&authorize_url("&prompt=none"))
        .location_param("code")
        .is_some());
    let stay = browser.post(
        "/oauth/logout",
        &[
            ("csrf", &page.hidden("csrf")),
            ("client_id", "rp"),
            ("confirm", "no"),
        ],
    );
    assert_eq!(stay.status, 200);
    assert!(browser
        .get(&authorize_url("&prompt=none"))
        .location_param("code")
        .is_some());
    // A forged answer (no CSRF token) is refused.
    let forged = browser.post("/oauth/logout", &[("client_id", "rp"), ("confirm", "yes")]);
    assert_eq!(forged.status, 403);
    let page = browser.get("/oauth/logout?client_id=rp");
    let out = browser.post(
        "/oauth/logout",
        &[
            ("csrf", &page.hidden("csrf")),
            ("client_id", "rp"),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(out.status, 200);
    assert!(out.body.contains("signed out"), "{}", out.body);
    let after = browser.get(&authorize_url("&prompt=none"));
    assert_eq!(
        after.location_param("error").as_deref(),
        Some("login_required")
    );
}

#[test]
fn a_client_with_jwt_access_tokens_gets_rfc_9068_tokens_that_still_introspect_and_revoke() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let created = s.create_client(
        &admin,
        serde_json::json!({"client_id": "jwt-svc", "client_name": "JWT service", "grant_types": ["client_credentials"], "scope": "read", "access_token_format": "jwt"}),
    );
    assert_eq!(created["access_token_format"], "jwt");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let tokens: Value = s.token_basic("jwt-svc", &secret, None).json().unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();

    // Verified locally with the JWKS, as a resource server would.
    let header = jsonwebtoken::decode_header(&token).expect("a JWT");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = s.get("/oauth/jwks").send().unwrap().json().unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["http://127.0.0.1:8080"]);
    validation.set_issuer(&["http://127.0.0.1:8080"]);
    let claims = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("a valid RFC 9068 token")
    .claims;
    assert_eq!(claims["client_id"], "jwt-svc");
    assert_eq!(claims["sub"], "jwt-svc");
    assert_eq!(claims["scope"], "read");
    assert!(claims["jti"].is_string());

    // Introspection and revocation work for it as for an opaque token.
    assert_eq!(s.introspect("jwt-svc", &secret, &token)["active"], true);
    let revoked = s
        .post("/oauth/revoke")
        .basic_auth("jwt-svc", Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(s.introspect("jwt-svc", &secret, &token)["active"], false);

    // Back to opaque: the next token is not a JWT.
    let r = s
        .patch("/api/admin/oauth-clients/jwt-svc")
        .bearer_auth(&admin)
        .json(&serde_json::json!({"access_token_format": "opaque"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = s.token_basic("jwt-svc", &secret, None).json().unwrap();
    assert!(jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap()).is_err());
    // A format that does not exist is a 422 naming the field.
    let r = s
        .patch("/api/admin/oauth-clients/jwt-svc")
        .bearer_auth(&admin)
        .json(&serde_json::json!({"access_token_format": "paseto"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().unwrap()["field"], "access_token_format");
}

/// Verifies `token` against the server's JWKS by its `kid` (any algorithm
/// the key names) as a relying party would; returns its header and claims.
fn verify_with_jwks(s: &Server, token: &str, audience: &str) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(token).expect("a JWT");
    let jwks: jsonwebtoken::jwk::JwkSet = s.get("/oauth/jwks").send().unwrap().json().unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .unwrap_or_else(|| panic!("kid {:?} is not in the JWKS", header.kid));
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["http://127.0.0.1:8080"]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap_or_else(|e| panic!("{token} does not verify: {e}"))
    .claims;
    (header, claims)
}

/// A plain-HTTP receiver on loopback: every request's path and body, in
/// arrival order, each answered 200. Its thread ends with the test process.
fn logout_receiver() -> (u16, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, length) = loop {
                let Ok(n) = conn.read(&mut chunk) else {
                    break (0, 0);
                };
                if n == 0 {
                    break (0, 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (at + 4, length);
                }
            };
            while head_end > 0 && buf.len() < head_end + length {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let path = head.split(' ').nth(1).unwrap_or("").to_owned();
            let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send((path, body)).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

#[test]
fn back_channel_logout_sends_each_client_of_the_session_a_signed_logout_token() {
    let s = Server::start();
    relying_party_setup(&s);
    let admin = s.admin_token(None);
    let (port, received) = logout_receiver();
    let receiver = format!("http://127.0.0.1:{port}");
    let r = s
        .patch("/api/admin/oauth-clients/rp")
        .bearer_auth(&admin)
        .json(&serde_json::json!({"backchannel_logout_uri": format!("{receiver}/rp"), "backchannel_logout_session_required": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // A refused registration asking for RS256 makes no key.
    let refused = s
        .post("/api/admin/oauth-clients")
        .bearer_auth(&admin)
        .json(&serde_json::json!({"client_id": "bad", "client_name": "Bad", "redirect_uris": ["http://evil.example/cb"], "id_token_signed_response_alg": "RS256"}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 422);
    let algs = || -> Vec<String> {
        let keys: Value = s
            .get("/api/admin/keys")
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(algs(), ["ES256", "ES256"]);
    // A second client of the same session, with RS256 ID tokens, and a
    // third with no back-channel URI.
    for (id, extra) in [
        (
            "rp2",
            serde_json::json!({"backchannel_logout_uri": format!("{receiver}/rp2"), "id_token_signed_response_alg": "RS256"}),
        ),
        ("rp3", serde_json::json!({})),
    ] {
        let mut body = serde_json::json!({
            "client_id": id, "client_name": id, "token_endpoint_auth_method": "none",
            "redirect_uris": [CALLBACK], "grant_types": ["authorization_code"], "scope": "openid profile",
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let created = s.create_client(&admin, body);
        assert_eq!(
            created["id_token_signed_response_alg"],
            if id == "rp2" { "RS256" } else { "ES256" }
        );
    }
    // Bad settings are refused by field, and change nothing.
    for (field, value) in [
        ("backchannel_logout_uri", "http://rp.example/logout"),
        ("backchannel_logout_uri", "https://rp.example/logout#frag"),
        ("id_token_signed_response_alg", "HS256"),
    ] {
        let r = s
            .patch("/api/admin/oauth-clients/rp3")
            .bearer_auth(&admin)
            .json(&serde_json::json!({ field: value }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 422, "{field}={value}");
        assert_eq!(r.json::<Value>().unwrap()["field"], field);
    }

    let browser = crate::browser::Browser::new(&s);
    let id_token = id_token_of(&s, &browser);
    let (_, rp_claims) = verify_with_jwks(&s, &id_token, "rp");
    let sid = rp_claims["sid"].as_str().unwrap().to_owned();
    // rp2 and rp3 in the same browser session (consent, no login).
    let mut rs256_id_token = String::new();
    for id in ["rp2", "rp3"] {
        let url = authorize_url("").replace("client_id=rp&", &format!("client_id={id}&"));
        let consent = browser.get(&url);
        assert_eq!(consent.status, 200, "{}", consent.body);
        let tokens = approve_and_redeem(&s, &browser, &consent, id);
        let token = tokens["id_token"].as_str().unwrap().to_owned();
        let (header, claims) = verify_with_jwks(&s, &token, id);
        assert_eq!(claims["sid"], sid.as_str(), "one session");
        if id == "rp2" {
            assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
            rs256_id_token = token;
        } else {
            assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        }
    }
    assert!(!rs256_id_token.is_empty());
    assert_eq!(algs().iter().filter(|a| *a == "RS256").count(), 2);

    // rp ends the session: rp and rp2 each get one logout token (rp3 has
    // no URI), signed as their ID tokens are.
    let done =
        crate::browser::Browser::new(&s).get(&format!("/oauth/logout?id_token_hint={id_token}"));
    assert_eq!(done.status, 200, "{}", done.body);
    let mut got = std::collections::BTreeMap::new();
    for _ in 0..2 {
        let (path, body) = received
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a logout token within 10 s");
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
        got.insert(path, form["logout_token"].clone());
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["/rp", "/rp2"],
        "only the clients with a back-channel URI"
    );
    for (path, token) in &got {
        let client = &path[1..];
        let (header, claims) = verify_with_jwks(&s, token, client);
        assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
        let expected_alg = if client == "rp2" {
            jsonwebtoken::Algorithm::RS256
        } else {
            jsonwebtoken::Algorithm::ES256
        };
        assert_eq!(header.alg, expected_alg);
        assert_eq!(claims["sub"], rp_claims["sub"]);
        assert_eq!(claims["sid"], sid.as_str());
        assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
        assert!(claims.get("nonce").is_none());
        assert!(claims["jti"].is_string());
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    }
    // Ending an ended session sends nothing more.
    let again =
        crate::browser::Browser::new(&s).get(&format!("/oauth/logout?id_token_hint={id_token}"));
    assert_eq!(again.status, 200);
    assert!(received
        .recv_timeout(std::time::Duration::from_secs(2))
        .is_err());
}

#[test]
fn the_device_grant_and_its_refresh_return_id_tokens_when_openid_was_granted() {
    let s = Server::start();
    relying_party_setup(&s);
    let admin = s.admin_token(None);
    s.create_client(
        &admin,
        serde_json::json!({
            "client_id": "tv", "client_name": "Living-room TV", "token_endpoint_auth_method": "none",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            "scope": "openid profile", "refresh_token_enabled": true,
        }),
    );
    let started: Value = s
        .post("/oauth/device_authorization")
        .form(&[("client_id", "tv"), ("scope", "openid profile")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let browser = crate::browser::Browser::new(&s);
    let login = browser.get(&format!(
        "/oauth/device?user_code={}",
        started["user_code"].as_str().unwrap()
    ));
    let back = browser.login(&login, "alice", ALICE_PASSWORD);
    let consent = browser.get(back.location.as_deref().unwrap());
    let done = browser.post(
        "/oauth/device/decision",
        &[
            ("csrf", &consent.hidden("csrf")),
            ("user_code", &consent.hidden("user_code")),
            ("decision", "approve"),
        ],
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let tokens: Value = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "tv"),
            ("device_code", started["device_code"].as_str().unwrap()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no ID token: {tokens}"));
    let (_, claims) = verify_with_jwks(&s, id_token, "tv");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["azp"], "tv");
    assert!(claims["auth_time"].is_i64() && claims["sid"].is_string());
    assert!(
        claims.get("nonce").is_none(),
        "the device flow has no nonce"
    );
    assert_eq!(
        claims["at_hash"],
        authlog::signing::half_hash(tokens["access_token"].as_str().unwrap()).as_str()
    );

    let refreshed: Value = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "tv"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (_, again) = verify_with_jwks(&s, refreshed["id_token"].as_str().unwrap(), "tv");
    assert_eq!(again["sub"], claims["sub"]);
    assert_eq!(again["auth_time"], claims["auth_time"], "the same sign-in");
    assert_eq!(
        again["at_hash"],
        authlog::signing::half_hash(refreshed["access_token"].as_str().unwrap()).as_str()
    );
}
