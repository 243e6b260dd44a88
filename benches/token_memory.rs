//! Memory of the projections per active token: folds 1,000,000
//! `TokenIssued` events (client_credentials over 1,000 clients) into fresh
//! `Projections` and reports the bytes held per token, counted by a
//! counting global allocator (heap only, what the projections own).
//!
//! Run: `cargo bench --bench token_memory` (`-- --tokens N` to change the count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use authlog_events::*;
use authlog_projections::Projections;

mod workload;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tokens: u64 = args
        .iter()
        .position(|a| a == "--tokens")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut projections = Projections::default();
    let before = LIVE.load(Ordering::Relaxed);
    for n in 0..tokens {
        let new = workload::token_event(n, 1000);
        let event = RecordedEvent {
            position: n + 1,
            stream: new.stream,
            stream_version: 1,
            event_id: new.event_id,
            recorded_at: new.recorded_at,
            actor: new.actor,
            client_id: new.client_id,
            correlation_id: new.correlation_id,
            payload: new.payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        projections.apply(&event);
    }
    let after = LIVE.load(Ordering::Relaxed);
    let per_token = (after - before) as f64 / tokens as f64;
    println!(
        "TokenRecord: {} bytes inline",
        std::mem::size_of::<authlog_projections::TokenRecord>()
    );
    println!("| active tokens | projection heap bytes | bytes per token |");
    println!("|---:|---:|---:|");
    println!("| {tokens} | {} | {per_token:.0} |", after - before);
}
