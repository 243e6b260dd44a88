//! Projections are rebuilt by replay: after a scenario, a restart answers
//! every admin read exactly as before, whether it starts from the
//! projection snapshot written at the last stop, from that snapshot and
//! the log after it (a crash since), or from the whole log (no snapshot,
//! or one that cannot be used).

use std::path::Path;

use serde_json::{json, Value};

use crate::harness::Server;

/// Every admin read, in one value.
fn snapshot(s: &Server) -> Value {
    let admin = s.admin_token(Some("clients:read"));
    let list: Value = s
        .get("/api/admin/oauth-clients?limit=500")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut clients = Vec::new();
    for c in list["items"].as_array().unwrap() {
        let id = c["client_id"].as_str().unwrap();
        let r = s
            .get(&format!("/api/admin/oauth-clients/{id}"))
            .bearer_auth(&admin)
            .send()
            .unwrap();
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let mut detail: Value = r.json().unwrap();
        let mut tokens: Value = s
            .get(&format!("/api/admin/oauth-clients/{id}/tokens?limit=500"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if id == "authlog-admin" {
            // The snapshot's own read token is the one difference.
            detail["active_token_count"] = json!("ignored");
            tokens = json!("ignored");
        }
        clients.push(json!({"detail": detail, "etag": etag, "tokens": tokens}));
    }
    let mut list = list;
    for c in list["items"].as_array_mut().unwrap() {
        if c["client_id"] == "authlog-admin" {
            c["active_token_count"] = json!("ignored");
        }
    }
    let users_token = s.admin_token(Some("users:read"));
    let users: Value = s
        .get("/api/admin/users")
        .bearer_auth(&users_token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut sessions: Value = s
        .get("/api/admin/sessions")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    sessions["items"]
        .as_array_mut()
        .unwrap()
        .retain(|g| g["client_id"] != "authlog-admin");
    json!({ "list": list, "clients": clients, "users": users, "sessions": sessions })
}

/// Clients, tokens, a revocation, an edit, a rotation, a pause and
/// resume, a deletion and a user.
fn scenario(s: &Server) {
    let admin = s.admin_token(None);
    let (a, a_secret) = s.service_client(&admin, "a", "read write");
    let (b, b_secret) = s.service_client(&admin, "b", "read");
    s.create_client(
        &admin,
        json!({"client_id": "app", "client_name": "App", "redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "none", "team_restrictions": ["red"]}),
    );
    for _ in 0..3 {
        s.token_basic(&a, &a_secret, Some("read"));
    }
    let b_token: Value = s.token_basic(&b, &b_secret, None).json().unwrap();
    s.post("/oauth/revoke")
        .basic_auth(&b, Some(&b_secret))
        .form(&[("token", b_token["access_token"].as_str().unwrap())])
        .send()
        .unwrap();
    s.patch("/api/admin/oauth-clients/a")
        .bearer_auth(&admin)
        .json(&json!({"description": "edited", "access_token_ttl_seconds": 600}))
        .send()
        .unwrap();
    s.post("/api/admin/oauth-clients/a/rotate-secret")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    s.post("/api/admin/oauth-clients/b/pause")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    s.post("/api/admin/oauth-clients/b/resume")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    s.service_client(&admin, "gone", "x");
    s.delete("/api/admin/oauth-clients/gone")
        .bearer_auth(&admin)
        .send()
        .unwrap();

    let users_token = s.admin_token(Some("users:write"));
    let r = s
        .post("/api/admin/users")
        .bearer_auth(&users_token)
        .json(&json!({"username": "bob", "password": "bob-password-1", "teams": ["red"], "roles": ["auditor"]}))
        .send()
        .unwrap();
    let bob = r.json::<Value>().unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.patch(&format!("/api/admin/users/{bob}"))
        .bearer_auth(&users_token)
        .json(&json!({"display_name": "Bob B."}))
        .send()
        .unwrap();
}

#[test]
fn a_restart_answers_every_admin_read_as_before() {
    let s = Server::start();
    scenario(&s);
    let before = snapshot(&s);
    let s = s.restart();
    let after = snapshot(&s);
    assert_eq!(before, after);
    assert_eq!(after["users"]["items"].as_array().unwrap().len(), 2);
    // a, b, app and the three default clients.
    assert_eq!(after["clients"].as_array().unwrap().len(), 6);
}

/// How often the server's log (all runs on `data`) says `what`.
fn logged(data: &Path, what: &str) -> usize {
    std::fs::read_to_string(data.with_extension("stderr.log"))
        .unwrap()
        .matches(what)
        .count()
}

const WROTE: &str = "wrote the projection snapshot";
const RESTORED: &str = "restored the projections from the snapshot";
const REFUSED: &str = "replaying the whole log instead";

#[test]
fn a_start_from_the_snapshot_answers_like_a_start_from_the_whole_log() {
    let s = Server::start();
    scenario(&s);
    let before = snapshot(&s);
    let data = s.data.clone();
    let snapshot_file = data.join("projections.snapshot");

    // A graceful stop writes the snapshot; the next start restores it.
    let s = s.restart();
    assert_eq!(logged(&data, WROTE), 1);
    assert_eq!(logged(&data, RESTORED), 1);
    assert_eq!(snapshot(&s), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&snapshot_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the snapshot holds digests: owner-only");
    }

    // Without it, the whole log gives the same answers.
    let dir = s.stop();
    std::fs::remove_file(&snapshot_file).unwrap();
    let mut s = Server::start_on(&data, &[]);
    s.hold(dir);
    assert_eq!(logged(&data, RESTORED), 1);
    assert_eq!(snapshot(&s), before);

    // A damaged snapshot is refused, and the whole log is replayed.
    let dir = s.stop();
    let mut bytes = std::fs::read(&snapshot_file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&snapshot_file, bytes).unwrap();
    let mut s = Server::start_on(&data, &[]);
    s.hold(dir);
    assert_eq!(logged(&data, RESTORED), 1);
    assert_eq!(logged(&data, REFUSED), 1);
    assert!(logged(&data, "MAC mismatch") >= 1);
    assert_eq!(snapshot(&s), before);
}

#[test]
fn after_a_crash_the_snapshot_and_the_log_after_it_give_every_acknowledged_change() {
    let s = Server::start();
    scenario(&s);
    let s = s.restart();
    // Changes after the snapshot, then a crash: no new snapshot.
    let admin = s.admin_token(None);
    let (c, c_secret) = s.service_client(&admin, "after-snapshot", "read");
    let token: Value = s.token_basic(&c, &c_secret, None).json().unwrap();
    s.post("/api/admin/oauth-clients/a/pause")
        .bearer_auth(&admin)
        .send()
        .unwrap();
    let before = snapshot(&s);
    let (data, dir) = s.kill9();

    let mut s = Server::start_on(&data, &[]);
    s.hold(dir);
    assert_eq!(
        logged(&data, RESTORED),
        2,
        "both starts restored a snapshot"
    );
    assert_eq!(snapshot(&s), before);
    let introspected = s.introspect(&c, &c_secret, token["access_token"].as_str().unwrap());
    assert_eq!(introspected["active"], true, "{introspected}");
}

#[test]
fn a_snapshot_of_another_log_is_refused() {
    let s = Server::start();
    scenario(&s);
    let data = s.data.clone();
    let dir = s.stop();
    // Another server's log, of at least as many records, under this snapshot.
    let other = Server::start();
    scenario(&other);
    for _ in 0..20 {
        other.admin_token(None);
    }
    let expected = snapshot(&other);
    let other_data = other.data.clone();
    let _other_dir = other.stop();
    std::fs::remove_file(other_data.join("projections.snapshot")).unwrap();
    std::fs::copy(
        data.join("projections.snapshot"),
        other_data.join("projections.snapshot"),
    )
    .unwrap();
    drop(dir);

    let s = Server::start_on(&other_data, &[]);
    assert_eq!(logged(&other_data, RESTORED), 0);
    assert_eq!(logged(&other_data, REFUSED), 1);
    assert!(logged(&other_data, "has another hash") >= 1);
    assert_eq!(snapshot(&s), expected);
}
