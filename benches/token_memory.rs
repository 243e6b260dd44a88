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
use uuid::Uuid;

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
        let client = format!("client-{}", n % 1000);
        let id = Uuid::now_v7();
        let event = RecordedEvent {
            position: n + 1,
            stream: format!("grant/{id}"),
            stream_version: 1,
            event_id: Uuid::now_v7(),
            recorded_at: Timestamp::from_unix_seconds(1_764_000_000),
            actor: Actor {
                principal: Principal::Client(client.clone()),
                via_client: None,
                ip: Some("127.0.0.1".parse().unwrap()),
                user_agent: Some("bench/1".into()),
            },
            client_id: Some(client.clone()),
            correlation_id: Some(format!("req-{n}")),
            payload: Event::TokenIssued {
                token_id: id,
                kind: TokenKind::Access,
                digest: digest_of(Uuid::new_v4()),
                client_id: client,
                subject: None,
                scopes: vec!["api:read".into(), "api:write".into()],
                audience: vec![],
                teams: vec![],
                access: AccessPreset::ReadOnly,
                issued_at: Timestamp::from_unix_seconds(1_764_000_000),
                expires_at: Timestamp::from_unix_seconds(1_764_003_600),
                family_id: id,
                grant_type: GrantType::ClientCredentials,
                parent_id: None,
            },
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

/// A 32-byte digest stand-in from a random UUID.
fn digest_of(id: Uuid) -> Digest {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(id.as_bytes());
    out[16..].copy_from_slice(id.as_bytes());
    Digest(out)
}
