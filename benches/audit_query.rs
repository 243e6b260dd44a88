//! Audit query benchmark (a bench binary, not a timed test): builds a log
//! of 1M events spread over many clients, then measures the first page
//! (50 items, newest first) for one client through the same walk the
//! audit API uses (`client_index` in redb), and for one actor (the
//! in-memory actor index), in milliseconds.
//!
//! Run: `cargo bench --bench audit_query` (options after `--`:
//! `--events N` (default 1,000,000), `--clients N` (default 1,000),
//! `--runs N` (default 200)). Prints a markdown table.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use authlog::audit::{AuditFilter, AuditItem, Walker};
use authlog::replay::replay;
use authlog_events::*;
use authlog_projections::Projections;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

mod workload;

fn event(n: u64, clients: u64) -> NewEvent {
    workload::token_event(n, clients)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Times `runs` first pages for `filter`; returns (cold, p50, p99) in ms.
fn first_page(
    store: &Arc<dyn EventStore>,
    projections: &Arc<RwLock<Projections>>,
    filter: &AuditFilter,
    runs: u64,
) -> (f64, f64, f64) {
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let started = Instant::now();
        let (records, _) = Walker::new(
            store.clone(),
            Some(projections.clone()),
            filter.clone(),
            None,
            50,
        )
        .unwrap()
        .page(50)
        .unwrap();
        let items: Vec<AuditItem> = records.iter().map(AuditItem::of).collect();
        assert_eq!(items.len(), 50);
        times.push(started.elapsed());
    }
    let cold = times[0].as_secs_f64() * 1000.0;
    times.sort();
    (cold, percentile(&times, 0.5), percentile(&times, 0.99))
}

fn main() {
    let events = arg("--events", 1_000_000);
    let clients = arg("--clients", 1_000);
    let runs = arg("--runs", 200).max(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let store = RedbStore::open(&path).unwrap();
    let started = Instant::now();
    let mut n = 0;
    while n < events {
        let batch: Vec<NewEvent> = (n..(n + 10_000).min(events))
            .map(|i| event(i, clients))
            .collect();
        n += batch.len() as u64;
        store.append(vec![AppendBatch::new(batch)]).unwrap();
    }
    eprintln!(
        "built {events} events in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let store: Arc<dyn EventStore> = Arc::new(store);
    let projections = Arc::new(RwLock::new(Projections::default()));
    {
        let mut p = projections.write().unwrap();
        replay(store.as_ref(), &mut p).unwrap();
    }
    let client = AuditFilter {
        client_id: Some("client-7".into()),
        ..AuditFilter::default()
    };
    let actor = AuditFilter {
        actor: Some(Principal::Client("client-7".into())),
        ..AuditFilter::default()
    };
    println!("| query ({events} events, {clients} clients, first page of 50) | cold ms | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    for (name, filter) in [
        ("client_id (redb client_index)", client),
        ("actor (in-memory index)", actor),
    ] {
        let (cold, p50, p99) = first_page(&store, &projections, &filter, runs);
        println!("| {name} | {cold:.2} | {p50:.2} | {p99:.2} |");
    }
}
