//! The single writer: the only code that appends to the log.
//!
//! Requests arrive over a bounded channel. The writer thread takes what is
//! waiting (up to `max_batch`), decides each command against the committed
//! projections, defers any command that interferes with one already in the
//! batch (see `commands::Access`), commits all decided units in ONE durable
//! append (`EventStore::append`: one write and one fsync; group commit),
//! applies the committed events to the
//! projections, and only then answers each caller. If a commit fails the
//! writer marks itself failed and refuses all further work, so the
//! projections never run ahead of the log; a restart replays the log.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use authlog_events::{AppendBatch, EventStore, RecordedEvent, VersionConflict};
use authlog_projections::Projections;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::commands::{Decide, DomainError};

/// Why a write did not happen.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The domain refused the command.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// An expected stream version did not hold (`If-Match`).
    #[error(transparent)]
    Conflict(#[from] VersionConflict),
    /// The log cannot be written (storage failed, or the writer stopped).
    #[error("the event log is unavailable: {0}")]
    Unavailable(String),
}

type Reply = oneshot::Sender<Result<Vec<RecordedEvent>, WriteError>>;

struct WriteRequest {
    command: Box<dyn Decide>,
    reply: Reply,
}

enum Message {
    Write(WriteRequest),
    /// Finish what is waiting, then exit (releasing the store).
    Stop,
}

/// Counters and health of the writer, readable from anywhere.
#[derive(Debug, Default)]
pub struct WriterStatus {
    failure: Mutex<Option<String>>,
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Events committed.
    pub events: AtomicU64,
}

impl WriterStatus {
    /// `None` while healthy; the first storage failure otherwise.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fail(&self, message: String) {
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(message);
        }
    }
}

/// Commits slower than this are logged (a sign of a struggling disk).
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Shared read side: the projections, updated only after commit.
pub type SharedProjections = Arc<RwLock<Projections>>;

/// Sends commands to the writer.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Message>,
    status: Arc<WriterStatus>,
}

impl std::fmt::Debug for WriterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHandle")
            .field("status", &self.status)
            .finish()
    }
}

impl WriterHandle {
    /// Submits a command and waits until its events are durable and applied.
    pub async fn submit(&self, command: impl Decide) -> Result<Vec<RecordedEvent>, WriteError> {
        let (reply, rx) = oneshot::channel();
        let request = WriteRequest {
            command: Box::new(command),
            reply,
        };
        self.tx
            .send(Message::Write(request))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Like `submit`, for code outside the async runtime (startup, tests).
    pub fn submit_blocking(&self, command: impl Decide) -> Result<Vec<RecordedEvent>, WriteError> {
        let (reply, rx) = oneshot::channel();
        let request = WriteRequest {
            command: Box::new(command),
            reply,
        };
        self.tx
            .blocking_send(Message::Write(request))
            .map_err(|_| stopped())?;
        rx.blocking_recv().map_err(|_| stopped())?
    }

    /// Asks the writer to finish what is queued and exit; pair with joining
    /// its thread so the log is closed cleanly.
    pub fn stop(&self) {
        let _ = self.tx.blocking_send(Message::Stop);
    }

    /// The writer's health and counters.
    pub fn status(&self) -> &Arc<WriterStatus> {
        &self.status
    }
}

fn stopped() -> WriteError {
    WriteError::Unavailable("the writer has stopped".into())
}

/// Settings of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Most commands decided per transaction.
    pub max_batch: usize,
    /// Commands that may wait in the channel.
    pub queue: usize,
}

/// Starts the writer thread. It runs until every `WriterHandle` is dropped.
pub fn spawn(
    store: Arc<dyn EventStore>,
    projections: SharedProjections,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
) -> (WriterHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let status = Arc::new(WriterStatus::default());
    let writer = Writer {
        store,
        projections,
        clock,
        status: status.clone(),
        max_batch: config.max_batch.max(1),
    };
    let thread = std::thread::Builder::new()
        .name("authlog-writer".into())
        .spawn(move || writer.run(rx))
        .expect("spawning the writer thread");
    (WriterHandle { tx, status }, thread)
}

struct Writer {
    store: Arc<dyn EventStore>,
    projections: SharedProjections,
    clock: Arc<dyn Clock>,
    status: Arc<WriterStatus>,
    max_batch: usize,
}

/// The streams claimed by the commands already in a batch.
#[derive(Default)]
struct Claims {
    reads: HashSet<String>,
    writes: HashSet<String>,
}

impl Claims {
    /// Claims the access unless it interferes with what is claimed.
    fn try_claim(&mut self, access: &crate::commands::Access) -> bool {
        let interferes = access
            .writes
            .iter()
            .any(|s| self.writes.contains(s) || self.reads.contains(s))
            || access.reads.iter().any(|s| self.writes.contains(s));
        if interferes {
            return false;
        }
        self.reads.extend(access.reads.iter().cloned());
        self.writes.extend(access.writes.iter().cloned());
        true
    }
}

