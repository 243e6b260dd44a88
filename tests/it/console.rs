//! The admin console (`/console`): how it is served (CSP, `GET /` for a
//! browser, the callback provisioned on old data dirs), and the console
//! driven in headless Chromium the way a person uses it: sign in through
//! the login and consent pages, create a client and use its secret, pause
//! and resume it, rotate and delete by typing its name, a stale edit, token
//! revocation, bulk delete, the audit timeline, sign out, and what an
//! auditor and a member see. No console error and no CSP violation may
//! appear in the browser's log.

use std::path::PathBuf;

use calamine::Reader;
use serde_json::{json, Value};

use crate::harness::Server;
use crate::webdriver::{chromedriver_or_skip, Web};

const PASSWORD: &str = "console-admin-password-1";
/// An error the test logs itself, to prove the browser log is read.
const PROBE: &str = "authlog-console-test-probe";

/// Where screenshots go: `AUTHLOG_CONSOLE_SCREENSHOTS`, when set.
fn screenshot(web: &Web, name: &str) {
    if let Some(dir) = std::env::var_os("AUTHLOG_CONSOLE_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        web.screenshot(&dir.join(format!("{name}.png")));
    }
}

#[test]
fn the_console_is_served_with_a_strict_csp_and_browsers_are_sent_there() {
    let s = Server::start();
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(s.url("/"))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console");
    // Not a browser: the JSON answer as before.
    let r = http
        .get(s.url("/"))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("json"));

    for path in [
        "/console",
        "/console/clients/some-id",
        "/console/callback?code=x",
    ] {
        let r = http.get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let body = r.text().unwrap();
        assert!(
            body.contains(r#"<script type="module" src="/console/assets/app.js">"#),
            "{body}"
        );
        // No inline script: every script element has a src.
        assert_eq!(
            body.matches("<script").count(),
            body.matches("<script type=\"module\" src=").count()
        );
    }
    let r = http.get(s.url("/console/assets/app.js")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(r.text().unwrap().contains("completeSignIn"));
    let r = http.get(s.url("/console/assets/nope.js")).send().unwrap();
    assert_eq!(r.status(), 404);
    // The console client redirects to the callback under the issuer.
    let admin = s.admin_token(None);
    let console: Value = s
        .get("/api/admin/oauth-clients/authlog-console")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        console["redirect_uris"][0],
        "http://127.0.0.1:8080/console/callback"
    );
}

#[test]
fn an_existing_data_dir_gains_the_console_callback_by_an_event() {
    let s = Server::start_with(&[("AUTHLOG_ISSUER", "https://old.example.com")]);
    let s = s.restart_with(&[("AUTHLOG_ISSUER", "https://id.example.com")]);
    let admin = s.admin_token(None);
    let console: Value = s
        .get("/api/admin/oauth-clients/authlog-console")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let uris: Vec<&str> = console["redirect_uris"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        uris.contains(&"https://id.example.com/console/callback"),
        "{uris:?}"
    );
    assert!(
        uris.contains(&"https://old.example.com/console/callback"),
        "{uris:?}"
    );
    let events: Value = s
        .get("/api/audit/events?client_id=authlog-console&type=ClientUpdated")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["actor"]["principal"], "system");
    // A third start with the same issuer adds nothing.
    let s = s.restart_with(&[("AUTHLOG_ISSUER", "https://id.example.com")]);
    let admin = s.admin_token(None);
    let events: Value = s
        .get("/api/audit/events?client_id=authlog-console&type=ClientUpdated")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
}

/// Signs in at the login page and allows the console at the consent page.
fn sign_in(web: &Web, username: &str, password: &str) {
    web.fill("#username", username);
    web.fill("#password", password);
    web.click("button[type=submit]");
    web.click("button[name=decision][value=approve]");
}

