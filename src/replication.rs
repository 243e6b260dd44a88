//! Several replicas on one PostgreSQL log. Every replica folds the log
//! into its own projections and serves reads from them; one of them, the
//! replica whose session holds the leader lock (`PgStore::try_lead`), runs
//! the writer. The others forward every request that may write to it
//! (`http::forward`) and keep tailing: a notification wakes them, and they
//! read on from their applied position.
//!
//! A follower tries for the lock every `TRY_LEAD_EVERY`. When the leader
//! dies, PostgreSQL ends its session and frees the lock; the first follower
//! to take it reads the log to its head (nobody else can append any more),
//! starts its writer and advertises its URL. A leader whose session ends
//! cannot append (its appends go through that session) and exits, so a
//! supervisor restarts it, and it rejoins as a follower.
//!
//! Reads served locally wait, bounded, until the projections have applied
//! the head the request saw in the database (`Replica::catch_up_to_head`):
//! a token acknowledged by any replica is known here, and a revocation
//! acknowledged anywhere is applied here, before this replica answers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use authlog_events::pg_store::Role;
use authlog_events::{PgStore, StoreError};
use tokio::sync::watch;

use crate::state::AppState;

/// How often a follower tries to become the leader.
pub const TRY_LEAD_EVERY: Duration = Duration::from_millis(250);
/// Longest a local read waits for the projections to reach the head.
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(5);
/// How often the leader checks its session.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long the session may take to answer a heartbeat.
const HEARTBEAT_LIMIT: Duration = Duration::from_secs(2);
/// Records folded per write lock while tailing.
const TAIL_PAGE: usize = 1_000;

/// This replica's part in the group.
pub struct Replica {
    /// The shared log.
    pub store: Arc<PgStore>,
    leading: AtomicBool,
    leader_url: RwLock<Option<String>>,
    /// The URL this replica advertises when it leads.
    own_url: RwLock<Option<String>>,
    /// The last head position read from the database.
    head_seen: AtomicU64,
    /// The projections' applied position, for waiting readers.
    applied: watch::Sender<u64>,
    /// Head reads shared by the local reads waiting at once.
    heads: HeadReads,
    /// A wait before folding what was read (tests only).
    apply_delay: Duration,
}

/// One head read serves every local read that arrived before it started
/// (the read-index batching of consensus systems): a read needs a head
/// read *later* than itself, not one of its own.
#[derive(Default)]
struct HeadReads {
    /// Head reads started so far.
    started: AtomicU64,
    /// Taken by the read in flight.
    turn: tokio::sync::Mutex<()>,
    /// The last finished read: (its number, the head it saw).
    last: std::sync::Mutex<(u64, u64)>,
}

/// What `/readyz` says of replication.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicaView {
    /// `leader` or `follower`.
    pub role: &'static str,
    /// Where writes go (the leader's advertised URL).
    pub leader: Option<String>,
    /// Position of the last event folded here.
    pub applied_position: u64,
    /// Events in the database this replica has not folded yet.
    pub lag: u64,
}

impl Replica {
    /// A follower of `store` until it takes the lock.
    pub fn new(store: Arc<PgStore>, apply_delay: Duration) -> Arc<Self> {
        Arc::new(Replica {
            store,
            leading: AtomicBool::new(false),
            leader_url: RwLock::new(None),
            own_url: RwLock::new(None),
            head_seen: AtomicU64::new(0),
            applied: watch::Sender::new(0),
            heads: HeadReads::default(),
            apply_delay,
        })
    }

