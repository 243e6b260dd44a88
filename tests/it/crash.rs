//! Crash under load through HTTP: the real binary takes mixed traffic
//! (client_credentials issuance, revocation, admin edits) from a few
//! threads and is SIGKILLed at random moments, then restarted on the same
//! data directory. After every restart:
//!
//! * every token that got a 200 is active, unless its revocation got a 200
//!   (then it is inactive); a revocation cut by the kill may have gone
//!   either way and is resolved by asking;
//! * every acknowledged admin edit is visible (or the one cut by the kill);
//! * each client's `active_token_count` equals the acknowledged, unrevoked
//!   tokens plus at most the issuances cut by the kills (nothing else);
//! * the hash chain verifies (`GET /api/audit/verify`, and `authlog verify`
//!   on the crashed directory every few rounds and at the end).
//!
//! Seeded: the seed is printed, `AUTHLOG_CRASH_SEED` repeats a run.
//! `AUTHLOG_CRASH_LONG=1` runs 200 kills with longer load windows.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value};

use crate::harness::{binary, enc, Server};

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::env::var("AUTHLOG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        })
        | 1
}

/// What the test knows about one service client.
#[derive(Debug, Default)]
struct ClientModel {
    secret: String,
    /// Acknowledged tokens and whether an acknowledged revocation covers them.
    tokens: Vec<(String, bool)>,
    /// Tokens issued in the log whose 200 never arrived (cut by a kill).
    orphans: u64,
    /// The last acknowledged `client_name`.
    name: String,
}

impl ClientModel {
    fn active(&self) -> u64 {
        self.tokens.iter().filter(|(_, revoked)| !revoked).count() as u64
    }
}

/// What one load thread saw during a round.
#[derive(Debug, Default)]
struct Outcome {
    issued: Vec<String>,
    revoked: Vec<String>,
    /// A token request that got no answer.
    pending_issue: bool,
    /// A revocation that got no answer.
    pending_revoke: Option<String>,
    /// The last name a PATCH acknowledged.
    acked_name: Option<String>,
    /// A PATCH that got no answer.
    pending_name: Option<String>,
    /// A response the protocol does not allow here.
    unexpected: Option<String>,
}

/// One load thread's client, credentials and seed.
struct Load {
    base: String,
    id: String,
    secret: String,
    admin: String,
    /// Its acknowledged, unrevoked tokens (revocation candidates).
    active: Vec<String>,
    rng: Rng,
    acks: Arc<AtomicUsize>,
    /// Makes this round's edit names unique.
    tag: String,
}

/// Drives one client's traffic until the server stops answering.
fn load(l: Load) -> Outcome {
    let Load {
        base,
        id,
        secret,
        admin,
        mut active,
        mut rng,
        acks,
        tag,
    } = l;
    let http = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut out = Outcome::default();
    for n in 0u64.. {
        let roll = rng.below(100);
        if roll < 60 || active.is_empty() {
            let r = http
                .post(format!("{base}/oauth/token"))
                .basic_auth(enc(&id), Some(enc(&secret)))
                .form(&[("grant_type", "client_credentials")])
                .send();
            let Ok(r) = r else {
                out.pending_issue = true;
                return out;
            };
            if r.status() != 200 {
                out.unexpected = Some(format!("token: {}", r.status()));
                return out;
            }
            let Ok(body) = r.json::<Value>() else {
                out.pending_issue = true;
                return out;
            };
            let token = body["access_token"].as_str().unwrap().to_owned();
            active.push(token.clone());
            out.issued.push(token);
        } else if roll < 80 {
            let token = active.swap_remove(rng.below(active.len() as u64) as usize);
            let r = http
                .post(format!("{base}/oauth/revoke"))
                .basic_auth(enc(&id), Some(enc(&secret)))
                .form(&[("token", token.as_str())])
                .send();
            match r {
                Ok(r) if r.status() == 200 => out.revoked.push(token),
                Ok(r) => {
                    out.unexpected = Some(format!("revoke: {}", r.status()));
                    return out;
                }
                Err(_) => {
                    out.pending_revoke = Some(token);
                    return out;
                }
            }
        } else {
            let name = format!("{id} {tag}-{n}");
            let r = http
                .patch(format!("{base}/api/admin/oauth-clients/{id}"))
                .bearer_auth(&admin)
                .json(&json!({ "client_name": name }))
                .send();
            match r {
                Ok(r) if r.status() == 200 => out.acked_name = Some(name),
                Ok(r) => {
                    out.unexpected = Some(format!("edit: {}", r.status()));
                    return out;
                }
                Err(_) => {
                    out.pending_name = Some(name);
                    return out;
                }
            }
        }
        acks.fetch_add(1, Ordering::SeqCst);
    }
    unreachable!()
}

