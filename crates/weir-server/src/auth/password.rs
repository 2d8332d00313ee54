//! Password hashing: Argon2id with the crate's default parameters (19 MiB,
//! 2 passes, 1 lane: the OWASP minimum, about 30-60 ms on one core here),
//! PHC strings in the database, and a dummy hash so that a login for an
//! unknown user costs the same as one for a known user.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::AuthError;

/// Longest password accepted: bounds the hashing work one request can ask for.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Checks length limits before any hashing.
pub fn check_password_policy(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(AuthError::BadPassword(format!(
            "password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(AuthError::BadPassword(format!(
            "password must have at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for `password`.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A stored string that
/// does not parse never matches (and is logged).
pub fn verify_password(password: &str, stored: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        tracing::error!("a stored password hash is not a valid PHC string; login refused");
        return false;
    };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A hash of a random password, made once: verified against when the user
/// does not exist or is disabled, so the answer takes as long either way.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = crate::pki::random_token("dummy-");
        hash_password(&secret).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hash_verifies_and_rejects() {
        let stored = hash_password("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify_password("correct horse battery", &stored));
        assert!(!verify_password("correct horse batterY", &stored));
        assert!(!verify_password("", &stored));
        // Two hashes of one password differ (random salt).
        assert_ne!(stored, hash_password("correct horse battery").unwrap());
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn policy_bounds() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy(&"a".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        assert!(check_password_policy("long enough pw").is_ok());
    }
}
