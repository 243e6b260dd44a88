//! User passwords: argon2id PHC strings (the crate's default parameters,
//! OWASP's minimum), never the password itself. Unknown users are checked
//! against a fixed dummy digest so both paths cost the same.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

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
