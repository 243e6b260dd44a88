//! User passwords: argon2id PHC strings (the crate's default parameters,
//! OWASP's minimum), never the password itself. Unknown users are checked
//! against a fixed dummy digest so both paths cost the same.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 8;
/// Longest password accepted (bounds hashing work).
pub const MAX_LENGTH: usize = 1024;

/// Why a password is not acceptable.
pub fn check_policy(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} bytes"));
    }
    Ok(())
}

/// The argon2id PHC string of `password`.
pub fn hash(entropy: &dyn crate::entropy::Entropy, password: &str) -> String {
    let random = entropy.bytes();
    let salt = SaltString::encode_b64(&random[..16]).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::entropy::SystemEntropy, "authlog-dummy-password"))
}

/// Whether `password` matches `digest`; with `None` (unknown user) the
/// same work is done against a dummy digest and the answer is `false`.
pub fn verify(password: &str, digest: Option<&str>) -> bool {
    if password.len() > MAX_LENGTH {
        return false;
    }
    let (phc, real) = match digest {
        Some(d) => (d, true),
        None => (dummy(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// How much nicer than request threads the hashing threads are. Under a
/// flood of logins (from fresh addresses, so no throttle applies) argon2
/// would otherwise take the cores from token issuance and introspection;
/// at 10 steps it gets about a tenth of a contended core and all of an
/// idle one.
const HASHING_NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// Bounds concurrent argon2 work: each hash holds about 19 MiB and a core
/// for tens of milliseconds, so at most `slots` run at once, each on one
/// of `slots` threads of its own that run nicer than the request threads
/// (`HASHING_NICENESS`); a request that finds none free is refused at once
/// (`Busy`) instead of queueing memory and threads.
#[derive(Debug)]
pub struct HashingSlots {
    free: Arc<Semaphore>,
    jobs: SyncSender<Job>,
}

/// Every hashing slot is taken; answer 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once; retry in a second")]
pub struct Busy;

impl HashingSlots {
    /// At most `slots` hashes at once, on `slots` threads (which end when
    /// this is dropped).
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        let (jobs, queue) = sync_channel::<Job>(slots);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..slots {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("authlog-hash-{n}"))
                .spawn(move || {
                    authlog_events::thread_priority::lower_calling_thread(
                        HASHING_NICENESS,
                        "password hashing",
                    );
                    loop {
                        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::warn!(%error, "could not start a password hashing thread");
            }
        }
        HashingSlots {
            free: Arc::new(Semaphore::new(slots)),
            jobs,
        }
    }

    /// Runs `work` (an argon2 hash or check) in a free slot, or refuses.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let slot = self.free.clone().try_acquire_owned().map_err(|_| Busy)?;
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = work();
            drop(slot);
            let _ = done.send(out);
        });
        // A slot was free, so the queue (as long as the slots) has room.
        self.jobs.try_send(job).map_err(|_| Busy)?;
        answer.await.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() {
        let h = hash(
            &crate::entropy::SequentialEntropy::default(),
            "correct horse",
        );
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", Some(&h)));
        assert!(!verify("wrong horse", Some(&h)));
        assert!(!verify("authlog-dummy-password", None));
    }

    #[tokio::test]
    async fn hashing_runs_on_its_own_nicer_threads_and_refuses_when_full() {
        let slots = HashingSlots::new(1);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let first = slots.run(move || {
            hold.recv().unwrap();
            let name = std::thread::current().name().map(str::to_owned);
            // SAFETY: plain integers, the calling thread.
            let nice = 20 - unsafe { libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0) };
            (name, nice)
        });
        tokio::pin!(first);
        // Start the first job, then find the only slot taken.
        assert!(futures_poll_once(&mut first).await.is_none());
        assert_eq!(slots.run(|| ()).await, Err(Busy));
        release.send(()).unwrap();
        let (name, nice) = first.await.unwrap();
        assert_eq!(name.as_deref(), Some("authlog-hash-0"));
        assert!(nice >= HASHING_NICENESS.min(19).into(), "nice {nice}");
        assert_eq!(slots.run(|| 7).await, Ok(7), "the slot came back");
    }

    /// Polls `f` once; `Some` if it finished.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough").is_ok());
    }
}