    /// Whether this replica runs the writer.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Where to forward writes (none known: answer 503).
    pub fn leader_url(&self) -> Option<String> {
        self.leader_url
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the URL advertised when leading (once the listener is bound).
    pub fn set_own_url(&self, url: String) {
        *self.own_url.write().unwrap_or_else(|e| e.into_inner()) = Some(url);
    }

    /// Role, leader, applied position and lag.
    pub fn view(&self, applied_position: u64) -> ReplicaView {
        ReplicaView {
            role: if self.is_leader() {
                "leader"
            } else {
                "follower"
            },
            leader: self.leader_url(),
            applied_position,
            lag: self
                .head_seen
                .load(Ordering::Relaxed)
                .saturating_sub(applied_position),
        }
    }

    /// Waits until the projections have folded the database's current
    /// head; false if that took longer than `CATCH_UP_LIMIT` or the head
    /// could not be read. Immediate on the leader, whose writer folds
    /// every append before acknowledging it.
    pub async fn catch_up_to_head(&self) -> bool {
        if self.is_leader() {
            return true;
        }
        let caught_up = async {
            let Some(head) = self.fresh_head().await else {
                return false;
            };
            self.head_seen.fetch_max(head, Ordering::Relaxed);
            let mut applied = self.applied.subscribe();
            if *applied.borrow() >= head {
                return true;
            }
            self.store.announce(head);
            let reached = applied.wait_for(|a| *a >= head).await.is_ok();
            reached
        };
        // The head read counts too: a database that does not answer is 503.
        tokio::time::timeout(CATCH_UP_LIMIT, caught_up)
            .await
            .unwrap_or(false)
    }

    /// The database's head position, read after this call began (shared
    /// with the reads that wait together); `None` if it cannot be read.
    async fn fresh_head(&self) -> Option<u64> {
        let arrived = self.heads.started.load(Ordering::SeqCst);
        let _turn = self.heads.turn.lock().await;
        let (number, head) = *self.heads.last.lock().unwrap_or_else(|e| e.into_inner());
        if number > arrived {
            // That read started after this call arrived: its head will do.
            return Some(head);
        }
        let number = self.heads.started.fetch_add(1, Ordering::SeqCst) + 1;
        let head = match self.store.head_async().await {
            Ok(head) => head.map_or(0, |h| h.position),
            Err(_) => return None,
        };
        *self.heads.last.lock().unwrap_or_else(|e| e.into_inner()) = (number, head);
        Some(head)
    }

    /// Folds what the log holds beyond the projections; returns the new
    /// applied position.
    fn tail(&self, state: &AppState) -> Result<u64, StoreError> {
        loop {
            let from = state
                .projections
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .applied_position
                + 1;
            let records = state.log.read_all(from, TAIL_PAGE)?;
            if !records.is_empty() && !self.apply_delay.is_zero() {
                std::thread::sleep(self.apply_delay);
            }
            let mut projections = state.projections.write().unwrap_or_else(|e| e.into_inner());
            for record in &records {
                projections.apply(record);
            }
            let applied = projections.applied_position;
            drop(projections);
            self.head_seen.fetch_max(applied, Ordering::Relaxed);
            self.applied.send_replace(applied);
            if records.len() < TAIL_PAGE {
                return Ok(applied);
            }
        }
    }

    /// Follows until this replica takes the lock, then leads: `start`
    /// starts the writer, after which this replica serves writes itself;
    /// `provision` then makes what a first start makes. While it leads, it
    /// checks its session every `HEARTBEAT_EVERY` and its writer; when
    /// either fails it exits (status 3). Runs on its own thread for the
    /// life of the process.
    pub fn run(
        self: Arc<Self>,
        state: Arc<AppState>,
        start: impl FnOnce(),
        provision: impl FnOnce() -> Result<(), String>,
    ) {
        let mut last_try = Instant::now() - TRY_LEAD_EVERY;
        loop {
            let applied = match self.tail(&state) {
                Ok(applied) => applied,
                Err(e) => {
                    tracing::warn!(error = %crate::error_report::Report(&e), "tailing the log failed; retrying");
                    std::thread::sleep(TRY_LEAD_EVERY);
                    continue;
                }
            };
            if last_try.elapsed() >= TRY_LEAD_EVERY {
                last_try = Instant::now();
                match self.store.try_lead() {
                    Ok(Role::Leader) => break,
                    Ok(Role::Follower) => self.refresh_leader(),
                    Err(e) => {
                        tracing::warn!(error = %crate::error_report::Report(&e), "cannot reach the database to try for the leader lock")
                    }
                }
            }
            self.store.wait_for_append(applied, TRY_LEAD_EVERY);
        }
        // The lock is ours: nobody else can append, so this reads the log
        // to its real head before the writer decides anything.
        if let Err(e) = self.tail(&state) {
            stop(&format!(
                "cannot read the log after taking the leader lock: {}",
                crate::error_report::Report(&e)
            ));
        }
        start();
        self.leading.store(true, Ordering::SeqCst);
        if let Err(e) = provision() {
            stop(&format!("cannot provision: {e}"));
        }
        self.advertise();
        loop {
            std::thread::sleep(HEARTBEAT_EVERY);
            if !self.store.heartbeat(HEARTBEAT_LIMIT) {
                // Another replica may lead already: nothing more may be
                // written, or read as current, from here.
                self.leading.store(false, Ordering::SeqCst);
                stop("lost the leader lock (the database session ended or stopped answering)");
            }
            if let Some(failure) = state.writer().and_then(|w| w.status().failure()) {
                self.leading.store(false, Ordering::SeqCst);
                self.store.resign();
                stop(&format!(
                    "the writer failed ({failure}); giving the lead up"
                ));
            }
        }
    }

    /// Publishes this replica's URL as the leader's; a leader the others
    /// cannot find is no leader, so it gives up after a few tries.
    fn advertise(&self) {
        let Some(url) = self
            .own_url
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return;
        };
        for attempt in 1..=5 {
            match self.store.advertise(&url) {
                Ok(()) => {
                    *self.leader_url.write().unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
                    tracing::info!(%url, "leading: this replica takes the writes");
                    return;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %crate::error_report::Report(&e), "cannot advertise the leader URL")
                }
            }
            std::thread::sleep(HEARTBEAT_EVERY);
        }
        self.store.resign();
        stop("cannot advertise the leader URL");
    }

    fn refresh_leader(&self) {
        match self.store.leader_url() {
            Ok(url) => *self.leader_url.write().unwrap_or_else(|e| e.into_inner()) = url,
            Err(e) => {
                tracing::warn!(error = %crate::error_report::Report(&e), "cannot read the leader's URL")
            }
        }
    }
}

/// Leaves the process (status 3): a replica that may no longer lead must
/// not serve, and its supervisor restarts it as a follower.
fn stop(why: &str) -> ! {
    tracing::error!(why, "exiting so that a restart rejoins as a follower");
    std::process::exit(3);
}
