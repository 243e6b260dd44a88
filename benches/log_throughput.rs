//! Log benchmarks (a bench binary, not a timed test):
//!
//! * durable appends/s through the writer with group commit at 1, 16 and
//!   256 concurrent appenders, against one commit per event (writer batch
//!   limit 1) at the same concurrency;
//! * replay (decode + apply) events/s over 1M events, and startup (open
//!   the store + replay) for that log; then startup from a projection
//!   snapshot of it (open + load + replay of the log after it);
//! * bytes per event on disk (record file and index).
//!
//! Run: `cargo bench --bench log_throughput` (options after `--`:
//! `--seconds N` per append run, `--events N` for the replay log,
//! `--replay PATH` to measure startup of an existing log only; `BENCH_KEEP=DIR`
//! keeps the replay log there). Prints markdown tables.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use authlog::clock::SystemClock;
use authlog::commands::RawAppend;
use authlog::entropy::SystemEntropy;
use authlog::replay::replay;
use authlog::secrets::ServerKey;
use authlog::snapshot;
use authlog::writer::{spawn, SharedProjections, Sources, WriterConfig};
use authlog_events::*;
use authlog_projections::Projections;

mod workload;

/// Clients the events are spread over (`BENCH_CLIENTS`, default 1,000).
fn clients() -> u64 {
    std::env::var("BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn token_event(n: u64) -> NewEvent {
    workload::token_event(n, clients())
}

/// Appends through the writer from `appenders` tasks for `duration`; returns events/s.
fn appends_per_second(appenders: usize, max_batch: usize, duration: Duration) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> =
        Arc::new(RedbStore::open(dir.path().join("log.redb")).unwrap());
    let (writer, thread) = spawn(
        store,
        SharedProjections::default(),
        Sources {
            clock: Arc::new(SystemClock::default()),
            entropy: Arc::new(SystemEntropy),
            key: ServerKey::from_bytes([7; 32]),
            issuer: "https://authlog.bench".into(),
        },
        WriterConfig {
            max_batch,
            queue: 8192,
        },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let total: u64 = rt.block_on(async {
        let tasks: Vec<_> = (0..appenders)
            .map(|a| {
                let w = writer.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while started.elapsed() < duration {
                        w.submit(RawAppend(AppendBatch::new(vec![token_event(a as u64 + n)])))
                            .await
                            .unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    let elapsed = started.elapsed().as_secs_f64();
    let commits = writer
        .status()
        .commits
        .load(std::sync::atomic::Ordering::Relaxed);
    drop(writer);
    thread.join().unwrap();
    (total as f64 / elapsed, total as f64 / commits.max(1) as f64)
}

fn main() {
    // As the server does (see `huge_pages`).
    authlog::huge_pages::disable();
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let secs: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let duration = Duration::from_secs(secs);
    if let Some(path) = args
        .iter()
        .position(|a| a == "--replay")
        .and_then(|i| args.get(i + 1))
    {
        startup(std::path::Path::new(path));
        return;
    }

    println!("| appenders | group commit events/s | events per commit | one commit per event events/s | ratio |");
    println!("|---:|---:|---:|---:|---:|");
    for appenders in [1usize, 16, 256] {
        let (grouped, per_commit) = appends_per_second(appenders, 1024, duration);
        let (single, _) = appends_per_second(appenders, 1, duration);
        println!(
            "| {appenders} | {grouped:.0} | {per_commit:.1} | {single:.0} | {:.1}x |",
            grouped / single
        );
    }

    // Replay: build a log of `events` token events in large transactions
    // (in BENCH_KEEP, kept for `--replay`, when set).
    let dir = tempfile::tempdir().unwrap();
    let path = match std::env::var_os("BENCH_KEEP") {
        Some(keep) => std::path::PathBuf::from(keep).join("log.redb"),
        None => dir.path().join("log.redb"),
    };
    {
        let store = RedbStore::open(&path).unwrap();
        let mut n = 0;
        while n < events {
            let chunk: Vec<NewEvent> = (n..(n + 10_000).min(events)).map(token_event).collect();
            n += chunk.len() as u64;
            store.append(vec![AppendBatch::new(chunk)]).unwrap();
        }
    }
    startup(&path);
}

/// Startup of the log at `path`: three full replays, then a projection
/// snapshot is written and three starts restore it (open, load, replay
/// the log after it). Prints markdown tables.
fn startup(path: &std::path::Path) {
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len() as f64;
    let records = size(&authlog_events::redb_store::log_path(path));
    let index = size(path);
    let mut events = 0;
    let mut last = Projections::default();
    println!();
    println!("| events | run | open s | replay s | replay events/s | startup s | record file bytes/event | index bytes/event |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in 1..=3 {
        drop(std::mem::take(&mut last));
        let started = Instant::now();
        let store = RedbStore::open(path).unwrap();
        let opened = started.elapsed().as_secs_f64();
        let mut projections = Projections::default();
        let summary = replay(&store, &mut projections).unwrap();
        events = summary.events;
        let rate = events as f64 / summary.elapsed.as_secs_f64();
        println!(
            "| {events} | {run} | {opened:.2} | {:.2} | {rate:.0} | {:.2} | {:.0} | {:.0} |",
            summary.elapsed.as_secs_f64(),
            started.elapsed().as_secs_f64(),
            records / events as f64,
            index / events as f64,
        );
        last = projections;
    }

    let file = path.with_extension("snapshot");
    let started = Instant::now();
    let key = authlog::secrets::ServerKey::from_bytes([7; 32]);
    let bytes = snapshot::save(&file, &last, &key).unwrap();
    let written = started.elapsed().as_secs_f64();
    drop(last);
    println!();
    println!("| events | run | snapshot write s | snapshot bytes/event | load s | startup from snapshot s |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for run in 1..=3 {
        let started = Instant::now();
        let store = RedbStore::open(path).unwrap();
        let mut projections = snapshot::load(&file, &store, &key).unwrap();
        let loaded = started.elapsed().as_secs_f64();
        let tail = replay(&store, &mut projections).unwrap();
        assert_eq!(tail.events, 0);
        assert_eq!(projections.applied_position, events);
        println!(
            "| {events} | {run} | {written:.2} | {:.0} | {loaded:.2} | {:.2} |",
            bytes as f64 / events as f64,
            started.elapsed().as_secs_f64(),
        );
    }
    let _ = std::fs::remove_file(&file);
}
