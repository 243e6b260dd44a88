//! Upstream providers end to end, with a second authlog as the provider
//! (real HTTP on loopback, real code + PKCE, real refresh tokens): an
//! authorization request that needs the provider connects it first;
//! token exchange (RFC 8693) hands the user's upstream token to an
//! allowed client, and the provider's introspection says it is active;
//! expiry brings a background refresh; a revocation at the provider
//! leaves the connection `needs_reconnect`; a disconnect revokes at the
//! provider; deleting the user shreds the vault (no key the server has
//! opens their old events); no upstream token or secret is ever in the
//! data directory or the debug logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authlog::vault::key_store::RedbKeyStore;
use authlog::vault::Vault;
use authlog_events::{Event, EventLog, RedbStore};
use oauth2::PkceCodeChallenge;
use serde_json::{json, Value};

use crate::browser::{Browser, Page};
use crate::harness::{enc, Server};

const PASSWORD: &str = "a-long-password-123";
const APP_CALLBACK: &str = "http://127.0.0.1:9/cb";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn create_user(s: &Server, admin: &str, username: &str) -> String {
    let r = s
        .post("/api/admin/users")
        .bearer_auth(admin)
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Signs in on a login page (if shown) and approves the consent page (if
/// shown); returns the redirect that ends it.
fn through_login_and_consent(browser: &Browser, url: &str, username: &str) -> Page {
    let mut page = browser.get(url);
    if page.status == 200 && page.body.contains("Sign in") {
        let back = browser.login(&page, username, PASSWORD);
        assert_eq!(back.status, 303, "{}", back.body);
        page = browser.get(back.location.as_deref().unwrap());
    }
    if page.status != 200 {
        return page;
    }
    assert!(page.body.contains("Allow"), "{}", page.body);
    let (csrf, request) = (page.hidden("csrf"), page.hidden("request"));
    browser.post(
        "/oauth/authorize",
        &[
            ("csrf", csrf.as_str()),
            ("request", request.as_str()),
            ("decision", "approve"),
        ],
    )
}

/// The provider's side of a connection: from the redirect to the
/// provider to the redirect back to authlog's callback.
fn at_provider(up: &Browser, to_provider: &Page) -> String {
    assert_eq!(to_provider.status, 303, "{}", to_provider.body);
    let back = through_login_and_consent(up, to_provider.location.as_deref().unwrap(), "carol");
    let location = back.location.unwrap_or_else(|| panic!("{}", back.body));
    assert!(location.contains("/connect/up/callback?"), "{location}");
    location
}

/// Connects the signed-in (or now signing-in) user at `/connect/up`;
/// returns the page the callback ends on.
fn connect_directly(browser: &Browser, up_browser: &Browser, username: &str) -> Page {
    let mut page = browser.get("/connect/up");
    if page.status == 200 && page.body.contains("Sign in") {
        let back = browser.login(&page, username, PASSWORD);
        assert_eq!(back.status, 303, "{}", back.body);
        page = browser.get(back.location.as_deref().unwrap());
    }
    // Back at whichever replica this browser talks to (the issuer's
    // address may be another replica behind the same name).
    let callback = url::Url::parse(&at_provider(up_browser, &page)).unwrap();
    let done = browser.get(&format!(
        "{}?{}",
        callback.path(),
        callback.query().unwrap()
    ));
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("connected"), "{}", done.body);
    done
}

/// The `app` client's authorization request for `scope`.
fn app_authorize_url(challenge: &PkceCodeChallenge, scope: &str) -> String {
    format!(
        "/oauth/authorize?response_type=code&client_id=app&redirect_uri={}&scope={}&state=xyz&code_challenge={}&code_challenge_method=S256",
        enc(APP_CALLBACK),
        enc(scope),
        challenge.as_str()
    )
}

/// Redeems an `app` code.
fn app_token(s: &Server, code: &str, verifier: &oauth2::PkceCodeVerifier) -> String {
    let r: Value = s
        .post("/oauth/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", APP_CALLBACK),
            ("client_id", "app"),
            ("code_verifier", verifier.secret().as_str()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    r["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned()
}

/// The app client asking for the provider, on `s`.
fn app_client(s: &Server, admin: &str) {
    s.create_client(
        admin,
        json!({
            "client_id": "app", "client_name": "The App", "token_endpoint_auth_method": "none",
            "redirect_uris": [APP_CALLBACK], "grant_types": ["authorization_code"],
            "scope": "profile upstream:up", "access_token_ttl_seconds": 86400,
        }),
    );
}

/// The provider's client for authlog at `callback`, and an introspecting
/// resource server: (client secret, resource server secret).
fn provider_clients(up: &Server, up_admin: &str, callback: &str) -> (String, String) {
    let registered = up.create_client(
        up_admin,
        json!({
            "client_id": "authlog-main", "client_name": "authlog",
            "redirect_uris": [callback],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "profile", "refresh_token_enabled": true,
        }),
    );
    let (_, rs_secret) = up.service_client(up_admin, "up-rs", "profile");
    up.patch("/api/admin/oauth-clients/up-rs")
        .bearer_auth(up_admin)
        .json(&json!({"introspection_allowed": true}))
        .send()
        .unwrap();
    (
        registered["client_secret"].as_str().unwrap().to_owned(),
        rs_secret,
    )
}

/// Registers `up` as provider `up`, discovered from its issuer, with
/// `mcp` allowed to exchange.
fn register_provider(
    s: &Server,
    admin: &str,
    up: &Server,
    secret: &str,
) -> reqwest::blocking::Response {
    s.post("/api/admin/upstream-providers")
        .bearer_auth(admin)
        .json(&json!({
            "id": "up", "name": "Upstream", "issuer": up.base,
            "client_id": "authlog-main", "client_secret": secret,
            "scopes": ["profile"], "allowed_clients": ["mcp"],
        }))
        .send()
        .unwrap()
}

fn exchange(s: &Server, client: (&str, &str), subject: &str) -> reqwest::blocking::Response {
    s.post("/oauth/token")
        .basic_auth(enc(client.0), Some(enc(client.1)))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("audience", "up"),
        ])
        .send()
        .unwrap()
}

fn exchanged(s: &Server, client: (&str, &str), subject: &str) -> Value {
    let r = exchange(s, client, subject);
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    body
}

fn refused(r: reqwest::blocking::Response) -> Value {
    assert_eq!(r.status(), 400);
    r.json().unwrap()
}

fn events_of_type(s: &Server, admin: &str, kind: &str) -> Vec<Value> {
    let page: Value = s
        .get(&format!("/api/audit/events?type={kind}&limit=100"))
        .bearer_auth(admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .clone()
}

/// Every upstream token the vault holds for the user, opened with the
/// server's keys (the server must be stopped: the key store is locked).
fn open_vault_events(data: &std::path::Path, user: &str) -> (usize, Vec<String>) {
    let vault = Vault::open(data, None, Arc::new(RedbKeyStore::open(data).unwrap())).unwrap();
    let log = RedbStore::open_read_only(data.join("authlog.redb")).unwrap();
    let user: uuid::Uuid = user.parse().unwrap();
    let mut sealed = 0;
    let mut opened = Vec::new();
    for record in log.read_all(0, usize::MAX).unwrap() {
        if let Event::UpstreamConnected {
            user_id,
            provider_id,
            key_id,
            sealed_tokens,
            ..
        }
        | Event::UpstreamTokensRefreshed {
            user_id,
            provider_id,
            key_id,
            sealed_tokens,
            ..
        } = &record.payload
        {
            if *user_id != user {
                continue;
            }
            sealed += 1;
            if let Ok(tokens) = vault.open_connection(*key_id, user_id, provider_id, sealed_tokens)
            {
                opened.push(tokens.access_token);
                opened.extend(tokens.refresh_token);
            }
        }
    }
    (sealed, opened)
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn users_connect_providers_and_allowed_clients_get_their_tokens_by_exchange() {
    // The provider: another authlog, with carol and a client for authlog.
    let up = Server::start_as_issuer(&[]);
    let up_admin = up.admin_token(None);
    create_user(&up, &up_admin, "carol");
    let s = Server::start_as_issuer(&[("AUTHLOG_LOG", "debug")]);
    let admin = s.admin_token(None);
    let (upstream_secret, up_rs_secret) =
        provider_clients(&up, &up_admin, &s.url("/connect/up/callback"));
    let active_upstream =
        |token: &str| up.introspect("up-rs", &up_rs_secret, token)["active"] == json!(true);

    // The provider, discovered from its issuer; the secret never comes back.
    let r = register_provider(&s, &admin, &up, &upstream_secret);
    assert_eq!(r.status(), 201);
    let text = r.text().unwrap();
    assert!(!text.contains(&upstream_secret), "{text}");
    let provider: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(provider["token_url"], up.url("/oauth/token"));
    assert_eq!(provider["revocation_url"], up.url("/oauth/revoke"));
    assert_eq!(provider["callback_url"], s.url("/connect/up/callback"));
    assert_eq!(provider["client_secret_set"], true);
    assert_eq!(
        provider["token_endpoint_auth_method"],
        "client_secret_basic"
    );

    // dave, an app that asks for the provider, the MCP server allowed to
    // exchange, and a confidential client that is not.
    let dave = create_user(&s, &admin, "dave");
    app_client(&s, &admin);
    let (_, mcp_secret) = s.service_client(&admin, "mcp", "profile");
    let mcp = ("mcp", mcp_secret.as_str());
    let (_, other_secret) = s.service_client(&admin, "other", "profile");

    // dave authorizes the app for the provider: authlog sends him to
    // connect it first, then back to the same request.
    let (browser, up_browser) = (Browser::new(&s), Browser::new(&up));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let authorize = |scope: &str| app_authorize_url(&challenge, scope);
    let to_provider =
        through_login_and_consent(&browser, &authorize("profile upstream:up"), "dave");
    assert!(
        to_provider
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with(&up.url("/oauth/authorize?"))),
        "{:?}",
        to_provider.location
    );
    let consent = browser.get(&authorize("profile upstream:up"));
    assert!(
        consent
            .body
            .contains("use your <strong>Upstream</strong> account"),
        "{}",
        consent.body
    );
    let callback = at_provider(&up_browser, &to_provider);
    let back = browser.get(&callback);
    assert_eq!(back.status, 303, "{}", back.body);
    let done = through_login_and_consent(&browser, back.location.as_deref().unwrap(), "dave");
    let code = done
        .location_param("code")
        .unwrap_or_else(|| panic!("{:?}", done.location));
    let token = |code: &str| app_token(&s, code, &verifier);
    let subject = token(&code);

    // dave's connections, and the admin's view: no token in either.
    let mine: Value = s
        .get("/api/me/connections")
        .bearer_auth(&subject)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(mine["items"][0]["provider_id"], "up");
    assert_eq!(mine["items"][0]["status"], "active");
    assert_eq!(mine["items"][0]["scopes"], json!(["profile"]));

    // The hand-off: the upstream token works at the provider.
    let first = exchanged(&s, mcp, &subject);
    let first_token = first["access_token"].as_str().unwrap().to_owned();
    assert!(active_upstream(&first_token));
    assert!(first["expires_in"].as_i64().unwrap() > 3000);
    let handoffs = events_of_type(&s, &admin, "UpstreamTokenHandedOff");
    assert_eq!(handoffs[0]["client_id"], "mcp");
    assert_eq!(handoffs[0]["summary"]["user_id"], json!(dave));

    // Refusals: a client not allowed, a subject token without the scope,
    // a public client, a token that is not a token.
    let body = refused(exchange(&s, ("other", &other_secret), &subject));
    assert_eq!(body["error"], "unauthorized_client");
    let public = s
        .post("/oauth/token")
        .form(&[
            ("client_id", "app"),
            ("grant_type", EXCHANGE),
            ("subject_token", subject.as_str()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("audience", "up"),
        ])
        .send()
        .unwrap();
    assert_eq!(refused(public)["error"], "unauthorized_client");
    let narrow_code = {
        let page = browser.get(&authorize("profile"));
        let page = if page.status == 200 {
            through_login_and_consent(&browser, &authorize("profile"), "dave")
        } else {
            page
        };
        page.location_param("code").unwrap()
    };
    let narrow = token(&narrow_code);
    let body = refused(exchange(&s, mcp, &narrow));
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("upstream:up"));
    assert_eq!(
        refused(exchange(&s, mcp, "alat_not-a-token"))["error"],
        "invalid_request"
    );
    let admin_view: Value = s
        .get(&format!("/api/admin/users/{dave}/connections"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(admin_view["items"][0]["last_handoff"]["client_id"], "mcp");
    let per_provider: Value = s
        .get("/api/admin/upstream-providers/up")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(per_provider["activity"]["handoffs"], 1);
    assert_eq!(per_provider["connections"]["active"], 1);

    // Near expiry, the background refresh gets a new token.
    let s = s.restart_in_place(&[
        ("AUTHLOG_LOG", "debug"),
        ("AUTHLOG_CLOCK_SKEW_SECONDS", "3500"),
        ("AUTHLOG_UPSTREAM_REFRESH_INTERVAL_SECONDS", "1"),
    ]);
    wait_for("a background refresh", || {
        !events_of_type(&s, &admin, "UpstreamTokensRefreshed").is_empty()
    });
    let refreshed = events_of_type(&s, &admin, "UpstreamTokensRefreshed");
    assert_eq!(
        refreshed[0]["actor"]["principal"], "system",
        "{}",
        refreshed[0]
    );
    let second = exchanged(&s, mcp, &subject);
    let second_token = second["access_token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, first_token);
    assert!(active_upstream(&second_token));

    // The server's keys open what the vault holds (so the shredding check
    // below can fail): the refreshed token is in there.
    let later = [
        ("AUTHLOG_LOG", "debug"),
        ("AUTHLOG_CLOCK_SKEW_SECONDS", "7200"),
    ];
    let (s, (sealed, mut upstream_values)) =
        s.restart_in_place_after(&later, |data| open_vault_events(data, &dave));
    assert!(sealed >= 2, "{sealed} sealed events");
    assert!(
        upstream_values.contains(&second_token),
        "the vault opens with the server's keys"
    );

    // The provider revokes everything it gave authlog: the next refresh
    // is refused and the connection needs a reconnect.
    let r = up
        .post("/api/admin/oauth-clients/authlog-main/tokens/revoke-all")
        .bearer_auth(&up_admin)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(!active_upstream(&second_token));
    let body = refused(exchange(&s, mcp, &subject));
    assert_eq!(body["error"], "invalid_target");
    assert_eq!(body["connect_uri"], s.url("/connect/up"));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{body}"
    );
    let mine: Value = s
        .get("/api/me/connections")
        .bearer_auth(&subject)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(mine["items"][0]["status"], "needs_reconnect");
    assert!(mine["items"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("invalid_grant"));

    // Reconnecting (at /connect/up) makes it work again.
    connect_directly(&browser, &up_browser, "dave");
    let third = exchanged(&s, mcp, &subject);
    let third_token = third["access_token"].as_str().unwrap().to_owned();
    assert!(active_upstream(&third_token));

    // Disconnecting revokes at the provider; then the exchange says where
    // to send the user.
    let r = s
        .delete("/api/me/connections/up")
        .bearer_auth(&subject)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(!active_upstream(&third_token));
    let body = refused(exchange(&s, mcp, &subject));
    assert_eq!(body["error"], "invalid_target");
    assert_eq!(body["connect_uri"], s.url("/connect/up"));
    // (The admin token from before the clock moved on has expired.)
    let admin = s.admin_token(None);
    let disconnects = events_of_type(&s, &admin, "UpstreamDisconnected");
    assert_eq!(disconnects[0]["summary"]["reason"], "by_user");

    // Connect once more, then delete dave: the vault is shredded.
    connect_directly(&browser, &up_browser, "dave");
    let fourth = exchanged(&s, mcp, &subject);
    let fourth_token = fourth["access_token"].as_str().unwrap().to_owned();
    let (s, (_, opened)) = s.restart_in_place_after(&later, |data| open_vault_events(data, &dave));
    assert!(
        opened.contains(&fourth_token),
        "the live connection opens before deletion"
    );
    upstream_values.extend(opened);
    let r = s
        .delete(&format!("/api/admin/users/{dave}"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(!active_upstream(&fourth_token), "revoked at the provider");
    assert_eq!(
        s.get(&format!("/api/admin/users/{dave}"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .status(),
        404
    );
    let data = s.data.clone();
    let logs_path = data.with_extension("stderr.log");
    let _dir = s.stop();
    let (sealed, opened) = open_vault_events(&data, &dave);
    assert!(sealed >= 4, "{sealed} sealed events of dave in the log");
    assert!(
        opened.is_empty(),
        "a deleted user's vault events still open"
    );

    // No upstream token, refresh token or client secret anywhere on disk
    // or in the debug logs.
    upstream_values.extend([
        upstream_secret.clone(),
        first_token,
        second_token,
        third_token,
        fourth_token,
    ]);
    let mut haystacks = vec![("logs".to_owned(), std::fs::read(&logs_path).unwrap())];
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != "vault-key") {
            haystacks.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(haystacks
        .iter()
        .any(|(n, _)| n.ends_with("projections.snapshot")));
    for value in &upstream_values {
        let body = &value.as_bytes()[value.len() / 2..];
        for (name, haystack) in &haystacks {
            assert!(
                !haystack.windows(body.len()).any(|w| w == body),
                "{name} contains an upstream token or secret"
            );
        }
    }
}

fn role(s: &Server) -> Value {
    let ready: Value = s.get("/readyz").send().unwrap().json().unwrap();
    ready["replication"]["role"].clone()
}

#[test]
fn on_postgresql_any_replica_connects_and_the_next_leader_opens_the_vault() {
    let Some(db) = crate::pg::TestDb::create("upstream_on_replicas") else {
        return;
    };
    let up = Server::start_as_issuer(&[]);
    let up_admin = up.admin_token(None);
    create_user(&up, &up_admin, "carol");
    let shared = crate::replicas::replica_env(&db);
    // a is the issuer's address; b answers as the same issuer.
    let a = Server::start_as_issuer(&shared);
    let mut with_issuer = shared.to_vec();
    with_issuer.push(("AUTHLOG_ISSUER", &a.base));
    let b = Server::start_with(&with_issuer);
    let (upstream_secret, up_rs_secret) =
        provider_clients(&up, &up_admin, &a.url("/connect/up/callback"));
    crate::replicas::leader_of(&[&a, &b]);
    let admin = b.admin_token(None);
    let r = register_provider(&b, &admin, &up, &upstream_secret);
    assert_eq!(r.status(), 201);
    create_user(&b, &admin, "dave");
    app_client(&b, &admin);
    let (_, mcp_secret) = b.service_client(&admin, "mcp", "profile");
    let mcp = ("mcp", mcp_secret.as_str());

    // dave connects through a, whichever replica leads, and gets a token
    // for the app.
    let (browser, up_browser) = (Browser::new(&a), Browser::new(&up));
    connect_directly(&browser, &up_browser, "dave");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let done = through_login_and_consent(
        &browser,
        &app_authorize_url(&challenge, "profile upstream:up"),
        "dave",
    );
    let code = done
        .location_param("code")
        .unwrap_or_else(|| panic!("{:?} {}", done.location, done.body));
    let subject = app_token(&a, &code, &verifier);
    let first = exchanged(&b, mcp, &subject);
    assert_eq!(
        up.introspect(
            "up-rs",
            &up_rs_secret,
            first["access_token"].as_str().unwrap()
        )["active"],
        true
    );

    // The leader dies; the other replica leads and opens the same vault.
    let (survivor, dead) = if role(&a) == "leader" { (b, a) } else { (a, b) };
    let _ = dead.kill9();
    let deadline = Instant::now() + Duration::from_secs(20);
    while role(&survivor) != "leader" {
        assert!(Instant::now() < deadline, "no new leader");
        std::thread::sleep(Duration::from_millis(100));
    }
    let again = exchanged(&survivor, mcp, &subject);
    assert_eq!(again["access_token"], first["access_token"]);

    // A disconnect there revokes at the provider and deletes the data key
    // from the shared key table.
    let keys = || {
        authlog_events::PgStore::open_existing(&db.url)
            .unwrap()
            .vault_key_ids()
            .unwrap()
    };
    assert_eq!(keys().len(), 1);
    let r = survivor
        .delete("/api/me/connections/up")
        .bearer_auth(&subject)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        up.introspect(
            "up-rs",
            &up_rs_secret,
            first["access_token"].as_str().unwrap()
        )["active"],
        false
    );
    assert!(keys().is_empty());

    // Deleting the provider ends a new connection the same way.
    let browser = Browser::new(&survivor);
    connect_directly(&browser, &up_browser, "dave");
    let last = exchanged(&survivor, mcp, &subject);
    let last = last["access_token"].as_str().unwrap();
    assert_eq!(keys().len(), 1);
    let admin = survivor.admin_token(None);
    let r = survivor
        .delete("/api/admin/upstream-providers/up")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(up.introspect("up-rs", &up_rs_secret, last)["active"], false);
    assert!(keys().is_empty());
    let body = refused(exchange(&survivor, mcp, &subject));
    assert_eq!(body["error"], "invalid_target");
}

#[test]
fn providers_are_edited_under_if_match_and_a_callback_is_checked_before_anything_is_stored() {
    let s = Server::start_as_issuer(&[]);
    let admin = s.admin_token(None);
    let r = s
        .post("/api/admin/upstream-providers")
        .bearer_auth(&admin)
        .json(&json!({
            "id": "up", "name": "Upstream",
            "authorization_url": "https://up.example.com/authorize",
            "token_url": "https://up.example.com/token",
            "client_id": "authlog", "client_secret": "upstream-secret",
            "scopes": ["repo"], "authorization_params": {"prompt": "consent"},
        }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let edit = |if_match: &str, body: Value| {
        s.patch("/api/admin/upstream-providers/up")
            .bearer_auth(&admin)
            .header("If-Match", if_match)
            .json(&body)
            .send()
            .unwrap()
    };
    // An edit keeps what it does not send, the secret included.
    let r = edit(
        &etag,
        json!({"name": "Renamed", "allowed_clients": ["mcp"]}),
    );
    assert_eq!(r.status(), 200);
    let edited: Value = r.json().unwrap();
    assert_eq!(edited["name"], "Renamed");
    assert_eq!(edited["scopes"], json!(["repo"]));
    assert_eq!(edited["authorization_params"], json!({"prompt": "consent"}));
    assert_eq!(edited["client_secret_set"], true);
    assert_eq!(edited["allowed_clients"], json!(["mcp"]));
    // A stale version is refused and changes nothing.
    assert_eq!(edit(&etag, json!({"name": "Stale"})).status(), 412);
    // Switching to a public client drops the secret.
    let etag = format!("\"{}\"", edited["version"]);
    let public: Value = edit(&etag, json!({"token_endpoint_auth_method": "none"}))
        .json()
        .unwrap();
    assert_eq!(public["client_secret_set"], false);
    assert_eq!(public["name"], "Renamed");

    // The callback: an unknown state stores nothing; an error from the
    // provider is recorded; the attempt cannot be finished twice.
    let erin = create_user(&s, &admin, "erin");
    let browser = Browser::new(&s);
    let login = browser.get("/connect/up");
    let back = browser.login(&login, "erin", PASSWORD);
    let to_provider = browser.get(back.location.as_deref().unwrap());
    assert_eq!(to_provider.status, 303);
    assert!(to_provider
        .location
        .as_deref()
        .unwrap()
        .starts_with("https://up.example.com/authorize?"));
    assert_eq!(
        to_provider.location_param("prompt").as_deref(),
        Some("consent")
    );
    assert_eq!(
        to_provider
            .location_param("code_challenge_method")
            .as_deref(),
        Some("S256")
    );
    let state = to_provider.location_param("state").unwrap();
    let failures = || events_of_type(&s, &admin, "UpstreamFailed").len();
    let wrong = browser.get("/connect/up/callback?state=forged&code=x");
    assert_eq!(wrong.status, 400);
    assert_eq!(failures(), 0);
    let denied = browser.get(&format!(
        "/connect/up/callback?state={}&error=access_denied",
        enc(&state)
    ));
    assert_eq!(denied.status, 400);
    assert!(denied.body.contains("access_denied"), "{}", denied.body);
    let recorded = events_of_type(&s, &admin, "UpstreamFailed");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["summary"]["stage"], "connect");
    assert_eq!(recorded[0]["summary"]["user_id"], json!(erin));
    let again = browser.get(&format!(
        "/connect/up/callback?state={}&code=x",
        enc(&state)
    ));
    assert_eq!(again.status, 400);
    assert!(
        again.body.contains("unknown or has expired"),
        "{}",
        again.body
    );
    assert_eq!(failures(), 1);
    let mine: Value = s
        .get(&format!("/api/admin/users/{erin}/connections"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(mine["items"], json!([]));
}
