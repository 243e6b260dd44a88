//! What only the PostgreSQL backend has: the leader lock that makes one
//! replica the writer, positions that stay gapless and in commit order
//! under concurrent appends and readers, a leader that stops writing the
//! moment its session ends, and versioned migrations.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authlog_events::pg_store::Role;
use authlog_events::*;
use common::pg::TestDb;
use common::*;
use uuid::Uuid;

fn append_one(store: &PgStore, event: NewEvent) -> Result<u64, StoreError> {
    let out = store.append(vec![AppendBatch::new(vec![event])])?;
    Ok(out[0].as_ref().unwrap()[0].position)
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn only_one_session_leads_and_a_follower_cannot_append() {
    let Some(db) = TestDb::create("only_one_session_leads") else {
        return;
    };
    let a = PgStore::open(&db.url).unwrap();
    let b = PgStore::open(&db.url).unwrap();
    assert_eq!(a.try_lead().unwrap(), Role::Leader);
    assert_eq!(b.try_lead().unwrap(), Role::Follower);
    assert!(!b.is_leading());
    let refused = append_one(&b, resumed("client/a", "a")).unwrap_err();
    assert!(refused.to_string().contains("leader"), "{refused}");
    assert_eq!(append_one(&a, resumed("client/a", "a")).unwrap(), 1);
    // The follower reads what the leader wrote.
    assert_eq!(b.head().unwrap().unwrap().position, 1);
    a.resign();
    eventually("the lock is free", || b.try_lead().unwrap() == Role::Leader);
    assert_eq!(append_one(&b, resumed("client/a", "a")).unwrap(), 2);
    assert!(append_one(&a, resumed("client/a", "a")).is_err());
}

#[test]
fn readers_see_positions_gapless_and_in_order_while_appends_race() {
    let Some(db) = TestDb::create("readers_see_positions_gapless") else {
        return;
    };
    let leader = Arc::new(PgStore::open(&db.url).unwrap());
    assert_eq!(leader.try_lead().unwrap(), Role::Leader);
    let reader = PgStore::open(&db.url).unwrap();
    const THREADS: usize = 4;
    const EACH: usize = 60;
    let total = (THREADS * EACH) as u64;
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let leader = leader.clone();
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    let stream = format!("client/t{t}");
                    append_one(&leader, resumed(&stream, "a")).unwrap();
                }
            })
        })
        .collect();
    // A tailer reads from where it is: every read must continue exactly
    // there, never skipping a position that becomes visible later.
    let mut next = 1u64;
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while next <= total {
        assert!(Instant::now() < deadline, "the tailer stopped at {next}");
        for record in reader.read_all(next, 1000).unwrap() {
            assert_eq!(record.position, next, "a reader saw a gap");
            assert!(seen.insert(record.event_id), "a duplicate record");
            next += 1;
        }
        reader.wait_for_append(next - 1, Duration::from_millis(200));
    }
    for w in writers {
        w.join().unwrap();
    }
    let report = reader.verify().unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.records, total);
    for t in 0..THREADS {
        let versions: Vec<u64> = reader
            .read_stream(&format!("client/t{t}"), 1, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.stream_version)
            .collect();
        assert_eq!(versions, (1..=EACH as u64).collect::<Vec<_>>());
    }
}

#[test]
fn replicas_racing_for_the_lock_never_fork_or_skip_the_chain() {
    let Some(db) = TestDb::create("replicas_racing_for_the_lock") else {
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let url = db.url.clone();
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let store = PgStore::open(&url).unwrap();
                let mut acknowledged = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    if store.try_lead().map(|r| r == Role::Leader).unwrap_or(false) {
                        if let Ok(position) = append_one(&store, resumed("client/r", "r")) {
                            acknowledged.push(position);
                        }
                    } else {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Depose whoever leads, again and again.
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(150));
        db.end_leader_session();
    }
    std::thread::sleep(Duration::from_millis(150));
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged: Vec<u64> = replicas
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    let count = acknowledged.len();
    acknowledged.sort_unstable();
    acknowledged.dedup();
    assert_eq!(acknowledged.len(), count, "two appends got one position");
    let store = PgStore::open(&db.url).unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    // Every acknowledged append is in the log.
    let stored: HashSet<u64> = store
        .read_all(1, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.position)
        .collect();
    assert!(acknowledged.iter().all(|p| stored.contains(p)));
    assert!(count > 10, "only {count} appends were acknowledged");
}

#[test]
fn a_leader_whose_session_ends_stops_writing_at_once() {
    let Some(db) = TestDb::create("a_leader_whose_session_ends") else {
        return;
    };
    let a = PgStore::open(&db.url).unwrap();
    let b = PgStore::open(&db.url).unwrap();
    assert_eq!(a.try_lead().unwrap(), Role::Leader);
    append_one(&a, resumed("client/a", "a")).unwrap();
    db.end_leader_session();
    // The first append after the cut fails (its session is gone) ...
    let cut = append_one(&a, resumed("client/a", "a"));
    assert!(cut.is_err(), "{cut:?}");
    assert!(!a.is_leading());
    // ... and so does every later one, until it takes the lock again.
    assert!(append_one(&a, resumed("client/a", "a")).is_err());
    assert_eq!(b.try_lead().unwrap(), Role::Leader);
    assert_eq!(a.try_lead().unwrap(), Role::Follower);
    assert_eq!(append_one(&b, resumed("client/a", "a")).unwrap(), 2);
    assert!(b.verify().unwrap().is_intact());
}