impl Writer {
    fn run(self, mut rx: mpsc::Receiver<Message>) {
        let idle = IdleWait::new();
        let mut waiting: VecDeque<WriteRequest> = VecDeque::new();
        let mut stopping = false;
        loop {
            if waiting.is_empty() {
                if stopping {
                    return;
                }
                let next = match rx.try_recv() {
                    Ok(message) => Some(message),
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                    Err(mpsc::error::TryRecvError::Empty) => idle.wait(|| rx.blocking_recv()),
                };
                match next {
                    Some(Message::Write(request)) => waiting.push_back(request),
                    Some(Message::Stop) | None => return,
                }
            }
            while !stopping && waiting.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(Message::Write(request)) => waiting.push_back(request),
                    Ok(Message::Stop) => stopping = true,
                    Err(_) => break,
                }
            }
            if let Some(failure) = self.status.failure() {
                for request in waiting.drain(..) {
                    let _ = request
                        .reply
                        .send(Err(WriteError::Unavailable(failure.clone())));
                }
                continue;
            }
            let taken = waiting.len().min(self.max_batch);
            let batch: Vec<WriteRequest> = waiting.drain(..taken).collect();
            let deferred = self.commit_batch(batch);
            // Deferred commands go first next time, in their original order.
            for request in deferred.into_iter().rev() {
                waiting.push_front(request);
            }
        }
    }

    /// Decides, commits and answers one batch; returns the deferred requests.
    fn commit_batch(&self, batch: Vec<WriteRequest>) -> Vec<WriteRequest> {
        let now = self.clock.now();
        let mut claims = Claims::default();
        let mut deferred = Vec::new();
        let mut units: Vec<AppendBatch> = Vec::with_capacity(batch.len());
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        {
            let state = self.projections.read().unwrap_or_else(|e| e.into_inner());
            for request in batch {
                if !claims.try_claim(&request.command.access()) {
                    deferred.push(request);
                    continue;
                }
                match request.command.decide(&state, now) {
                    Ok(unit) => {
                        units.push(unit);
                        replies.push(request.reply);
                    }
                    Err(rejection) => {
                        let _ = request.reply.send(Err(WriteError::Rejected(rejection)));
                    }
                }
            }
        }
        if units.is_empty() {
            return deferred;
        }
        let started = std::time::Instant::now();
        let unit_count = units.len();
        let appended = self.store.append(units);
        let took = started.elapsed();
        if took > SLOW_COMMIT {
            tracing::warn!(
                units = unit_count,
                ms = took.as_millis() as u64,
                "slow commit"
            );
        }
        match appended {
            Ok(outcomes) => {
                let mut committed = 0u64;
                {
                    let mut state = self.projections.write().unwrap_or_else(|e| e.into_inner());
                    for outcome in outcomes.iter().flatten() {
                        for event in outcome {
                            if state.apply(event) {
                                committed += 1;
                            }
                        }
                    }
                }
                self.status.commits.fetch_add(1, Ordering::Relaxed);
                self.status.events.fetch_add(committed, Ordering::Relaxed);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome.map_err(WriteError::Conflict));
                }
            }
            Err(error) => {
                let message = error.to_string();
                tracing::error!(%message, "commit failed; the writer refuses further writes until restart");
                self.status.fail(message.clone());
                for reply in replies {
                    let _ = reply.send(Err(WriteError::Unavailable(message.clone())));
                }
            }
        }
        deferred
    }
}

/// How the writer waits when its channel is empty.
///
/// On Linux an idle writer waits as `SCHED_BATCH`. The request that wakes
/// it then does not preempt the request thread, which goes on reading and
/// queuing the requests that arrived with it; the writer runs when that
/// thread waits and takes them all into one commit (one `fdatasync` where
/// there were several). It is `SCHED_OTHER` again before it decides and
/// commits, so a finished `fdatasync` wakes it at once and the answers go
/// out without delay. Switching between the two needs no privilege. A
/// writer that starts under any other policy (real-time, say) keeps it.
struct IdleWait {
    /// Whether the thread started as `SCHED_OTHER` and so may switch.
    switch: bool,
}

impl IdleWait {
    fn new() -> Self {
        IdleWait {
            switch: scheduling::current() == Some(scheduling::OTHER),
        }
    }

    /// Runs `receive` (a blocking wait for the channel) as `SCHED_BATCH`.
    fn wait<T>(&self, receive: impl FnOnce() -> T) -> T {
        if !self.switch {
            return receive();
        }
        scheduling::set(scheduling::BATCH);
        let received = receive();
        scheduling::set(scheduling::OTHER);
        received
    }
}

/// The calling thread's scheduling policy, through the raw system calls
/// (musl's wrappers refuse them); elsewhere than Linux, none.
mod scheduling {
    #[cfg(target_os = "linux")]
    pub const OTHER: i32 = libc::SCHED_OTHER;
    #[cfg(not(target_os = "linux"))]
    pub const OTHER: i32 = 0;
    #[cfg(target_os = "linux")]
    pub const BATCH: i32 = libc::SCHED_BATCH;
    #[cfg(not(target_os = "linux"))]
    pub const BATCH: i32 = 3;

    /// The policy, if it can be read.
    pub fn current() -> Option<i32> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: plain integer arguments; pid 0 is the calling thread.
            let policy = unsafe { libc::syscall(libc::SYS_sched_getscheduler, 0) };
            i32::try_from(policy).ok().filter(|p| *p >= 0)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// Sets the policy (priority 0). A failure only costs throughput, so
    /// it is ignored.
    pub fn set(policy: i32) {
        #[cfg(target_os = "linux")]
        {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: `param` outlives the call; pid 0 is the calling thread.
            unsafe {
                libc::syscall(
                    libc::SYS_sched_setscheduler,
                    0,
                    policy,
                    &param as *const libc::sched_param,
                )
            };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = policy;
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model_tests;
