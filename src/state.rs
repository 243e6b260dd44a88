//! `AppState`: what every request handler can reach: configuration, clock,
//! the log (read side), the projections and the writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLockReadGuard};
use std::thread::JoinHandle;

use authlog_events::EventLog;
use authlog_projections::Projections;
use thiserror::Error;

use crate::anonymous_writes::AnonymousWrites;
use crate::audit::AuditKey;
use crate::cimd::DocumentFetcher;
use crate::clock::Clock;
use crate::config::Config;
use crate::entropy::Entropy;
use crate::failure_tally::FailureTally;
use crate::passwords::HashingSlots;
use crate::secrets::ServerKey;
use crate::throttle::{DevicePolls, FailureThrottle};
use crate::usage::UsageTracker;

/// Failed logins allowed per username (and per IP) in the window.
pub const LOGIN_FAILURES: usize = 5;
/// Failed client authentications allowed per source address (and per
/// client and address) in the window; correct credentials are never refused.
pub const CLIENT_AUTH_FAILURES: usize = 10;
/// The client authentication throttle window.
pub const CLIENT_AUTH_WINDOW_SECONDS: i64 = 300;
/// Device authorizations one IP may start per minute.
pub const DEVICE_STARTS_PER_MINUTE: usize = 30;
/// The login throttle window.
pub const LOGIN_WINDOW_SECONDS: i64 = 900;
use crate::writer::{SharedProjections, Sources, WriterHandle};

/// The read models cannot be trusted: a fold panicked part-way through
/// committed events. A restart replays the log.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("the read models are unavailable after a failed fold; restart to replay the log")]
pub struct Unreadable;

/// Shared state of a running server.
pub struct AppState {
    /// Validated configuration.
    pub config: Config,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Ids and random bytes.
    pub entropy: Arc<dyn Entropy>,
    /// The HMAC key of every digest.
    pub key: ServerKey,
    /// The key that signs audit checkpoints (separate from `key`).
    pub audit_key: AuditKey,
    /// The log, read-only: writes go through the writer, which alone holds
    /// the appending handle.
    pub log: Arc<dyn EventLog>,
    /// Read models, updated after each commit.
    pub projections: SharedProjections,
    /// Device-flow polling intervals.
    pub device_polls: DevicePolls,
    /// Guessing budgets: failed logins per username and per IP, wrong
    /// device user codes per user (keys are prefixed `user:`, `ip:`, `device:`).
    pub login_throttle: FailureThrottle,
    /// Token uses not yet flushed to the log.
    pub usage: UsageTracker,
    /// Failed authentications not yet summarised in the log.
    pub failures: FailureTally,
    /// Dynamic registrations per client IP.
    pub registrations: FailureThrottle,
    /// Appends caused by unauthenticated requests, all addresses together.
    pub anonymous_writes: AnonymousWrites,
    /// Failed client authentications per address and per client and address.
    pub client_auth_failures: FailureThrottle,
    /// Device authorizations started per client IP.
    pub device_starts: FailureThrottle,
    /// Bounds concurrent password hashing.
    pub password_slots: HashingSlots,
    /// Client ID Metadata Documents.
    pub documents: DocumentFetcher,
    /// Signs ID tokens (opened signing keys, in memory only).
    pub signer: crate::signing::Signer,
    /// Upstream tokens and client secrets, sealed.
    pub vault: crate::vault::Vault,
    /// Refreshes upstream tokens, one at a time per connection.
    pub upstream_refresher: crate::upstream::refresh::Refresher,
    /// How far the startup replay has got.
    pub replay_progress: Arc<crate::replay::progress::ReplayProgress>,
    /// Set once replay is done.
    /// This replica's part when several share a PostgreSQL log.
    pub replica: Option<Arc<crate::replication::Replica>>,
    writer: OnceLock<WriterHandle>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    ready: AtomicBool,
}

/// The keys a server holds: the digest key, the checkpoint key and the
/// token vault.
pub struct Keys {
    /// The HMAC key of every digest.
    pub server: ServerKey,
    /// The key that signs audit checkpoints.
    pub audit: AuditKey,
    /// Upstream tokens and client secrets, sealed.
    pub vault: crate::vault::Vault,
}

impl AppState {
    /// State for a server whose replay has not finished yet.
    pub fn new(
        config: Config,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        keys: Keys,
        log: Arc<dyn EventLog>,
        documents: DocumentFetcher,
    ) -> Self {
        let Keys {
            server: key,
            audit: audit_key,
            vault,
        } = keys;
        let registration_rate_limit = config.registration_rate_limit;
        let anonymous_writes = AnonymousWrites::new(config.anonymous_writes_per_minute);
        let password_slots = HashingSlots::new(config.password_hashing_slots);
        AppState {
            config,
            clock,
            entropy,
            key,
            audit_key,
            log,
            projections: SharedProjections::default(),
            device_polls: DevicePolls::default(),
            login_throttle: FailureThrottle::new(LOGIN_FAILURES, LOGIN_WINDOW_SECONDS),
            usage: UsageTracker::default(),
            failures: FailureTally::default(),
            registrations: FailureThrottle::new(registration_rate_limit, 60),
            anonymous_writes,
            device_starts: FailureThrottle::new(DEVICE_STARTS_PER_MINUTE, 60),
            client_auth_failures: FailureThrottle::new(
                CLIENT_AUTH_FAILURES,
                CLIENT_AUTH_WINDOW_SECONDS,
            ),
            password_slots,
            documents,
            signer: crate::signing::Signer::default(),
            vault,
            upstream_refresher: Default::default(),
            replay_progress: Arc::default(),
            replica: None,
            writer: OnceLock::new(),
            writer_thread: Mutex::new(None),
            ready: AtomicBool::new(false),
        }
    }

    /// Makes this state a replica's (`replication`).
    pub fn with_replica(mut self, replica: Arc<crate::replication::Replica>) -> Self {
        self.replica = Some(replica);
        self
    }

    /// Whether this replica follows a leader (serves reads, forwards writes).
    pub fn is_follower(&self) -> bool {
        self.replica.as_ref().is_some_and(|r| !r.is_leader())
    }

    /// Hands over the running writer (after replay).
    pub fn set_writer(&self, writer: WriterHandle, thread: JoinHandle<()>) {
        let _ = self.writer.set(writer);
        *self.writer_thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
    }

    /// Marks startup (replay, provisioning) done.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether startup is done and the writer has not stopped.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The writer, when startup is done: what request handlers use.
    pub fn ready_writer(&self) -> Option<&WriterHandle> {
        self.writer().filter(|_| self.is_ready())
    }

    /// The writer, once started.
    pub fn writer(&self) -> Option<&WriterHandle> {
        self.writer.get()
    }

    /// Stops the writer after what is queued and waits for it (clean close).
    pub fn stop_writer(&self) {
        self.ready.store(false, Ordering::Release);
        if let Some(writer) = self.writer.get() {
            writer.stop();
        }
        if let Some(thread) = self
            .writer_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = thread.join();
        }
    }

    /// What the writer decides with.
    pub fn sources(&self) -> Sources {
        Sources {
            clock: self.clock.clone(),
            entropy: self.entropy.clone(),
            key: self.key.clone(),
            issuer: self.config.issuer.clone(),
        }
    }

    /// Read access to the projections; refused after a fold panicked,
    /// since they may be half-applied.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, Projections>, Unreadable> {
        self.projections.read().map_err(|_| Unreadable)
    }
}