#[test]
fn verify_names_a_tampered_row() {
    let Some(db) = TestDb::create("verify_names_a_tampered_row") else {
        return;
    };
    let store = PgStore::open(&db.url).unwrap();
    store.try_lead().unwrap();
    for _ in 0..5 {
        append_one(&store, resumed("client/a", "a")).unwrap();
    }
    db.execute(
        "UPDATE authlog_events SET record = set_byte(record, 40, get_byte(record, 40) # 1)
         WHERE position = 3",
    );
    let report = store.verify().unwrap();
    assert_eq!(report.broken.map(|b| b.position), Some(3));
    db.execute("DELETE FROM authlog_events WHERE position = 4");
    let store = PgStore::open(&db.url).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.broken.map(|b| b.position), Some(3));
}

#[test]
fn a_removed_record_breaks_the_chain_where_it_was() {
    let Some(db) = TestDb::create("a_removed_record_breaks_the_chain") else {
        return;
    };
    let store = PgStore::open(&db.url).unwrap();
    store.try_lead().unwrap();
    for _ in 0..5 {
        append_one(&store, resumed("client/a", "a")).unwrap();
    }
    db.execute("DELETE FROM authlog_events WHERE position = 4");
    let report = store.verify().unwrap();
    assert_eq!(report.broken.map(|b| b.position), Some(4));
}

#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let Some(db) = TestDb::create("migrations_run_once") else {
        return;
    };
    let store = PgStore::open(&db.url).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(store.migrate().unwrap(), Vec::<i32>::new());
    drop(store);
    db.execute(
        "INSERT INTO authlog_schema_migrations (version, description) VALUES (999, 'future')",
    );
    let refused = PgStore::open(&db.url).unwrap_err();
    assert!(refused.to_string().contains("999"), "{refused}");
}

#[test]
fn vault_keys_are_stored_read_listed_and_forgotten() {
    let Some(db) = TestDb::create("vault_keys") else {
        return;
    };
    let store = PgStore::open(&db.url).unwrap();
    let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
    store.vault_key_put(a, b"wrapped-a").unwrap();
    store.vault_key_put(b, b"wrapped-b").unwrap();
    assert_eq!(
        store.vault_key_get(a).unwrap().as_deref(),
        Some(&b"wrapped-a"[..])
    );
    store.vault_key_delete(b).unwrap();
    store.vault_key_delete(Uuid::from_u128(3)).unwrap();
    assert_eq!(store.vault_key_get(b).unwrap(), None);
    assert_eq!(store.vault_key_ids().unwrap(), vec![a]);
    // Gone from the table, not only hidden: a fresh session sees none of b.
    drop(store);
    let again = PgStore::open(&db.url).unwrap();
    assert_eq!(again.vault_key_ids().unwrap(), vec![a]);
}

/// The error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[test]
fn sslmode_require_uses_tls_and_verifies_the_servers_certificate() {
    let Some(db) = TestDb::create("sslmode_require_uses_tls") else {
        return;
    };
    // The development machines' server presents Debian's snakeoil
    // certificate, issued to `localhost`.
    const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    if !db.url.starts_with(common::pg::DEFAULT_URL) || !std::path::Path::new(SNAKEOIL).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs this against the local server with its snakeoil certificate"
        );
        eprintln!("SKIPPED sslmode_require_uses_tls: needs the local server and {SNAKEOIL}");
        return;
    }
    let on_localhost = db.url.replace("@127.0.0.1:", "@localhost:");
    // No CA for a self-signed certificate: refused, so TLS was tried and
    // the chain checked.
    let untrusted = PgStore::open(&format!("{on_localhost}&sslmode=require")).unwrap_err();
    assert!(
        chain(&untrusted).contains("certificate"),
        "{}",
        chain(&untrusted)
    );
    // Trusted, but asked for by another name: refused too.
    let misnamed = PgStore::open(&format!(
        "{}&sslmode=verify-full&sslrootcert={SNAKEOIL}",
        db.url
    ))
    .unwrap_err();
    assert!(
        chain(&misnamed).contains("certificate"),
        "{}",
        chain(&misnamed)
    );
    // Trusted and named: the log works over TLS.
    let store = PgStore::open(&format!(
        "{on_localhost}&sslmode=require&sslrootcert={SNAKEOIL}"
    ))
    .unwrap();
    assert_eq!(store.try_lead().unwrap(), Role::Leader);
    assert_eq!(append_one(&store, resumed("client/a", "a")).unwrap(), 1);
    assert_eq!(store.read_all(1, 10).unwrap().len(), 1);
    // A missing CA file is named.
    let missing = PgStore::open(&format!(
        "{on_localhost}&sslmode=require&sslrootcert=/nonexistent.pem"
    ))
    .unwrap_err();
    assert!(
        chain(&missing).contains("/nonexistent.pem"),
        "{}",
        chain(&missing)
    );
}
