//! Several `authlog serve --store postgres://…` replicas on one database:
//! one leads, the others forward writes and serve reads; what any replica
//! acknowledged every replica answers; a killed leader is replaced within
//! seconds without losing an acknowledged write; and a log moves between
//! the embedded store and PostgreSQL record for record.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{binary, Server};
use crate::pg::TestDb;

/// Keys every replica must share (the digests of secrets, the checkpoint
/// signatures and the token vault must agree).
const SERVER_KEY: &str = "c2VydmVyLWtleS1mb3ItcmVwbGljYS10ZXN0cy0wMDA";
const AUDIT_KEY: &str = "YXVkaXQta2V5LWZvci1yZXBsaWNhLXRlc3RzLTAwMDA";
const VAULT_KEY: &str = "dmF1bHQta2V5LWZvci1yZXBsaWNhLXRlc3RzLTAwMDA";

/// What every replica on `db` starts with.
pub(crate) fn replica_env(db: &TestDb) -> [(&str, &str); 4] {
    [
        ("AUTHLOG_STORE", &db.url),
        ("AUTHLOG_SERVER_KEY", SERVER_KEY),
        ("AUTHLOG_AUDIT_KEY", AUDIT_KEY),
        ("AUTHLOG_VAULT_KEY", VAULT_KEY),
    ]
}

fn replica(db: &TestDb) -> Server {
    Server::start_with(&replica_env(db))
}

fn replication(server: &Server) -> Value {
    let ready: Value = server.get("/readyz").send().unwrap().json().unwrap();
    ready["replication"].clone()
}

fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The index of the leader among `servers`, once exactly one leads and
/// every one names it.
pub(crate) fn leader_of(servers: &[&Server]) -> usize {
    eventually("one replica leads", Duration::from_secs(15), || {
        let views: Vec<Value> = servers.iter().map(|s| replication(s)).collect();
        let leaders: Vec<usize> = (0..views.len())
            .filter(|i| views[*i]["role"] == "leader")
            .collect();
        let [only] = leaders[..] else {
            return None;
        };
        let named = &views[only]["leader"];
        let agreed = named.is_string() && views.iter().all(|v| v["leader"] == *named);
        agreed.then_some(only)
    })
}

