//! The audit API end to end: exactly the right events with the right
//! actors, filters, pagination under concurrent appends, export, the live
//! feed, tamper evidence (verify endpoint and signed checkpoints), scopes,
//! no secrets in any audit answer, and `authlog audit` beside a running
//! server.

use std::io::{BufRead, BufReader};
use std::process::Command;

use authlog_events::codec::{decode, encode_body, seal};
use authlog_events::log_file::rewrite;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::harness::{binary, Server, ADMIN_SECRET};

/// GET an audit path with a token; asserts 200 and returns the JSON.
fn get_json(s: &Server, token: &str, path: &str) -> Value {
    let r = s.get(path).bearer_auth(token).send().unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Every item of a query, following `next_cursor`, `limit` per page.
fn all_pages(s: &Server, token: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/audit/events?limit={limit}");
        if !query.is_empty() {
            path.push('&');
            path.push_str(query);
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(s, token, &path);
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

fn types(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["type"].as_str().unwrap().to_owned())
        .collect()
}

fn positions(items: &[Value]) -> Vec<u64> {
    items
        .iter()
        .map(|i| i["position"].as_u64().unwrap())
        .collect()
}

fn access_token(r: reqwest::blocking::Response) -> String {
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs the lifecycle of client `svc`: create, rotate, token, revoke, token,
/// pause, resume, token, delete. Returns every secret and token it saw.
fn lifecycle(s: &Server, admin: &str) -> Vec<String> {
    let (id, secret) = s.service_client(admin, "svc", "invoices:read");
    let rotated: Value = s
        .post("/api/admin/oauth-clients/svc/rotate-secret")
        .bearer_auth(admin)
        .json(&json!({"previous_secret_valid_for_seconds": 0}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    let t1 = access_token(s.token_basic(&id, &new_secret, None));
    let r = s
        .post("/oauth/revoke")
        .basic_auth(&id, Some(&new_secret))
        .form(&[("token", t1.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let t2 = access_token(s.token_basic(&id, &new_secret, None));
    for action in ["pause", "resume"] {
        let r = s
            .post(&format!("/api/admin/oauth-clients/svc/{action}"))
            .bearer_auth(admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{action}");
    }
    let t3 = access_token(s.token_basic(&id, &new_secret, None));
    let r = s
        .delete("/api/admin/oauth-clients/svc")
        .bearer_auth(admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    vec![secret, new_secret, t1, t2, t3]
}

const LIFECYCLE: [&str; 9] = [
    "ClientRegistered",
    "ClientSecretRotated",
    "TokenIssued",
    "TokenRevoked",
    "TokenIssued",
    "ClientPaused",
    "ClientResumed",
    "TokenIssued",
    "ClientDeleted",
];

#[test]
fn a_clients_lifecycle_is_returned_exactly_in_order_with_its_actors() {
    let s = Server::start();
    let admin = s.admin_token(None);
    lifecycle(&s, &admin);
    let mut items = all_pages(&s, &admin, "client_id=svc", 500);
    items.reverse();
    assert_eq!(types(&items), LIFECYCLE);
    let principals: Vec<&str> = items
        .iter()
        .map(|i| i["actor"]["principal"].as_str().unwrap())
        .collect();
    let admin_p = "client:authlog-admin";
    assert_eq!(
        principals,
        [
            admin_p,
            admin_p,
            "client:svc",
            "client:svc",
            "client:svc",
            admin_p,
            admin_p,
            "client:svc",
            admin_p
        ]
    );
    for item in &items {
        assert_eq!(item["client_id"], "svc");
        assert_eq!(item["actor"]["ip"], "127.0.0.1");
        assert_eq!(item["hash"].as_str().unwrap().len(), 64);
        assert!(item["time"].as_str().unwrap().ends_with('Z'));
    }
    let p = positions(&items);
    assert!(p.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        items[5]["summary"]["tokens_revoked"], 1,
        "the pause revoked t2"
    );
    assert_eq!(
        items[8]["summary"]["tokens_revoked"], 1,
        "the delete revoked t3"
    );
    assert_eq!(items[3]["summary"]["reason"], "revoked_by_client");

    // The summary outlives the client.
    let summary = get_json(&s, &admin, "/api/audit/clients/svc");
    assert_eq!(summary["status"], "deleted");
    assert_eq!(summary["client_name"], "service svc");
    assert_eq!(
        summary["registration"]["registration_type"],
        "preregistered"
    );
    assert_eq!(summary["registration"]["actor"]["principal"], admin_p);
    let changes: Vec<&str> = summary["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            "registered",
            "secret_rotated",
            "paused",
            "resumed",
            "deleted"
        ]
    );
    assert!(summary["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["actor"]["principal"] == admin_p));
    assert_eq!(summary["tokens"]["issued"], 3);
    assert_eq!(summary["tokens"]["refreshed"], 0);
    assert_eq!(summary["tokens"]["revoked"], 3);
    assert_eq!(summary["tokens"]["active_now"], 0);
    assert_eq!(summary["events"], 9);
    assert_eq!(summary["last_activity"], items[8]["time"]);
    let r = s
        .get("/api/audit/clients/never-existed")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn filters_combine_and_each_narrows_the_result() {
    let s = Server::start();
    let admin = s.admin_token(None);
    lifecycle(&s, &admin);
    s.service_client(&admin, "other", "read");

    let issued = all_pages(&s, &admin, "client_id=svc&type=TokenIssued", 2);
    assert_eq!(types(&issued), ["TokenIssued"; 3]);

    let two_types = all_pages(
        &s,
        &admin,
        "client_id=svc&type=ClientPaused&type=ClientResumed",
        50,
    );
    assert_eq!(types(&two_types), ["ClientResumed", "ClientPaused"]);

    let by_svc = all_pages(&s, &admin, "actor=client:svc", 50);
    assert_eq!(
        types(&by_svc),
        ["TokenIssued", "TokenIssued", "TokenRevoked", "TokenIssued"]
    );
    let revoked_by_svc = all_pages(
        &s,
        &admin,
        "actor=client:svc&type=TokenRevoked&client_id=svc",
        50,
    );
    assert_eq!(types(&revoked_by_svc), ["TokenRevoked"]);

    // The admin registered both clients; only svc's registration is svc's.
    let registered = all_pages(
        &s,
        &admin,
        "actor=client:authlog-admin&type=ClientRegistered",
        50,
    );
    let ids: Vec<&str> = registered
        .iter()
        .map(|i| i["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["other", "svc"]);
    let only_svc = all_pages(
        &s,
        &admin,
        "actor=client:authlog-admin&type=ClientRegistered&client_id=svc",
        50,
    );
    assert_eq!(only_svc.len(), 1);

    let stream = all_pages(&s, &admin, "stream=client/svc", 50);
    assert_eq!(
        types(&stream),
        [
            "ClientDeleted",
            "ClientResumed",
            "ClientPaused",
            "ClientSecretRotated",
            "ClientRegistered"
        ]
    );

    // since is inclusive, until exclusive.
    let all = all_pages(&s, &admin, "client_id=svc", 50);
    let paused_at = all.iter().find(|i| i["type"] == "ClientPaused").unwrap()["time"]
        .as_str()
        .unwrap()
        .to_owned();
    let enc = |t: &str| t.replace('+', "%2B");
    let since = all_pages(
        &s,
        &admin,
        &format!("client_id=svc&since={}", enc(&paused_at)),
        50,
    );
    assert_eq!(
        types(&since),
        [
            "ClientDeleted",
            "TokenIssued",
            "ClientResumed",
            "ClientPaused"
        ]
    );
    let until = all_pages(
        &s,
        &admin,
        &format!("client_id=svc&until={}", enc(&paused_at)),
        50,
    );
    assert_eq!(until.len(), all.len() - since.len());
    assert!(until.iter().all(|i| i["type"] != "ClientPaused"));
}

#[test]
fn bad_query_parameters_are_refused_with_the_field() {
    let s = Server::start();
    let admin = s.admin_token(None);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("type=NoSuchEvent", "type"),
        ("since=yesterday", "since"),
        ("actor=root", "actor"),
        ("cursor=zzz", "cursor"),
        ("client=svc", "client"),
    ] {
        let r = s
            .get(&format!("/api/audit/events?{query}"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 422, "{query}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["field"], field, "{query}");
    }
    let r = s
        .get("/api/audit/export?format=xml")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);
}

#[test]
fn pagination_never_skips_or_repeats_while_appends_continue() {
    let s = Server::start();
    let admin = s.admin_token(None);
    for i in 0..12 {
        s.service_client(&admin, &format!("c{i}"), "read");
    }
    // Walks `query` with `limit`, registering a new client between pages.
    let late = std::cell::Cell::new(0);
    let walk = |query: &str, limit: usize| -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/audit/events?limit={limit}&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = get_json(&s, &admin, &path);
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            s.service_client(&admin, &format!("late{}", late.get()), "read");
            late.set(late.get() + 1);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    };

    // Unfiltered: exactly every position from the head at the first page down to 1.
    let head = s.head();
    let all = walk("", 7);
    let expected: Vec<u64> = (1..=head).rev().collect();
    assert_eq!(positions(&all), expected);
    let lates_before = late.get();

    // Filtered through the actor index, most records skipped: exactly the
    // admin's registrations up to the first page, newest first.
    let registered = walk("type=ClientRegistered&actor=client:authlog-admin", 3);
    let ids: Vec<String> = registered
        .iter()
        .map(|i| i["client_id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    expected.extend((0..lates_before).map(|i| format!("late{i}")));
    expected.reverse();
    assert_eq!(ids, expected);
}

#[test]
fn export_equals_the_paginated_api_in_both_formats() {
    let s = Server::start();
    let admin = s.admin_token(None);
    lifecycle(&s, &admin);
    for query in [
        "client_id=svc",
        "",
        "type=TokenIssued&type=ClientRegistered",
    ] {
        let pages = all_pages(&s, &admin, query, 3);
        let r = s
            .get(&format!("/api/audit/export?format=ndjson&{query}"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/x-ndjson"
        );
        let text = r.text().unwrap();
        let exported: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The server's own token use may have been flushed in between; compare the common prefix of the log.
        let top = pages[0]["position"].as_u64().unwrap();
        let exported: Vec<Value> = exported
            .into_iter()
            .filter(|i| i["position"].as_u64().unwrap() <= top)
            .collect();
        assert_eq!(exported, pages, "{query}");

        let csv = s
            .get(&format!("/api/audit/export?format=csv&{query}"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .text()
            .unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.headers().unwrap().get(0), Some("position"));
        let csv_positions: Vec<u64> = reader
            .records()
            .map(|r| r.unwrap()[0].parse().unwrap())
            .filter(|p| *p <= top)
            .collect();
        assert_eq!(csv_positions, positions(&pages), "{query}");
    }
}

/// Reads SSE events (id, data) from a live response until `n` arrived.
fn read_events(reader: &mut impl BufRead, n: usize) -> Vec<(u64, Value)> {
    let mut out = Vec::new();
    let mut id = None;
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        let read = reader.read_line(&mut line).unwrap();
        assert!(read > 0, "the feed ended");
        let l = line.trim_end();
        if let Some(v) = l.strip_prefix("id: ") {
            id = Some(v.parse::<u64>().unwrap());
        } else if let Some(v) = l.strip_prefix("data: ") {
            out.push((id.take().unwrap(), serde_json::from_str(v).unwrap()));
        }
    }
    out
}

#[test]
fn the_live_feed_resumes_from_last_event_id_without_gaps() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let r = s
        .get("/api/audit/stream?type=ClientRegistered")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut reader = BufReader::new(r);
    for i in 0..3 {
        s.service_client(&admin, &format!("a{i}"), "read");
    }
    let first = read_events(&mut reader, 3);
    let ids: Vec<&str> = first
        .iter()
        .map(|(_, v)| v["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a0", "a1", "a2"]);
    for (id, v) in &first {
        assert_eq!(v["position"].as_u64().unwrap(), *id);
    }
    drop(reader);

    // Disconnected: more happens, then the feed resumes after a0.
    for i in 3..6 {
        s.service_client(&admin, &format!("a{i}"), "read");
    }
    let r = s
        .get("/api/audit/stream?type=ClientRegistered")
        .bearer_auth(&admin)
        .header("Last-Event-ID", first[0].0.to_string())
        .send()
        .unwrap();
    let mut reader = BufReader::new(r);
    let resumed = read_events(&mut reader, 5);
    let ids: Vec<&str> = resumed
        .iter()
        .map(|(_, v)| v["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1", "a2", "a3", "a4", "a5"]);

    // Without a filter every position arrives, consecutively.
    let head = s.head();
    let r = s
        .get("/api/audit/stream")
        .bearer_auth(&admin)
        .header("Last-Event-ID", (head - 4).to_string())
        .send()
        .unwrap();
    let all = read_events(&mut BufReader::new(r), 4);
    let got: Vec<u64> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(got, vec![head - 3, head - 2, head - 1, head]);
}

/// The server key of a data directory, for computing digests in tests.
fn digest_hexes(data: &std::path::Path, values: &[String]) -> Vec<String> {
    let key = std::fs::read_to_string(data.join("server-key")).unwrap();
    let key = URL_SAFE_NO_PAD.decode(key.trim()).unwrap();
    values
        .iter()
        .map(|v| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(v.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        })
        .collect()
}

#[test]
fn no_secret_token_or_digest_appears_in_any_audit_answer() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let mut secrets = lifecycle(&s, &admin);
    secrets.push(admin.clone());
    secrets.push(ADMIN_SECRET.to_owned());
    s.token_basic("authlog-admin", "alcs_a-wrong-guess-1234567", None);
    secrets.push("alcs_a-wrong-guess-1234567".to_owned());
    let digests = digest_hexes(&s.data, &secrets);

    let mut answers = Vec::new();
    for path in [
        "/api/audit/events?limit=500",
        "/api/audit/export?format=ndjson",
        "/api/audit/export?format=csv",
        "/api/audit/clients/svc",
        "/api/audit/clients/authlog-admin",
        "/api/audit/checkpoint",
        "/api/audit/verify",
    ] {
        let r = s.get(path).bearer_auth(&admin).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        answers.push((path, r.text().unwrap()));
    }
    assert!(
        answers[0].1.contains("UserCreated"),
        "the admin user's creation is listed"
    );
    for (path, text) in &answers {
        for secret in &secrets {
            let body = &secret[secret.len() / 2..];
            assert!(!text.contains(body), "{path} contains a raw secret");
        }
        for digest in &digests {
            assert!(!text.contains(digest.as_str()), "{path} contains a digest");
        }
        assert!(
            !text.contains("argon2"),
            "{path} contains a password digest"
        );
    }
}

#[test]
fn an_audit_read_token_cannot_write_and_a_write_token_cannot_read_the_audit() {
    let s = Server::start();
    let admin = s.admin_token(None);
    s.service_client(&admin, "svc", "read");
    let auditor = s.admin_token(Some("audit:read"));
    let writer = s.admin_token(Some(
        "clients:write clients:read tokens:revoke users:write users:read",
    ));
    let user = authlog::entropy::Entropy::id(&authlog::entropy::SystemEntropy);
    let token = authlog::entropy::Entropy::id(&authlog::entropy::SystemEntropy);
    let body = json!({"client_name": "x"});
    let writes: Vec<(&str, String)> = vec![
        ("POST", "/api/admin/oauth-clients".into()),
        ("PATCH", "/api/admin/oauth-clients/svc".into()),
        ("POST", "/api/admin/oauth-clients/svc/rotate-secret".into()),
        ("POST", "/api/admin/oauth-clients/svc/pause".into()),
        ("POST", "/api/admin/oauth-clients/svc/resume".into()),
        ("DELETE", "/api/admin/oauth-clients/svc".into()),
        ("POST", "/api/admin/oauth-clients/bulk-delete".into()),
        (
            "POST",
            "/api/admin/oauth-clients/svc/tokens/revoke-all".into(),
        ),
        ("DELETE", format!("/api/admin/tokens/{token}")),
        ("POST", "/api/admin/users".into()),
        ("PATCH", format!("/api/admin/users/{user}")),
        ("POST", format!("/api/admin/users/{user}/disable")),
    ];
    let head = s.head();
    for (method, path) in &writes {
        let req = match *method {
            "POST" => s.post(path),
            "PATCH" => s.patch(path),
            _ => s.delete(path),
        };
        let r = req.bearer_auth(&auditor).json(&body).send().unwrap();
        assert_eq!(r.status(), 403, "{method} {path}");
    }
    assert_eq!(s.head(), head, "nothing was written");

    let reads = [
        "/api/audit/events",
        "/api/audit/clients/svc",
        "/api/audit/export",
        "/api/audit/stream",
        "/api/audit/verify",
        "/api/audit/checkpoint",
    ];
    for path in reads {
        let r = s.get(path).bearer_auth(&writer).send().unwrap();
        assert_eq!(r.status(), 403, "{path}");
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("audit:read"));
        let r = s.get(path).send().unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    for path in reads.iter().filter(|p| !p.ends_with("stream")) {
        let r = s.get(path).bearer_auth(&auditor).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

fn authlog(args: &[&str], data: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("AUTHLOG_AUDIT_KEY")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Rewrites the record at `position` with `change` applied, then re-seals
/// every later record: a rewrite that recomputes the whole chain, which
/// plain `verify` cannot see. The index is dropped, so the next open
/// rebuilds it from the forged records, as a forger would arrange.
fn rewrite_chain(
    data: &std::path::Path,
    position: u64,
    change: impl Fn(&mut authlog_events::RecordedEvent),
) {
    rewrite(&data.join("authlog.log"), |frames| {
        let mut prev = decode(&frames[position as usize - 2].bytes).unwrap().hash;
        for frame in &mut frames[position as usize - 1..] {
            let mut record = decode(&frame.bytes).unwrap();
            if record.position == position {
                change(&mut record);
            }
            record.prev_hash = prev;
            frame.bytes = seal(&mut record);
            prev = record.hash;
        }
    })
    .unwrap();
    std::fs::remove_file(data.join("authlog.redb")).unwrap();
}

#[test]
fn a_checkpoint_catches_a_rewrite_that_recomputes_the_whole_chain() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let checkpoint = get_json(&s, &admin, "/api/audit/checkpoint");
    assert_eq!(checkpoint["position"].as_u64().unwrap(), s.head());
    let verify = get_json(&s, &admin, "/api/audit/verify");
    assert_eq!(verify["head"]["hash"], checkpoint["hash"]);
    s.service_client(&admin, "later", "read");
    let data = s.data.clone();
    let file = data.parent().unwrap().join("checkpoint.json");
    std::fs::write(&file, checkpoint.to_string()).unwrap();
    let file_arg = file.to_str().unwrap().to_owned();

    // While the server runs: the log extends the checkpoint, signed by this server.
    let (code, out) = authlog(&["verify", "--checkpoint", &file_arg], &data);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("signature: valid"), "{out}");

    let _dir = s.stop();
    rewrite_chain(&data, 2, |r| r.correlation_id = Some("forged".into()));
    let (code, out) = authlog(&["verify"], &data);
    assert_eq!(
        code,
        Some(0),
        "a recomputed chain verifies on its own: {out}"
    );
    let (code, out) = authlog(&["verify", "--checkpoint", &file_arg], &data);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("CHECKPOINT FAILS"), "{out}");

    // A forged checkpoint for the rewritten log has no valid signature.
    let forged_head = {
        let store = authlog_events::RedbStore::open_read_only(data.join("authlog.redb")).unwrap();
        authlog_events::EventLog::head(&store).unwrap().unwrap()
    };
    let forged = json!({
        "position": forged_head.position,
        "hash": hex::encode(forged_head.hash),
        "signature": checkpoint["signature"],
    });
    std::fs::write(&file, forged.to_string()).unwrap();
    let (code, out) = authlog(&["verify", "--checkpoint", &file_arg], &data);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("SIGNATURE INVALID"), "{out}");
}

#[test]
fn the_verify_endpoint_names_the_first_tampered_position() {
    let s = Server::start();
    let admin = s.admin_token(None);
    let before = get_json(&s, &admin, "/api/audit/verify");
    assert_eq!(before["intact"], true);
    assert_eq!(before["head"]["position"].as_u64().unwrap(), s.head());
    assert_eq!(before["broken"], Value::Null);
    let data = s.data.clone();
    let dir = s.stop();

    // Rewrite record 3's contents but keep its stored hash and its length
    // (the server still replays it; only the chain tells).
    rewrite(&data.join("authlog.log"), |frames| {
        let mut record = decode(&frames[2].bytes).unwrap();
        let last = record.stream.pop().unwrap();
        record.stream.push(if last == 'x' { 'y' } else { 'x' });
        let mut bytes = encode_body(&record);
        bytes.extend_from_slice(&record.hash);
        assert_eq!(bytes.len(), frames[2].bytes.len());
        frames[2].bytes = bytes;
    })
    .unwrap();
    let s = Server::start_on(&data, &[]);
    let _dir = dir;
    let admin = s.admin_token(Some("audit:read"));
    let after = get_json(&s, &admin, "/api/audit/verify");
    assert_eq!(after["intact"], false, "{after}");
    assert_eq!(after["broken"]["position"], 3, "{after}");
}

#[test]
fn authlog_audit_reads_a_running_servers_log() {
    let s = Server::start();
    let admin = s.admin_token(None);
    lifecycle(&s, &admin);
    let api = all_pages(&s, &admin, "client_id=svc", 500);
    let (code, out) = authlog(&["audit", "--client", "svc", "--format", "ndjson"], &s.data);
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, api);

    let (code, out) = authlog(
        &[
            "audit",
            "--client",
            "svc",
            "--type",
            "TokenIssued",
            "--format",
            "csv",
        ],
        &s.data,
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().count(), 1 + 3, "{out}");

    let (code, out) = authlog(&["audit", "--client", "svc"], &s.data);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ClientDeleted") && out.contains("client:authlog-admin"),
        "{out}"
    );

    // The server kept running and writing.
    s.service_client(&admin, "after", "read");
    let (code, out) = authlog(
        &["audit", "--client", "after", "--format", "ndjson"],
        &s.data,
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");

    let (code, _) = authlog(&["audit", "--client", "svc", "--format", "xml"], &s.data);
    assert_eq!(code, Some(2));
}

#[test]
fn an_admin_action_with_a_users_token_names_the_user_and_the_client_it_went_through() {
    let s = crate::user_flows::start();
    let admin = s.admin_token(None);
    let users = get_json(&s, &admin, "/api/admin/users?q=admin");
    let admin_user = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "admin")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let console =
        crate::user_flows::console_token(&s, "admin", crate::user_flows::ADMIN_PASSWORD, &[]);
    let r = s
        .post("/api/admin/oauth-clients")
        .bearer_auth(&console)
        .header("User-Agent", "audit-test/1")
        .json(&json!({"client_id": "via", "client_name": "Via", "grant_types": ["client_credentials"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    let by_user = all_pages(
        &s,
        &admin,
        &format!("actor=user:{admin_user}&type=ClientRegistered"),
        50,
    );
    assert_eq!(by_user.len(), 1);
    let actor = &by_user[0]["actor"];
    assert_eq!(actor["principal"], format!("user:{admin_user}"));
    assert_eq!(actor["via_client"], "authlog-console");
    assert_eq!(actor["user_agent"], "audit-test/1");
    assert_eq!(by_user[0]["client_id"], "via");
    assert!(by_user[0]["correlation_id"].is_string());

    // Console activity is told apart from the integration's own.
    let by_admin_client = all_pages(&s, &admin, "actor=client:authlog-admin&client_id=via", 50);
    assert!(by_admin_client.is_empty());
}

#[test]
fn the_offline_commands_read_a_log_left_unclean_by_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start_on(&data, &[]);
    let admin = s.admin_token(None);
    s.service_client(&admin, "svc", "read");
    drop(s); // SIGKILL: no clean close.
    let (code, out) = authlog(&["verify"], &data);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = authlog(&["audit", "--client", "svc", "--format", "ndjson"], &data);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn the_live_feed_ends_when_its_token_is_revoked() {
    let s = Server::start();
    let auditor = s.admin_token(Some("audit:read"));
    let r = s
        .get("/api/audit/stream")
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut reader = BufReader::new(r);
    let r = s
        .post("/oauth/revoke")
        .basic_auth("authlog-admin", Some(ADMIN_SECRET))
        .form(&[("token", auditor.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // The feed ends (a still-open feed would hit the client's timeout here).
    let started = std::time::Instant::now();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        line.clear();
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