/// `authlog verify` on a stopped (possibly crashed) data directory.
fn verify_cli(data: &Path) {
    let out = Command::new(binary())
        .args(["verify", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "authlog verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn active(s: &Server, introspector: &str, secret: &str, token: &str) -> bool {
    s.introspect(introspector, secret, token)["active"] == json!(true)
}

/// Checks every guarantee against the restarted server, resolving what the
/// kill left open. `all` introspects every known token, else this round's
/// plus a sample.
#[allow(clippy::too_many_arguments)]
fn check(
    s: &Server,
    round: usize,
    clients: &mut HashMap<String, ClientModel>,
    outcomes: Vec<(String, Outcome)>,
    rs: &(String, String),
    rng: &mut Rng,
    all: bool,
) {
    let admin = s.admin_token(None);
    let (rs_id, rs_secret) = rs;
    for (id, out) in outcomes {
        assert!(
            out.unexpected.is_none(),
            "round {round}: {id}: {:?}",
            out.unexpected
        );
        let model = clients.get_mut(&id).unwrap();
        let detail: Value = s
            .get(&format!("/api/admin/oauth-clients/{id}"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();

        // Edits: the acknowledged one, or the one the kill cut.
        let expected = out.acked_name.clone().unwrap_or(model.name.clone());
        let seen = detail["client_name"].as_str().unwrap().to_owned();
        assert!(
            seen == expected || Some(&seen) == out.pending_name.as_ref(),
            "round {round}: {id}: name {seen:?}, acknowledged {expected:?}, in flight {:?}",
            out.pending_name
        );
        model.name = seen;

        // Tokens: every acknowledged one is there, revoked iff acknowledged so.
        let fresh: Vec<String> = out.issued.clone();
        model
            .tokens
            .extend(out.issued.into_iter().map(|t| (t, false)));
        for t in &out.revoked {
            let entry = model.tokens.iter_mut().find(|(k, _)| k == t).unwrap();
            entry.1 = true;
        }
        if let Some(t) = &out.pending_revoke {
            let now_active = active(s, rs_id, rs_secret, t);
            let entry = model.tokens.iter_mut().find(|(k, _)| k == t).unwrap();
            entry.1 = !now_active;
        }
        for (t, revoked) in &model.tokens {
            let sampled = all
                || fresh.contains(t)
                || out.revoked.contains(t)
                || rng.below(model.tokens.len() as u64) < 10;
            if sampled {
                assert_eq!(
                    active(s, rs_id, rs_secret, t),
                    !revoked,
                    "round {round}: {id}: token acknowledged{} is {}",
                    if *revoked { " and revoked" } else { "" },
                    if *revoked { "active" } else { "inactive" },
                );
            }
        }

        // Counts: the acknowledged ones plus at most the issuance cut by a kill.
        let count = detail["active_token_count"].as_u64().unwrap();
        let known = model.active() + model.orphans;
        let allowed = u64::from(out.pending_issue);
        assert!(
            count >= known && count <= known + allowed,
            "round {round}: {id}: active_token_count {count}, acknowledged {} + unacknowledged {} (+{allowed} in flight)",
            model.active(),
            model.orphans
        );
        model.orphans += count - known;
    }
    let verify: Value = s
        .get("/api/audit/verify")
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verify["intact"], true, "round {round}: {verify}");
}

#[test]
fn acknowledged_writes_survive_sigkill_under_http_load() {
    let long = std::env::var("AUTHLOG_CRASH_LONG").is_ok_and(|v| v == "1");
    let (kills, window_ms) = if long { (200, 1500) } else { (20, 150) };
    let seed = seed();
    println!("crash test seed: {seed} (AUTHLOG_CRASH_SEED={seed} to repeat)");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let mut s = Server::start();
    let admin = s.admin_token(None);
    let rs = {
        let body = s.create_client(
            &admin,
            json!({"client_id": "rs", "client_name": "rs", "grant_types": ["client_credentials"], "introspection_allowed": true}),
        );
        (
            "rs".to_owned(),
            body["client_secret"].as_str().unwrap().to_owned(),
        )
    };
    let mut clients: HashMap<String, ClientModel> = HashMap::new();
    for i in 0..3 {
        let (id, secret) = s.service_client(&admin, &format!("svc{i}"), "read");
        clients.insert(
            id.clone(),
            ClientModel {
                secret,
                name: format!("service {id}"),
                ..Default::default()
            },
        );
    }

    let mut acknowledged = 0usize;
    // Issuances, revocations and edits cut by a kill.
    let mut in_flight = [0usize; 3];
    for round in 0..kills {
        let admin = s.admin_token(Some("clients:write"));
        let acks = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = clients
            .iter()
            .map(|(id, m)| {
                let known: Vec<String> = m
                    .tokens
                    .iter()
                    .filter(|(_, r)| !r)
                    .map(|(t, _)| t.clone())
                    .collect();
                let l = Load {
                    base: s.base.clone(),
                    id: id.clone(),
                    secret: m.secret.clone(),
                    admin: admin.clone(),
                    active: known,
                    rng: Rng(rng.next() | 1),
                    acks: acks.clone(),
                    tag: format!("r{round}"),
                };
                let id = id.clone();
                std::thread::spawn(move || {
                    let out = load(l);
                    (id, out)
                })
            })
            .collect();
        // Kill at a random moment once the load is flowing.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acks.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "round {round}: no load");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(rng.below(window_ms)));
        let (data, dir) = s.kill9();
        let outcomes: Vec<(String, Outcome)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (_, o) in &outcomes {
            in_flight[0] += usize::from(o.pending_issue);
            in_flight[1] += usize::from(o.pending_revoke.is_some());
            in_flight[2] += usize::from(o.pending_name.is_some());
        }
        acknowledged += acks.load(Ordering::SeqCst);
        if round % 5 == 4 {
            // The CLI recovers and verifies a crashed directory on its own.
            verify_cli(&data);
        }
        s = Server::start_on(&data, &[]);
        s.hold(dir);
        let last = round + 1 == kills;
        check(&s, round, &mut clients, outcomes, &rs, &mut rng, last);
    }
    let data = s.data.clone();
    let _dir = s.stop();
    verify_cli(&data);
    println!(
        "crash test: {kills} kills, {acknowledged} acknowledged requests checked, \
         cut by a kill: {} issuances, {} revocations, {} edits; {:.1?}",
        in_flight[0],
        in_flight[1],
        in_flight[2],
        started.elapsed()
    );
}