#[test]
fn what_any_replica_acknowledges_every_replica_answers() {
    let Some(db) = TestDb::create("what_any_replica_acknowledges") else {
        return;
    };
    let servers = [replica(&db), replica(&db), replica(&db)];
    let all: Vec<&Server> = servers.iter().collect();
    let lead = leader_of(&all);
    let follower = &servers[(lead + 1) % 3];
    // Admin writes through a follower reach the leader.
    let admin = follower.admin_token(None);
    let (id, secret) = follower.service_client(&admin, "svc", "clients:read");
    for issuer in &servers {
        let token = issuer.access_token(&id, &secret, None);
        // Issued anywhere, active everywhere, at once.
        for reader in &servers {
            let seen = reader.introspect(&id, &secret, &token);
            assert_eq!(seen["active"], true, "{seen}");
        }
        // Revoked through one replica, inactive at every one.
        let revoker = &servers[(lead + 2) % 3];
        assert_eq!(revoker.revoke(&id, &secret, &token), 200);
        for reader in &servers {
            assert_eq!(reader.introspect(&id, &secret, &token)["active"], false);
        }
    }
    // A pause acknowledged by a follower: no replica answers active.
    let token = servers[lead].access_token(&id, &secret, None);
    let r = follower
        .post(&format!("/api/admin/oauth-clients/{id}/pause"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    for reader in &servers {
        assert_eq!(reader.introspect(&id, &secret, &token)["active"], false);
    }
    // Every replica reads the same registry and the same verified chain.
    let heads: HashSet<u64> = servers.iter().map(Server::head).collect();
    assert_eq!(heads.len(), 1, "{heads:?}");
    for server in &servers {
        let verify: Value = server
            .get("/api/audit/verify")
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(verify["intact"], true, "{verify}");
    }
}

#[test]
fn a_follower_behind_the_log_waits_for_the_head_before_it_answers() {
    let Some(db) = TestDb::create("a_follower_behind_the_log_waits") else {
        return;
    };
    // Both fold what they read only after 400 ms: without the wait for
    // the head, the follower would answer from before the write.
    let slow = |db: &TestDb| {
        let mut env = replica_env(db).to_vec();
        env.push(("AUTHLOG_REPLICA_APPLY_DELAY_MS", "400"));
        Server::start_with(&env)
    };
    let servers = [slow(&db), slow(&db)];
    let lead = leader_of(&servers.iter().collect::<Vec<_>>());
    let (leader, follower) = (&servers[lead], &servers[1 - lead]);
    let admin = leader.admin_token(None);
    let (id, secret) = leader.service_client(&admin, "lagging", "clients:read");
    for _ in 0..3 {
        let token = leader.access_token(&id, &secret, None);
        assert_eq!(follower.introspect(&id, &secret, &token)["active"], true);
        assert_eq!(leader.revoke(&id, &secret, &token), 200);
        assert_eq!(follower.introspect(&id, &secret, &token)["active"], false);
    }
}

#[test]
fn a_killed_leader_is_replaced_and_nothing_acknowledged_is_lost() {
    let Some(db) = TestDb::create("a_killed_leader_is_replaced") else {
        return;
    };
    let mut servers: Vec<Option<Server>> = (0..3).map(|_| Some(replica(&db))).collect();
    let all: Vec<&Server> = servers.iter().flatten().collect();
    let lead = leader_of(&all);
    let admin = all[lead].admin_token(None);
    let (id, secret) = all[lead].service_client(&admin, "load", "clients:read");
    let bases: Vec<String> = all.iter().map(|s| s.base.clone()).collect();

    // Load on every replica; record each acknowledged token and every
    // answer that was not one.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(Vec::<(u16, Option<String>)>::new()));
    // Transport errors, by the replica asked.
    let unanswered = Arc::new(Mutex::new(Vec::<usize>::new()));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, acknowledged, refused, unanswered) = (
                stop.clone(),
                acknowledged.clone(),
                refused.clone(),
                unanswered.clone(),
            );
            let (bases, id, secret) = (bases.clone(), id.clone(), secret.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap();
                let mut n = w;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let sent = http
                        .post(format!("{}/oauth/token", bases[n % bases.len()]))
                        .basic_auth(&id, Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send();
                    match sent {
                        Ok(r) if r.status() == 200 => {
                            let body: Value = r.json().unwrap();
                            let token = body["access_token"].as_str().unwrap().to_owned();
                            acknowledged.lock().unwrap().push(token);
                        }
                        Ok(r) => {
                            let retry = r
                                .headers()
                                .get("retry-after")
                                .map(|v| v.to_str().unwrap().to_owned());
                            refused.lock().unwrap().push((r.status().as_u16(), retry));
                        }
                        Err(_) => {
                            unanswered.lock().unwrap().push(n % bases.len());
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let before = acknowledged.lock().unwrap().len();
    let killed_at = Instant::now();
    let (dead_data, dead_dir) = servers[lead].take().unwrap().kill9();
    let survivors: Vec<&Server> = servers.iter().flatten().collect();
    let new_lead = leader_of(&survivors);
    let took_over = killed_at.elapsed();
    assert!(took_over < Duration::from_secs(10), "took {took_over:?}");
    // Writes go on through the new leader.
    let after_failover = acknowledged.lock().unwrap().len();
    eventually(
        "writes are acknowledged again",
        Duration::from_secs(10),
        || (acknowledged.lock().unwrap().len() > after_failover + 20).then_some(()),
    );
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    eprintln!(
        "failover: new leader named after {took_over:?}; {} tokens acknowledged ({before} before the kill), {} answered 503",
        acknowledged.len(),
        refused.lock().unwrap().len()
    );
    assert!(before > 10, "only {before} tokens before the kill");
    // In-flight failures were 503s with Retry-After, nothing else.
    for (status, retry) in refused.lock().unwrap().iter() {
        assert_eq!(*status, 503, "a request failed with {status}");
        assert!(retry.is_some(), "a 503 without Retry-After");
    }
    // Only the killed replica left requests unanswered.
    for asked in unanswered.lock().unwrap().iter() {
        assert_eq!(*asked, lead, "a surviving replica did not answer");
    }
    // Every acknowledged token is there, on every survivor.
    for token in &acknowledged {
        for server in &survivors {
            assert_eq!(server.introspect(&id, &secret, token)["active"], true);
        }
    }
    let verify: Value = survivors[new_lead]
        .get("/api/audit/verify")
        .bearer_auth(survivors[new_lead].admin_token(None))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verify["intact"], true, "{verify}");
    // The old leader, restarted, follows.
    let mut back = Server::start_on(&dead_data, &replica_env(&db));
    back.hold(dead_dir);
    assert_eq!(replication(&back)["role"], "follower");
    let last = acknowledged.last().unwrap();
    assert_eq!(back.introspect(&id, &secret, last)["active"], true);
}

#[test]
fn a_leader_cut_off_from_the_database_stops_and_another_takes_over() {
    let Some(db) = TestDb::create("a_leader_cut_off_from_the_database") else {
        return;
    };
    let mut servers = [replica(&db), replica(&db)];
    let lead = leader_of(&servers.iter().collect::<Vec<_>>());
    let other = 1 - lead;
    let admin = servers[lead].admin_token(None);
    let (id, secret) = servers[lead].service_client(&admin, "cut", "clients:read");
    // The leader's session ends under it (a cut connection, a restarted
    // database): it must stop writing at once, and it exits.
    db.end_leader_session();
    assert_eq!(servers[lead].exit_code(Duration::from_secs(10)), Some(3));
    assert_eq!(leader_of(&[&servers[other]]), 0);
    let token = servers[other].access_token(&id, &secret, None);
    assert_eq!(
        servers[other].introspect(&id, &secret, &token)["active"],
        true
    );
}

#[test]
fn a_log_moves_between_the_embedded_store_and_postgres_record_for_record() {
    let Some(db) = TestDb::create("a_log_moves_between_stores") else {
        return;
    };
    let embedded = Server::start_with(&[
        ("AUTHLOG_SERVER_KEY", SERVER_KEY),
        ("AUTHLOG_AUDIT_KEY", AUDIT_KEY),
    ]);
    let admin = embedded.admin_token(None);
    let (id, secret) = embedded.service_client(&admin, "moved", "clients:read");
    let token = embedded.admin_token(Some("clients:read"));
    let data = embedded.data.clone();
    let dir = embedded.stop();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(binary())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let data_arg = data.to_str().unwrap();
    let (code, out, err) = run(&["migrate-store", "--from", data_arg, "--to", &db.url]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (_, embedded_verify, _) = run(&["verify", "--data", data_arg]);
    let (code, pg_verify, err) = run(&["verify", "--store", &db.url]);
    assert_eq!(code, Some(0), "{err}");
    // The same chain: same record count and head hash.
    assert_eq!(pg_verify, embedded_verify);
    // Copying into a log that holds records is refused.
    let (code, _, err) = run(&["migrate-store", "--from", data_arg, "--to", &db.url]);
    assert_eq!(code, Some(2));
    assert!(err.contains("already holds"), "{err}");
    // A server on the copy knows the client and the token.
    let server = replica(&db);
    // It leads once the copying session's lock is gone.
    leader_of(&[&server]);
    let fresh = server.access_token(&id, &secret, None);
    assert_eq!(server.introspect(&id, &secret, &fresh)["active"], true);
    let r = server
        .get("/api/admin/oauth-clients/moved")
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let back = tempfile::tempdir().unwrap();
    let back_data = back.path().join("data");
    drop(server);
    let (code, out, err) = run(&[
        "migrate-store",
        "--from",
        &db.url,
        "--to",
        back_data.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, _) = run(&["verify", "--data", back_data.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    drop(dir);
}

#[test]
fn the_schema_is_migrated_by_its_own_command_and_a_wrong_store_is_refused() {
    let Some(db) = TestDb::create("the_schema_is_migrated") else {
        return;
    };
    let out = std::process::Command::new(binary())
        .args(["migrate", "--store", &db.url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("schema version 3"), "{text}");
    let again = std::process::Command::new(binary())
        .args(["migrate", "--store", &db.url])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to migrate"));
    // A store that is not PostgreSQL is refused, without echoing the URL
    // and its password.
    let wrong = std::process::Command::new(binary())
        .args(["serve", "--store", "mysql://admin:hunter2@y/z"])
        .env("AUTHLOG_DATA", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("AUTHLOG_STORE"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
    // Listening on every address, a replica must be told what URL the
    // others reach it at.
    let everywhere = std::process::Command::new(binary())
        .args(["serve", "--store", &db.url, "--listen", "0.0.0.0:0"])
        .env("AUTHLOG_DATA", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(everywhere.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&everywhere.stderr).contains("AUTHLOG_ADVERTISE_URL"));
}

#[test]
fn the_leader_records_the_clients_address_only_when_a_replica_vouches_for_it() {
    let Some(db) = TestDb::create("the_leader_records_the_clients_address") else {
        return;
    };
    let servers = [replica(&db), replica(&db)];
    let lead = leader_of(&servers.iter().collect::<Vec<_>>());
    let (leader, follower) = (&servers[lead], &servers[1 - lead]);
    let admin = leader.admin_token(None);
    let (id, secret) = leader.service_client(&admin, "addr", "clients:read");
    // A client on 127.0.0.2 asks the follower; the leader appends.
    let from_two = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let forwarded = from_two
        .post(follower.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(forwarded.status(), 200);
    // A client claiming another address without the proof is not believed.
    let forged = reqwest::blocking::Client::new()
        .post(leader.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .header("x-authlog-forwarded-for", "203.0.113.9")
        .header("x-authlog-replica", "not-a-proof")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 200);
    let page: Value = leader
        .get("/api/audit/events?client_id=addr&limit=10")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let issued: Vec<&str> = page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .filter(|i| i["type"] == "TokenIssued")
        .map(|i| i["actor"]["ip"].as_str().unwrap())
        .collect();
    // Newest first: the forged request, then the forwarded one.
    assert_eq!(issued, ["127.0.0.1", "127.0.0.2"]);
}
