//! The registry at a past instant (`?at=` on the admin client API, and
//! `authlog audit --at`): a scripted history of one client (created,
//! edited, given tokens, its secret rotated, a token revoked, paused,
//! resumed, deleted) with the live answers captured after each step, then
//! every step's instant asked again and compared with what was captured,
//! down to the microsecond on either side of each change; the same from
//! the command line on the stopped server's data directory.

use std::process::Command;
use std::time::Duration;

use authlog_events::Timestamp;
use serde_json::{json, Value};

use crate::harness::{binary, Server};

const ID: &str = "ledger";

fn parse(time: &str) -> Timestamp {
    Timestamp::from(chrono::DateTime::parse_from_rfc3339(time).unwrap().to_utc())
}

/// `time` moved by `micros`.
fn shifted(time: &str, micros: i64) -> String {
    Timestamp(parse(time).0 + micros).to_rfc3339()
}

fn get(s: &Server, token: &str, path: &str) -> (u16, Value) {
    let r = s.get(path).bearer_auth(token).send().unwrap();
    let status = r.status().as_u16();
    if status >= 400 {
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/problem+json",
            "{path}"
        );
    }
    (status, r.json().unwrap())
}

fn ok(s: &Server, token: &str, path: &str) -> Value {
    let (status, body) = get(s, token, path);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The time of the newest record in the log (the server's own clock).
fn head_time(s: &Server, admin: &str) -> String {
    let page = ok(s, admin, "/api/audit/events?limit=1");
    page["items"][0]["time"].as_str().unwrap().to_owned()
}

/// The times of the client's records, oldest first, with their types.
fn client_events(s: &Server, admin: &str) -> Vec<(String, String)> {
    let page = ok(
        s,
        admin,
        &format!("/api/audit/events?client_id={ID}&limit=500"),
    );
    let mut out: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_owned(),
                i["time"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.reverse();
    out
}

/// A view at an instant less what only an instant has: comparable with a
/// live view.
fn live_part(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    for key in ["at", "secret_generation", "active_tokens"] {
        assert!(o.remove(key).is_some(), "{key} missing in {v:?}");
    }
    v
}

/// What was seen after one step.
struct Step {
    name: &'static str,
    /// The client (`None` once deleted).
    client: Option<Value>,
    /// The whole list, one page.
    list: Value,
    /// An instant after the step (the newest record's time).
    at: String,
    secret_generation: u64,
    active_tokens: u64,
}

fn capture(
    s: &Server,
    admin: &str,
    name: &'static str,
    secret_generation: u64,
    active_tokens: u64,
) -> Step {
    let (status, client) = get(s, admin, &format!("/api/admin/oauth-clients/{ID}"));
    let client = match status {
        200 => {
            assert_eq!(client["active_token_count"], active_tokens, "{name}");
            Some(client)
        }
        404 => None,
        other => panic!("{name}: {other} {client}"),
    };
    let list = ok(s, admin, "/api/admin/oauth-clients?limit=500");
    assert_eq!(list["next_cursor"], Value::Null);
    let at = head_time(s, admin);
    // Later steps get later instants.
    std::thread::sleep(Duration::from_millis(3));
    Step {
        name,
        client,
        list,
        at,
        secret_generation,
        active_tokens,
    }
}

fn token(s: &Server, secret: &str) {
    let r = s.token_basic(ID, secret, None);
    assert_eq!(r.status(), 200);
}

fn at_path(at: &str) -> String {
    format!("/api/admin/oauth-clients/{ID}?at={at}")
}

/// A server that appends nothing by itself while a test runs (its "last
/// used" flush waits an hour), so the log head shows what reads wrote.
fn quiet_server() -> Server {
    Server::start_with(&[("AUTHLOG_USAGE_FLUSH_SECONDS", "3600")])
}

/// Runs the history; returns the server, the admin token and the steps.
fn scripted_history() -> (Server, String, Vec<Step>) {
    let s = quiet_server();
    let admin = s.admin_token(None);
    let mut steps = Vec::new();
    std::thread::sleep(Duration::from_millis(3));
    let (_, secret) = s.service_client(&admin, ID, "ledger:read ledger:write");
    steps.push(capture(&s, &admin, "created", 1, 0));

    let r = s
        .patch(&format!("/api/admin/oauth-clients/{ID}"))
        .bearer_auth(&admin)
        .json(&json!({"client_name": "Ledger v2", "scope": "ledger:read", "access_token_ttl_seconds": 1800}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    steps.push(capture(&s, &admin, "edited", 1, 0));

    for _ in 0..3 {
        token(&s, &secret);
    }
    steps.push(capture(&s, &admin, "three tokens", 1, 3));

    let r = s
        .post(&format!("/api/admin/oauth-clients/{ID}/rotate-secret"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let secret: String = r.json::<Value>().unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    steps.push(capture(&s, &admin, "secret rotated", 2, 3));

    let tokens = ok(&s, &admin, &format!("/api/admin/oauth-clients/{ID}/tokens"));
    let first = tokens["items"][0]["token_id"].as_str().unwrap().to_owned();
    let r = s
        .delete(&format!("/api/admin/tokens/{first}"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    steps.push(capture(&s, &admin, "one token revoked", 2, 2));

    token(&s, &secret);
    steps.push(capture(&s, &admin, "a token with the new secret", 2, 3));

    for (action, name) in [("pause", "paused"), ("resume", "resumed")] {
        let r = s
            .post(&format!("/api/admin/oauth-clients/{ID}/{action}"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        // Pausing revoked all three.
        steps.push(capture(&s, &admin, name, 2, 0));
    }

    token(&s, &secret);
    token(&s, &secret);
    steps.push(capture(&s, &admin, "two tokens after resuming", 2, 2));

    let r = s
        .delete(&format!("/api/admin/oauth-clients/{ID}"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    steps.push(capture(&s, &admin, "deleted", 2, 0));
    (s, admin, steps)
}

#[test]
fn every_step_of_a_clients_history_is_answered_as_it_was_captured() {
    let (s, admin, steps) = scripted_history();
    let head = s.head();
    let mut answers = Vec::new();
    for step in &steps {
        let (status, then) = get(&s, &admin, &at_path(&step.at));
        match &step.client {
            Some(live) => {
                assert_eq!(status, 200, "{}: {then}", step.name);
                assert_eq!(&live_part(&then), live, "{} at {}", step.name, step.at);
                assert_eq!(then["at"], step.at, "{}", step.name);
                assert_eq!(
                    then["secret_generation"], step.secret_generation,
                    "{}",
                    step.name
                );
                assert_eq!(then["active_tokens"], step.active_tokens, "{}", step.name);
                assert_eq!(
                    then["active_token_count"], step.active_tokens,
                    "{}",
                    step.name
                );
            }
            None => {
                assert_eq!(status, 404, "{}: {then}", step.name);
                let detail = then["detail"].as_str().unwrap();
                assert!(
                    detail.starts_with(&format!("client {ID} did not exist at ")),
                    "{detail}"
                );
                assert!(detail.contains(": it was deleted at "), "{detail}");
            }
        }
        // The list then: the same items, each with the instant's fields.
        let list = ok(
            &s,
            &admin,
            &format!("/api/admin/oauth-clients?limit=500&at={}", step.at),
        );
        assert_eq!(list["next_cursor"], Value::Null);
        let items: Vec<Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(live_part)
            .collect();
        assert_eq!(
            Value::Array(items),
            step.list["items"],
            "the list after {}",
            step.name
        );
        let ours = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == ID);
        assert_eq!(ours.is_some(), step.client.is_some(), "{}", step.name);
        if step.client.is_some() {
            assert_eq!(
                Some(&then),
                ours,
                "the item equals the client, {}",
                step.name
            );
        }
        answers.push((step.at.clone(), status, then));
    }
    // Reads changed nothing.
    assert_eq!(s.head(), head);

    // One microsecond before each change of the client, the step before.
    let events = client_events(&s, &admin);
    let mut changes = events.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    changes.dedup();
    // Each captured step begins with the first record after the previous one.
    let mut checked = 0;
    for pair in steps.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let Some(first) = changes
            .iter()
            .find(|t| parse(t) > parse(&before.at) && parse(t) <= parse(&after.at))
        else {
            panic!(
                "no record of {ID} between {} and {}",
                before.name, after.name
            );
        };
        let just_before = shifted(first, -1);
        let (status, then) = get(&s, &admin, &at_path(&just_before));
        assert_eq!(status, 200, "just before {}: {then}", after.name);
        assert_eq!(
            Some(live_part(&then)),
            before.client,
            "just before {}",
            after.name
        );
        assert_eq!(then["active_tokens"], before.active_tokens);
        let (status, then) = get(&s, &admin, &at_path(first));
        if let Some(live) = &after.client {
            assert_eq!(status, 200);
            // At the first record of a step of several (three tokens) the
            // rest have not happened yet.
            if events
                .iter()
                .filter(|(_, t)| parse(t) > parse(&before.at) && parse(t) <= parse(&after.at))
                .count()
                == 1
            {
                assert_eq!(&live_part(&then), live, "at {}", after.name);
            }
        } else {
            assert_eq!(status, 404);
            assert_eq!(
                then["detail"],
                format!("client {ID} did not exist at {first}: it was deleted at {first}")
            );
        }
        checked += 1;
    }
    assert_eq!(checked, steps.len() - 1);

    // Before its registration.
    let (kind, created) = &events[0];
    assert_eq!(kind, "ClientRegistered");
    let before = shifted(created, -1);
    let (status, then) = get(&s, &admin, &at_path(&before));
    assert_eq!(status, 404);
    assert_eq!(
        then["detail"],
        format!("client {ID} did not exist at {before}: it was registered at {created}")
    );
    let list = ok(
        &s,
        &admin,
        &format!("/api/admin/oauth-clients?at={before}&limit=500"),
    );
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["client_id"] != ID));

    // An id nobody ever had.
    let (status, then) = get(
        &s,
        &admin,
        &format!("/api/admin/oauth-clients/nobody?at={}", steps[0].at),
    );
    assert_eq!(status, 404);
    assert_eq!(
        then["detail"],
        format!("client nobody did not exist at {}", steps[0].at)
    );
    assert_eq!(s.head(), head);

    // Offline, on the stopped server's data: the same JSON.
    let data = s.data.clone();
    let _dir = s.stop();
    for (at, status, answer) in &answers {
        let (code, stdout, stderr) = audit_at(&data, Some(ID), at);
        if *status == 200 {
            assert_eq!(code, Some(0), "{stderr}");
            let printed: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(&printed, answer, "authlog audit --client {ID} --at {at}");
        } else {
            assert_eq!(code, Some(1), "{stdout}{stderr}");
            assert!(stdout.is_empty());
            assert!(
                stderr.contains(answer["detail"].as_str().unwrap()),
                "{stderr}"
            );
        }
    }
    let (code, _, stderr) = audit_at(&data, Some(ID), &before);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("it was registered at"), "{stderr}");
    let (code, _, stderr) = audit_at(&data, Some(ID), "last tuesday");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("at: must be an RFC 3339 time"), "{stderr}");
}

/// `authlog audit --at AT [--client ID]`: exit status, stdout, stderr.
fn audit_at(
    data: &std::path::Path,
    client: Option<&str>,
    at: &str,
) -> (Option<i32>, String, String) {
    let mut command = Command::new(binary());
    command.args(["audit", "--at", at, "--data"]).arg(data);
    if let Some(client) = client {
        command.args(["--client", client]);
    }
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_list_then_pages_filters_and_matches_the_command_line() {
    let (s, admin, steps) = scripted_history();
    let paused = steps.iter().find(|s| s.name == "paused").unwrap();
    let resumed = steps.iter().find(|s| s.name == "resumed").unwrap();
    // The list's filters apply to the clients as they were.
    let only_paused = |at: &str| {
        ok(
            &s,
            &admin,
            &format!("/api/admin/oauth-clients?status=paused&at={at}"),
        )["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(only_paused(&paused.at), vec![ID.to_owned()]);
    assert!(only_paused(&resumed.at).is_empty());
    let named = ok(
        &s,
        &admin,
        &format!("/api/admin/oauth-clients?q=ledger%20v2&at={}", steps[0].at),
    );
    assert_eq!(named["items"], json!([]), "not yet renamed");
    let named = ok(
        &s,
        &admin,
        &format!("/api/admin/oauth-clients?q=ledger%20v2&at={}", steps[1].at),
    );
    assert_eq!(named["items"][0]["client_name"], "Ledger v2");

    // Pages of one, cursor after cursor, make up the whole list.
    let at = &resumed.at;
    let whole = ok(
        &s,
        &admin,
        &format!("/api/admin/oauth-clients?limit=500&at={at}"),
    );
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/admin/oauth-clients?limit=1&at={at}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = ok(&s, &admin, &path);
        paged.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(paged.len() >= 2, "{paged:?}");
    assert_eq!(Value::Array(paged), whole["items"]);

    // The command line prints the whole list then as one page.
    let data = s.data.clone();
    let _dir = s.stop();
    for step in &steps {
        let (code, stdout, stderr) = audit_at(&data, None, &step.at);
        assert_eq!(code, Some(0), "{stderr}");
        let printed: Value = serde_json::from_str(&stdout).unwrap();
        let items: Vec<Value> = printed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(live_part)
            .collect();
        assert_eq!(Value::Array(items), step.list["items"], "{}", step.name);
        assert_eq!(printed["next_cursor"], Value::Null);
    }
    // And equals the API's answer.
    let (code, stdout, stderr) = audit_at(&data, None, &resumed.at);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.ends_with('\n'));
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap(), whole);
}

#[test]
fn bad_instants_are_refused_and_at_needs_the_same_scope() {
    let s = quiet_server();
    let admin = s.admin_token(None);
    s.service_client(&admin, ID, "ledger:read");
    let head = s.head();
    for (path, status) in [
        ("/api/admin/oauth-clients/ledger?at=yesterday", 400),
        (
            "/api/admin/oauth-clients/ledger?at=2026-13-01T00:00:00Z",
            400,
        ),
        ("/api/admin/oauth-clients/ledger?at=2026-01-01", 400),
        ("/api/admin/oauth-clients/ledger?at=", 400),
        ("/api/admin/oauth-clients?at=1700000000", 400),
        (
            "/api/admin/oauth-clients/ledger?at=2026-01-01T00:00:00Z&at=2026-01-02T00:00:00Z",
            400,
        ),
        (
            "/api/admin/oauth-clients/ledger?at=2999-01-01T00:00:00Z",
            400,
        ),
        ("/api/admin/oauth-clients?at=2999-01-01T00:00:00Z", 400),
        (
            "/api/admin/oauth-clients/export?at=2020-01-01T00:00:00Z",
            400,
        ),
    ] {
        let (got, body) = get(&s, &admin, path);
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["status"], status);
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("at") || detail.contains("query string"),
            "{path}: {detail}"
        );
    }
    let (_, future) = get(
        &s,
        &admin,
        "/api/admin/oauth-clients/ledger?at=2999-01-01T00:00:00Z",
    );
    assert!(
        future["detail"]
            .as_str()
            .unwrap()
            .contains("is in the future"),
        "{future}"
    );
    // An instant with another offset is the same instant.
    let created = ok(&s, &admin, "/api/admin/oauth-clients/ledger")["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = parse(&created)
        .to_datetime()
        .with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let then = ok(
        &s,
        &admin,
        &format!(
            "/api/admin/oauth-clients/ledger?at={}",
            crate::harness::enc(&elsewhere)
        ),
    );
    assert_eq!(then["at"], created);
    assert_eq!(then["client_name"], "service ledger");

    // The same scopes as without `at`.
    let no_token = s
        .get(&format!("/api/admin/oauth-clients/ledger?at={created}"))
        .send()
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let auditor = s.admin_token(Some("audit:read"));
    for path in [
        format!("/api/admin/oauth-clients/ledger?at={created}"),
        format!("/api/admin/oauth-clients?at={created}"),
    ] {
        let (status, body) = get(&s, &auditor, &path);
        assert_eq!(status, 403, "{path}: {body}");
    }
    // Nothing was written but the two admin tokens.
    assert_eq!(s.head(), head + 1);
}
