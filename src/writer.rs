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
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use authlog_events::{
    AppendBatch, Event, EventStore, RecordedEvent, StoreError, TokenKind, VersionConflict,
};

use crate::client_policy::GRANT_TYPES;
use authlog_projections::Projections;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::commands::{Access, Command, DomainError, Env};
use crate::entropy::Entropy;
use crate::error_report::Report;
use crate::secrets::ServerKey;

/// Why a write did not happen.
#[derive(Debug, Error, Clone)]
pub enum WriteError {
    /// The domain refused the command.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// An expected stream version did not hold (`If-Match`).
    #[error(transparent)]
    Conflict(#[from] VersionConflict),
    /// The log cannot be written (storage failed, a fold failed, or the
    /// writer stopped).
    #[error("the event log is unavailable")]
    Unavailable(#[source] Arc<Failure>),
}

/// Why the writer refuses writes, or refused one command.
#[derive(Debug, Error)]
pub enum Failure {
    /// The log could not be written; nothing of the batch was applied.
    #[error("the log could not be written")]
    Storage(#[source] StoreError),
    /// Folding committed events into the projections panicked: the read
    /// models may be half-applied, so reads are refused until a restart
    /// replays the log.
    #[error("folding committed events panicked: {0}")]
    FoldPanicked(String),
    /// Deciding one command panicked (a bug); nothing of it was written.
    #[error("deciding the command panicked: {0}")]
    DecidePanicked(String),
    /// The writer itself panicked outside a decision or a fold; whether
    /// the batch was written is unknown until a restart replays the log.
    #[error("the writer panicked: {0}")]
    WriterPanicked(String),
    /// The writer has stopped (shutdown).
    #[error("the writer has stopped")]
    Stopped,
}

/// What a committed command answers: its outcome and its recorded events.
type Answer<O> = Result<(O, Vec<RecordedEvent>), WriteError>;

/// A command with its reply channel, its type erased for the queue.
trait Request: Send {
    fn access(&self) -> Access;
    /// Decides; keeps the outcome until `answer`.
    fn decide(&mut self, state: &Projections, env: &Env) -> Result<AppendBatch, DomainError>;
    /// Answers the caller with the commit's result.
    fn answer(self: Box<Self>, committed: Result<Vec<RecordedEvent>, WriteError>);
}

struct Typed<C: Command> {
    command: C,
    outcome: Option<C::Outcome>,
    reply: oneshot::Sender<Answer<C::Outcome>>,
}

impl<C: Command> Request for Typed<C> {
    fn access(&self) -> Access {
        self.command.access()
    }

    fn decide(&mut self, state: &Projections, env: &Env) -> Result<AppendBatch, DomainError> {
        let decided = self.command.decide(state, env)?;
        self.outcome = Some(decided.outcome);
        Ok(decided.unit)
    }

    fn answer(self: Box<Self>, committed: Result<Vec<RecordedEvent>, WriteError>) {
        let answer = match (committed, self.outcome) {
            (Ok(events), Some(outcome)) => Ok((outcome, events)),
            (Ok(_), None) => Err(WriteError::Unavailable(Arc::new(Failure::DecidePanicked(
                "answered before deciding".into(),
            )))),
            (Err(e), _) => Err(e),
        };
        let _ = self.reply.send(answer);
    }
}

enum Message {
    Write(Box<dyn Request>),
    /// Finish what is waiting, then exit (releasing the store).
    Stop,
}

/// Counters and health of the writer, readable from anywhere.
#[derive(Debug, Default)]
pub struct WriterStatus {
    failure: Mutex<Option<Arc<Failure>>>,
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Events committed.
    pub events: AtomicU64,
}

impl WriterStatus {
    /// `None` while healthy; the first failure otherwise.
    pub fn failure(&self) -> Option<Arc<Failure>> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records the first failure; returns the one in force.
    fn fail(&self, failure: Failure) -> Arc<Failure> {
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| Arc::new(failure)).clone()
    }
}

/// Commits slower than this are logged (a sign of a struggling disk).
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Shared read side: the projections, updated only after commit.
pub type SharedProjections = Arc<RwLock<Projections>>;

/// Folds one committed event into the projections (`Projections::apply`;
/// tests inject a failing one).
pub type Fold = fn(&mut Projections, &RecordedEvent) -> bool;

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
    /// Requests waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    fn request<C: Command>(command: C) -> (Message, oneshot::Receiver<Answer<C::Outcome>>) {
        let (reply, rx) = oneshot::channel();
        let request = Typed {
            command,
            outcome: None,
            reply,
        };
        (Message::Write(Box::new(request)), rx)
    }

