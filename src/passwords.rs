//! User passwords: argon2id PHC strings (the crate's default parameters,
//! OWASP's minimum), never the password itself. Unknown users are checked
//! against a fixed dummy digest so both paths cost the same.

use std::sync::{Arc, OnceLock};

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

/// Bounds concurrent argon2 work: each hash holds about 19 MiB and a core
/// for tens of milliseconds, so at most `slots` run at once, on the
/// blocking pool; a request that finds none free is refused at once
/// (`Busy`) instead of queueing memory and threads.
#[derive(Debug)]
pub struct HashingSlots(Arc<Semaphore>);

/// Every hashing slot is taken; answer 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once; retry in a second")]
pub struct Busy;

impl HashingSlots {
    /// At most `slots` hashes at once.
    pub fn new(slots: usize) -> Self {
        HashingSlots(Arc::new(Semaphore::new(slots.max(1))))
    }

    /// Runs `work` (an argon2 hash or check) in a free slot, or refuses.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let slot = self.0.clone().try_acquire_owned().map_err(|_| Busy)?;
        let done = tokio::task::spawn_blocking(move || {
            let out = work();
            drop(slot);
            out
        });
        done.await.map_err(|_| Busy)
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

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough").is_ok());
    }
}