fn create_user(s: &Server, admin: &str, username: &str, role: &str) {
    let r = s
        .post("/api/admin/users")
        .bearer_auth(admin)
        .json(&json!({ "username": username, "display_name": username, "password": PASSWORD, "roles": [role] }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
}

fn client_status(s: &Server, admin: &str, id: &str) -> u16 {
    s.get(&format!("/api/admin/oauth-clients/{id}"))
        .bearer_auth(admin)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn cc_token(s: &Server, id: &str, secret: &str) -> String {
    let r = s.token_basic(id, secret, None);
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Controls of the page without an accessible name (a label, an
/// `aria-label`, or a button's text).
fn unlabelled(web: &Web) -> Vec<String> {
    let found = web.script(
        "return [...document.querySelectorAll('input, select, textarea, button')]
           .filter(el => el.type !== 'hidden')
           .filter(el => el.tagName === 'BUTTON'
             ? !(el.textContent.trim() || el.getAttribute('aria-label'))
             : !((el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')))
           .map(el => el.outerHTML.slice(0, 160));",
    );
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Browser log entries that are errors: everything at SEVERE, except the
/// 4xx answers these tests provoke on purpose (422, 412 and 409, which the
/// console shows, and the 401 of a revoked access token, which it
/// refreshes), and every CSP report whatever its level.
fn errors(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|e| {
            let message = e["message"].as_str().unwrap_or("");
            let expected = e["source"] == "network"
                && [
                    "status of 422",
                    "status of 412",
                    "status of 409",
                    "status of 401",
                ]
                .iter()
                .any(|status| message.contains(status));
            message.contains("Content Security Policy") || (e["level"] == "SEVERE" && !expected)
        })
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn the_console_in_a_browser() {
    let Some(chromedriver) = chromedriver_or_skip("the_console_in_a_browser") else {
        return;
    };
    // Failed authentications reach the log within a second.
    let s = Server::start_as_issuer(&[
        ("AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
        ("AUTHLOG_USAGE_FLUSH_SECONDS", "1"),
    ]);
    let admin = s.admin_token(None);
    // A resource server that may introspect any token.
    let rs = s.create_client(
        &admin,
        json!({ "client_id": "rs", "client_name": "resource server", "grant_types": ["client_credentials"], "introspection_allowed": true }),
    );
    let rs_secret = rs["client_secret"].as_str().unwrap().to_owned();
    let downloads = tempfile::tempdir().unwrap();
    let mut web = Web::start(&chromedriver, downloads.path());

    // A browser at / lands in the console, signs in through authlog's pages.
    web.goto(&s.url("/"));
    web.wait("#username");
    assert!(web.url().contains("/oauth/authorize?"), "{}", web.url());
    assert!(web.url().contains("code_challenge_method=S256"));
    sign_in(&web, "admin", PASSWORD);
    web.wait_path("/console/clients");
    assert_eq!(web.text("#whoami"), "admin");
    assert_eq!(web.text("#role-badge"), "admin");
    web.wait_text("#clients-table", "authlog-console");
    web.wait_text(
        "#clients-table tr[data-client-id=authlog-console]",
        "default",
    );
    assert_eq!(unlabelled(&web), Vec::<String>::new(), "the list");
    // (The check sees an unlabelled control.)
    web.script("const i = document.createElement('input'); i.id = 'probe'; document.body.append(i); return null;");
    assert_eq!(unlabelled(&web).len(), 1);
    web.script("document.getElementById('probe').remove(); return null;");
    // The CSP holds in the browser: an inline script is refused, and the
    // refusal is reported in the log these tests check.
    web.script("const s = document.createElement('script'); s.textContent = 'window.inlineRan = true;'; document.head.append(s); return null;");
    assert_eq!(
        web.script("return window.inlineRan === true;"),
        json!(false)
    );
    let refused = errors(&web.take_log());
    assert!(
        refused
            .iter()
            .any(|e| e.contains("Content Security Policy")),
        "no CSP report for an inline script: {refused:?}"
    );
    web.script(&format!("console.error('{PROBE}'); return null;"));
    // Nothing was stored but the PKCE state during the redirect, and it is gone.
    assert_eq!(
        web.script("return localStorage.length + sessionStorage.length;"),
        json!(0)
    );

    // The export buttons download the list; the workbook opens and holds it.
    web.click("#export-xlsx");
    let xlsx = web.downloaded(downloads.path(), "oauth-clients.xlsx");
    let mut book: calamine::Xlsx<_> =
        calamine::Xlsx::new(std::io::Cursor::new(xlsx)).expect("an xlsx workbook");
    let sheet = book.worksheet_range("OAuth clients").unwrap();
    let ids: Vec<String> = sheet.rows().skip(1).map(|r| r[0].to_string()).collect();
    assert!(ids.contains(&"authlog-console".to_owned()), "{ids:?}");
    web.click("#export-pdf");
    let pdf = web.downloaded(downloads.path(), "oauth-clients.pdf");
    let doc = lopdf::Document::load_mem(&pdf).expect("a PDF");
    let text = doc.extract_text(&[1]).unwrap();
    assert!(text.contains("authlog console"), "{text}");

    // Create: a server error shows next to its field; then the secret once.
    // By keyboard: Enter on the focused link opens the form.
    web.type_in("#new-client", "\u{E007}");
    web.wait_path("/console/clients/new");
    web.wait("#client_name");
    assert_eq!(
        web.script("return document.activeElement.id;"),
        json!("client_name")
    );
    assert_eq!(unlabelled(&web), Vec::<String>::new(), "the create form");
    web.fill("#client_name", "Billing service");
    web.click("#grant-authorization-code");
    web.click("#grant-client-credentials");
    web.fill("#scope", "reports:read");
    web.fill("#access_token_ttl_seconds", "30");
    web.click("#save-client");
    web.wait_text("#error-access_token_ttl_seconds", "between 60");
    web.fill("#access_token_ttl_seconds", "600");
    // A lifetime over 30 days warns inline.
    web.click("#grant-refresh-token");
    web.fill("#refresh_token_ttl_days", "60");
    web.wait_text("#refresh-warning", "30 to 90 days");
    assert_eq!(
        web.text("#error-access_token_ttl_seconds"),
        "",
        "a fixed field keeps its error"
    );
    web.script(
        "document.querySelector('#field-access_token_ttl_seconds').scrollIntoView(); return null;",
    );
    screenshot(&web, "console-create");
    web.click("#grant-refresh-token");
    web.click("#save-client");
    let secret = web.text("#secret-value");
    assert!(secret.starts_with("alcs_"), "{secret}");
    assert!(web.text(".secret-box").contains("will not be shown again"));
    let id = web.text("#created-client-id");
    let token = cc_token(&s, &id, &secret);
    assert_eq!(s.token_basic(&id, "alcs_wrong", None).status(), 401);
    assert_eq!(s.introspect("rs", &rs_secret, &token)["active"], true);

    // Pause from the toggle: its token introspects inactive. Then resume.
    web.click("#open-created");
    web.wait_text("#client-title", "Billing service");
    web.wait_text("#tokens-table", "access");
    web.click("#status-toggle");
    web.click("#confirm-ok");
    web.wait_text("#status-toggle", "Paused");
    assert_eq!(s.introspect("rs", &rs_secret, &token)["active"], false);
    web.click("#status-toggle");
    web.click("#confirm-ok");
    web.wait_text("#status-toggle", "Active");

    web.click("#edit summary");
    assert_eq!(unlabelled(&web), Vec::<String>::new(), "a client's page");
    web.click("#edit summary");
    // Rotate: the button waits for the exact name.
    web.click("#rotate-secret");
    assert_eq!(
        web.script("return document.activeElement.closest('dialog') !== null && document.activeElement.tagName;"),
        json!("INPUT"),
        "the dialog takes the focus"
    );
    assert_eq!(unlabelled(&web), Vec::<String>::new(), "the rotate dialog");
    web.type_in("dialog input[type=text]", "Billing");
    assert!(!web.enabled("#confirm-ok"));
    web.type_in("dialog input[type=text]", " service");
    assert!(web.enabled("#confirm-ok"));
    web.click("#confirm-ok");
    let rotated = web.text("#rotated #secret-value");
    assert_ne!(rotated, secret);
    let token2 = cc_token(&s, &id, &rotated);

    // Revoke one token from the tokens table.
    web.goto(&s.url(&format!("/console/clients/{id}")));
    let row = "#tokens-table tr[data-token-id] button";
    web.wait(row);
    let before =
        web.script("return document.querySelectorAll('#tokens-table tr[data-token-id]').length;");
    assert!(before.as_u64().unwrap() >= 1);
    web.click(row);
    web.wait_text("#tokens-message", "Token revoked");
    let revoked = [&token, &token2]
        .iter()
        .filter(|t| s.introspect("rs", &rs_secret, t)["active"] == false)
        .count();
    assert!(revoked >= 1, "no token was revoked");

    // A stale edit: someone else edits between reading and saving.
    web.click("#edit summary");
    web.fill("#client_name", "Billing service 2");
    let current = s
        .get(&format!("/api/admin/oauth-clients/{id}"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    let etag = current.headers()["etag"].to_str().unwrap().to_owned();
    let r = s
        .patch(&format!("/api/admin/oauth-clients/{id}"))
        .bearer_auth(&admin)
        .header("If-Match", etag)
        .json(&json!({ "description": "changed elsewhere" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    web.click("#save-client");
    web.wait_text("#form-message", "412");
    web.click("#reload-client");
    web.wait_text("#settings", "changed elsewhere");
    web.wait_text("#failed-auth", "AuthenticationFailures");

    // The audit timeline lists what the signed-in user did, newest first.
    let timeline = web.wait_text("#timeline", "ClientSecretRotated");
    for kind in [
        "ClientRegistered",
        "ClientPaused",
        "ClientResumed",
        "ClientSecretRotated",
        "TokenRevoked",
    ] {
        assert!(timeline.contains(kind), "{kind} missing from {timeline}");
    }
    let by_admin = web.script(
        "return [...document.querySelectorAll('#timeline li')].filter(li => /^Client(Paused|Resumed|SecretRotated|Registered)$/.test(li.dataset.type)).map(li => li.querySelector('.actor').textContent);",
    );
    let actors: Vec<&str> = by_admin
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(actors.len() >= 4, "{actors:?}");
    assert!(actors.iter().all(|a| *a == "admin"), "{actors:?}");
    let positions = web.script("return [...document.querySelectorAll('#timeline li')].map(li => Number(li.dataset.position));");
    let positions: Vec<u64> = positions
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    assert!(
        positions.len() >= 6 && positions.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {positions:?}"
    );

    web.resize(1280, 1700);
    screenshot(&web, "console-detail");
    web.resize(1280, 900);

    // Delete by typing the name.
    web.click("#delete-client");
    web.type_in("dialog input[type=text]", "Billing service");
    web.click("#confirm-ok");
    web.wait_path("/console/clients");
    web.wait_text("#list-message", "Deleted Billing service");
    assert_eq!(client_status(&s, &admin, &id), 404);

    // Bulk delete: all or nothing, the failing id named; then all of them.
    for n in 1..=3 {
        s.create_client(&admin, json!({ "client_id": format!("bulk-{n}"), "client_name": format!("bulk {n}"), "grant_types": ["client_credentials"] }));
    }
    web.fill("#f-q", "bulk");
    web.wait_text("#clients-table", "bulk-3");
    web.click("#select-all");
    web.wait_text("#bulk-delete", "(3)");
    let r = s
        .delete("/api/admin/oauth-clients/bulk-3")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    web.click("#bulk-delete");
    web.click("#confirm-ok");
    let refused = web.wait_text("#list-message", "Nothing was deleted");
    assert!(refused.contains("bulk-3"), "{refused}");
    assert_eq!(client_status(&s, &admin, "bulk-1"), 200);
    web.click("tr[data-client-id=bulk-3] input[type=checkbox]");
    web.wait_text("#bulk-delete", "(2)");
    web.click("#bulk-delete");
    web.click("#confirm-ok");
    web.wait_text("#list-message", "Deleted 2 clients");
    assert_eq!(client_status(&s, &admin, "bulk-1"), 404);
    assert_eq!(client_status(&s, &admin, "bulk-2"), 404);

    // Pages of 25.
    for n in 0..26 {
        s.create_client(
            &admin,
            json!({ "client_id": format!("page-{n:02}"), "client_name": format!("page {n:02}"), "grant_types": ["client_credentials"] }),
        );
    }
    web.fill("#f-q", "page-");
    web.wait_text("#clients-table", "page-24");
    let rows =
        "return document.querySelectorAll('#clients-table tbody tr[data-client-id]').length;";
    assert_eq!(web.script(rows), json!(25));
    assert!(!web.text("#clients-table").contains("page-25"));
    web.click("#next-page");
    web.wait_text("#clients-table", "page-25");
    assert_eq!(web.script(rows), json!(1));
    assert!(!web.enabled("#next-page"));
    web.click(".pager button:first-child");
    web.wait_text("#clients-table", "page-00");
    let ids: Vec<String> = (0..26).map(|n| format!("page-{n:02}")).collect();
    let r = s
        .post("/api/admin/oauth-clients/bulk-delete")
        .bearer_auth(&admin)
        .json(&json!({ "client_ids": ids }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // Sessions: revoke one app's token from the grouped list.
    let (svc, svc_secret) = s.service_client(&admin, "sess-svc", "reports:read");
    let svc_token = cc_token(&s, &svc, &svc_secret);
    web.click("a[href='/console/sessions']");
    web.wait_text(
        "section.session-group[data-client-id=sess-svc]",
        "service sess-svc",
    );
    web.click("section.session-group[data-client-id=sess-svc] tr[data-token-id] button");
    web.wait_text("#sessions-message", "Token revoked");
    assert_eq!(unlabelled(&web), Vec::<String>::new(), "the sessions page");
    assert_eq!(s.introspect("rs", &rs_secret, &svc_token)["active"], false);

    // Users: create the auditor through the console.
    web.click("a[href='/console/users']");
    web.wait_text("#users-table", "admin");
    web.click("#new-user summary");
    web.fill("#nu-username", "audrey");
    web.fill("#nu-password", PASSWORD);
    web.click("#nu-role-member");
    web.click("#nu-role-auditor");
    web.click("#nu-save");
    web.wait_text("#users-message", "Created audrey");
    web.wait_text("#users-table", "audrey");
    assert_eq!(unlabelled(&web), Vec::<String>::new(), "the users page");
    // Edit a user's roles (If-Match), then disable them.
    let r = s
        .post("/api/admin/users")
        .bearer_auth(&admin)
        .json(&json!({ "username": "temp", "password": PASSWORD, "roles": ["member"] }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let temp_id = r.json::<Value>().unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    web.fill("#u-q", "temp");
    web.type_in("#u-q", "\u{E007}");
    let row = format!("tr[data-user-id='{temp_id}']");
    web.click(&format!("{row} details summary"));
    web.click(&format!("#e-{temp_id}-role-auditor"));
    web.click(&format!("{row} form button[type=submit]"));
    web.wait_text("#users-message", "Saved temp");
    let user = |s: &Server| -> Value {
        s.get(&format!("/api/admin/users/{temp_id}"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(user(&s)["roles"], json!(["auditor", "member"]));
    web.click(&format!("{row} button.danger"));
    web.click("#confirm-ok");
    web.wait_text("#users-message", "Disabled temp");
    assert_eq!(user(&s)["disabled"], true);
    let users: Value = s
        .get("/api/admin/users?q=audrey")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(users["items"][0]["roles"], json!(["auditor"]));

    // Audit: the event list and the chain check.
    web.click("a[href='/console/audit']");
    web.wait_text("#audit-table", "UserCreated");
    web.click("#verify-chain");
    web.wait_text("#verify-result", "Chain intact");
    assert_eq!(unlabelled(&web), Vec::<String>::new(), "the audit page");
    // The live tail shows a new event without a reload.
    web.click("#a-live");
    std::thread::sleep(std::time::Duration::from_millis(500));
    s.create_client(
        &admin,
        json!({ "client_id": "live-1", "client_name": "live one", "grant_types": ["client_credentials"] }),
    );
    web.wait_text("#audit-table tbody", "live-1");
    web.click("#a-live");
    screenshot(&web, "console-audit");
    web.click("a[href='/console/clients']");

    // Usable at 390 px: the table scrolls inside its box, the page does not.
    web.fill("#f-q", "");
    web.wait_text("#clients-table", "authlog-console");
    screenshot(&web, "console-clients");
    web.resize(390, 844);
    let fits = "return document.documentElement.scrollWidth <= window.innerWidth + 1;";
    assert_eq!(
        web.script(fits),
        json!(true),
        "the list scrolls sideways at 390 px"
    );
    screenshot(&web, "console-clients-390");
    web.click("tr[data-client-id=rs] a");
    web.wait_text("#settings", "resource server");
    web.wait_text("#timeline", "ClientRegistered");
    assert_eq!(
        web.script(fits),
        json!(true),
        "a client's page scrolls sideways at 390 px"
    );
    web.click("a[href='/console/clients']");
    web.click("#new-client");
    web.wait("#client_name");
    assert_eq!(
        web.script(fits),
        json!(true),
        "the create form scrolls sideways at 390 px"
    );
    web.click("a[href='/console/audit']");
    web.wait_text("#audit-table", "UserCreated");
    assert_eq!(
        web.script(fits),
        json!(true),
        "the audit page scrolls sideways at 390 px"
    );
    web.resize(1280, 900);

    // An access token that stops working is replaced by a refresh, and
    // the page goes on as if nothing happened.
    let console_tokens = |kind: &str| -> Vec<String> {
        let v: Value = s
            .get("/api/admin/oauth-clients/authlog-console/tokens")
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| kind.is_empty() || t["kind"] == kind)
            .map(|t| t["token_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let access = console_tokens("access");
    assert_eq!(access.len(), 1, "one console access token: {access:?}");
    let r = s
        .delete(&format!("/api/admin/tokens/{}", access[0]))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    web.click("a[href='/console/sessions']");
    web.wait_text("#sessions", "authlog console");
    let refreshed = console_tokens("access");
    assert_eq!(refreshed.len(), 1, "{refreshed:?}");
    assert_ne!(refreshed, access, "the console did not refresh");
    assert!(!web.exists("#sessions-message:not([hidden])"));

    // Sign out revokes the console's refresh token (and its grant).
    assert_eq!(console_tokens("refresh").len(), 1);
    web.click("#sign-out");
    web.wait("#signed-out");
    assert_eq!(console_tokens(""), Vec::<String>::new());

    // An auditor sees everything, and no write control.
    create_user(&s, &admin, "mel", "member");
    web.forget_cookies();
    web.goto(&s.url("/console/clients"));
    sign_in(&web, "audrey", PASSWORD);
    web.wait_text("#clients-table", "authlog-console");
    assert_eq!(web.text("#role-badge"), "read-only");
    for control in [
        "#new-client",
        "#bulk-delete",
        "#select-all",
        "#clients-table input[type=checkbox]",
    ] {
        assert!(!web.exists(control), "an auditor sees {control}");
    }
    web.goto(&s.url("/console/clients/rs"));
    web.wait_text("#settings", "resource server");
    web.wait_text("#timeline", "ClientRegistered");
    for control in [
        "#status-toggle",
        "#rotate-secret",
        "#delete-client",
        "#edit",
        "#revoke-all",
        "#tokens-table button",
    ] {
        assert!(!web.exists(control), "an auditor sees {control}");
    }

    // A member gets a clear "no access" page.
    web.forget_cookies();
    web.goto(&s.url("/console"));
    sign_in(&web, "mel", PASSWORD);
    web.wait_text("#no-access", "No access");
    assert!(web.text("main").contains("mel"));
    assert!(!web.exists("#clients-table"));

    // The log is read (the probe is there), and holds no other error.
    let errors = errors(web.log());
    assert!(
        errors.iter().any(|e| e.contains(PROBE)),
        "the probe is missing: {errors:#?}"
    );
    let others: Vec<&String> = errors.iter().filter(|e| !e.contains(PROBE)).collect();
    assert!(others.is_empty(), "browser log: {others:#?}");
}