    /// Submits a command and waits until its events are durable and
    /// applied; answers its outcome.
    pub async fn submit<C: Command>(&self, command: C) -> Result<C::Outcome, WriteError> {
        self.submit_recorded(command).await.map(|(o, _)| o)
    }

    /// Like `submit`, also answering the recorded events (audit, tests).
    pub async fn submit_recorded<C: Command>(&self, command: C) -> Answer<C::Outcome> {
        let (message, rx) = Self::request(command);
        self.tx.send(message).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Like `submit_recorded`, for code outside the async runtime
    /// (startup, tests).
    pub fn submit_blocking<C: Command>(&self, command: C) -> Answer<C::Outcome> {
        let (message, rx) = Self::request(command);
        self.tx.blocking_send(message).map_err(|_| stopped())?;
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
    WriteError::Unavailable(Arc::new(Failure::Stopped))
}

/// A panic's message, for the failure it causes.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Settings of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Most commands decided per transaction.
    pub max_batch: usize,
    /// Commands that may wait in the channel.
    pub queue: usize,
}

/// What the writer decides with: time, randomness and the digest key.
#[derive(Clone)]
pub struct Sources {
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Ids and random bytes.
    pub entropy: Arc<dyn Entropy>,
    /// The key of every digest.
    pub key: ServerKey,
    /// The issuer (`iss` of JWT access tokens).
    pub issuer: String,
}

/// Starts the writer thread. It runs until every `WriterHandle` is dropped.
pub fn spawn(
    store: Arc<dyn EventStore>,
    projections: SharedProjections,
    sources: Sources,
    config: WriterConfig,
) -> (WriterHandle, JoinHandle<()>) {
    spawn_with_fold(store, projections, sources, config, Projections::apply)
}

/// `spawn` with another fold (tests inject failures).
pub fn spawn_with_fold(
    store: Arc<dyn EventStore>,
    projections: SharedProjections,
    sources: Sources,
    config: WriterConfig,
    fold: Fold,
) -> (WriterHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let status = Arc::new(WriterStatus::default());
    let writer = Writer {
        store,
        projections,
        sources,
        fold,
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
    sources: Sources,
    fold: Fold,
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
    fn try_claim(&mut self, access: &Access) -> bool {
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
        let mut waiting: VecDeque<Box<dyn Request>> = VecDeque::new();
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
                    request.answer(Err(WriteError::Unavailable(failure.clone())));
                }
                continue;
            }
            let taken = waiting.len().min(self.max_batch);
            let batch: Vec<Box<dyn Request>> = waiting.drain(..taken).collect();
            // Decide and fold panics are handled inside; any other (in a
            // store, say) fails the writer. The batch's callers, whose
            // replies unwind with it, hear that the writer stopped.
            let deferred = match catch_unwind(AssertUnwindSafe(|| self.commit_batch(batch))) {
                Ok(deferred) => deferred,
                Err(panic) => {
                    let message = panic_message(panic.as_ref());
                    tracing::error!(%message, "the writer panicked; it refuses further writes until restart");
                    self.status.fail(Failure::WriterPanicked(message));
                    Vec::new()
                }
            };
            // Deferred commands go first next time, in their original order.
            for request in deferred.into_iter().rev() {
                waiting.push_front(request);
            }
        }
    }

    /// Decides, commits and answers one batch; returns the deferred requests.
    fn commit_batch(&self, batch: Vec<Box<dyn Request>>) -> Vec<Box<dyn Request>> {
        let now = self.sources.clock.now();
        let env = Env::new(now, self.sources.entropy.as_ref(), &self.sources.key)
            .for_issuer(&self.sources.issuer);
        let mut claims = Claims::default();
        let mut deferred = Vec::new();
        let mut units: Vec<AppendBatch> = Vec::with_capacity(batch.len());
        let mut decided: Vec<Box<dyn Request>> = Vec::with_capacity(batch.len());
        {
            let Ok(state) = self.projections.read() else {
                // Only a fold panic poisons the lock, and it fails the writer.
                let failure = self.status.fail(Failure::FoldPanicked("earlier".into()));
                for request in batch {
                    request.answer(Err(WriteError::Unavailable(failure.clone())));
                }
                return deferred;
            };
            for mut request in batch {
                if !claims.try_claim(&request.access()) {
                    deferred.push(request);
                    continue;
                }
                // The state is only read here, so a panicking decision
                // leaves nothing half-done: refuse that command alone.
                match catch_unwind(AssertUnwindSafe(|| request.decide(&state, &env))) {
                    Ok(Ok(unit)) => {
                        units.push(unit);
                        decided.push(request);
                    }
                    Ok(Err(rejection)) => request.answer(Err(WriteError::Rejected(rejection))),
                    Err(panic) => {
                        let message = panic_message(panic.as_ref());
                        tracing::error!(%message, "deciding a command panicked; it was refused");
                        let failure = Arc::new(Failure::DecidePanicked(message));
                        request.answer(Err(WriteError::Unavailable(failure)));
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
        metrics::histogram!(crate::telemetry::WRITER_BATCH).record(unit_count as f64);
        metrics::histogram!(crate::telemetry::WRITER_COMMIT).record(took.as_secs_f64());
        if took > SLOW_COMMIT {
            tracing::warn!(
                units = unit_count,
                ms = took.as_millis() as u64,
                "slow commit"
            );
        }
        let outcomes = match appended {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::error!(error = %Report(&error), "commit failed; the writer refuses further writes until restart");
                let failure = self.status.fail(Failure::Storage(error));
                for request in decided {
                    request.answer(Err(WriteError::Unavailable(failure.clone())));
                }
                return deferred;
            }
        };
        if let Err(failure) = self.apply(&outcomes) {
            for request in decided {
                request.answer(Err(WriteError::Unavailable(failure.clone())));
            }
            return deferred;
        }
        for (request, outcome) in decided.into_iter().zip(outcomes) {
            request.answer(outcome.map_err(WriteError::Conflict));
        }
        deferred
    }

    /// Folds committed events into the projections. A panicking fold
    /// leaves the lock poisoned (reads refuse it) and the writer failed:
    /// the events are durable, so a restart replays them.
    fn apply(
        &self,
        outcomes: &[Result<Vec<RecordedEvent>, VersionConflict>],
    ) -> Result<(), Arc<Failure>> {
        let folded = catch_unwind(AssertUnwindSafe(|| {
            let mut state = self.projections.write().unwrap_or_else(|e| e.into_inner());
            let mut committed = 0u64;
            let mut issued = [0u64; 4];
            for event in outcomes.iter().flatten().flatten() {
                if (self.fold)(&mut state, event) {
                    committed += 1;
                }
                if let Event::TokenIssued {
                    kind: TokenKind::Access,
                    grant_type,
                    ..
                } = &event.payload
                {
                    if let Some(i) = GRANT_TYPES.iter().position(|g| g == grant_type) {
                        issued[i] += 1;
                    }
                }
            }
            drop(state);
            for (grant_type, n) in GRANT_TYPES.into_iter().zip(issued) {
                if n > 0 {
                    let name = crate::client_policy::grant_type_name(grant_type);
                    metrics::counter!(crate::telemetry::TOKENS_ISSUED, "grant_type" => name)
                        .increment(n);
                }
            }
            committed
        }));
        match folded {
            Ok(committed) => {
                self.status.commits.fetch_add(1, Ordering::Relaxed);
                self.status.events.fetch_add(committed, Ordering::Relaxed);
                Ok(())
            }
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                tracing::error!(%message, "a fold panicked; reads and writes are refused until restart");
                Err(self.status.fail(Failure::FoldPanicked(message)))
            }
        }
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
