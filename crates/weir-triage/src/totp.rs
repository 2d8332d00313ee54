//! The second factor: RFC 6238 codes (SHA-1, 6 digits, 30 s steps, accepted
//! one step either side), fresh secrets and the `otpauth://` enrollment URI.
//! Which step a code matched is returned so the store can refuse replays.

use rand::RngCore;
use totp_rs::{Algorithm, Secret, TOTP};

pub const STEP_SECS: u64 = 30;
pub const DIGITS: usize = 6;
/// Steps accepted either side of now.
pub const SKEW_STEPS: u64 = 1;
/// How far back a code is still recognised (and reported as expired rather than wrong).
const RECOGNISED_PAST_STEPS: u64 = 10;

/// What a presented code is, against a secret and a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeMatch {
    /// Valid for this step (unix time / 30).
    Step(u64),
    /// Was valid a few steps ago: too old now.
    Expired,
    Wrong,
    /// Not six digits.
    Malformed,
}

/// 160 random bits, the size RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8]) -> Option<TOTP> {
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec()).ok()
}

/// The code for a time (what an authenticator app shows then).
pub fn code_at(secret: &[u8], unix_secs: u64) -> Option<String> {
    totp(secret).map(|t| t.generate(unix_secs))
}

/// Matches a code against the steps around `now`, newest valid step first.
pub fn match_code(secret: &[u8], code: &str, now: u64) -> CodeMatch {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return CodeMatch::Malformed;
    }
    let Some(totp) = totp(secret) else {
        return CodeMatch::Wrong;
    };
    let current = now / STEP_SECS;
    let equal = |step: u64| {
        let expected = totp.generate(step.saturating_mul(STEP_SECS));
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into()
    };
    for step in (current.saturating_sub(SKEW_STEPS)..=current.saturating_add(SKEW_STEPS)).rev() {
        if equal(step) {
            return CodeMatch::Step(step);
        }
    }
    let oldest = current.saturating_sub(SKEW_STEPS + RECOGNISED_PAST_STEPS);
    if (oldest..current.saturating_sub(SKEW_STEPS)).any(equal) {
        return CodeMatch::Expired;
    }
    CodeMatch::Wrong
}

/// The `otpauth://totp/...` URI authenticator apps enroll from.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let secret = secret_base32(secret);
    let issuer_enc = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer_enc}:{}?secret={secret}&issuer={issuer_enc}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(account)
    )
}

/// The secret in RFC 4648 base32 without padding (what authenticator apps expect).
pub fn secret_base32(secret: &[u8]) -> String {
    let Secret::Encoded(encoded) = Secret::Raw(secret.to_vec()).to_encoded() else {
        unreachable!("Secret::to_encoded always returns Secret::Encoded")
    };
    encoded
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 secret, last 6 digits of the 8-digit codes.
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59u64, "287082"),
            (1111111109, "081804"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(code_at(secret, time).unwrap(), code);
            assert!(matches!(match_code(secret, code, time), CodeMatch::Step(s) if s == time / 30));
        }
    }

    #[test]
    fn skew_expiry_and_shape() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let next = code_at(&secret, now + 30).unwrap();
        assert_eq!(match_code(&secret, &next, now), CodeMatch::Step(now / 30 + 1));
        let old = code_at(&secret, now - 90).unwrap();
        // A collision with a current code is possible in principle (1 in 10^6 per step).
        if ![-30i64, 0, 30]
            .iter()
            .any(|d| code_at(&secret, (now as i64 + d) as u64).unwrap() == old)
        {
            assert_eq!(match_code(&secret, &old, now), CodeMatch::Expired);
        }
        assert_eq!(match_code(&secret, "12345", now), CodeMatch::Malformed);
        assert_eq!(match_code(&secret, "12a456", now), CodeMatch::Malformed);
    }

    #[test]
    fn uri_names_issuer_and_account() {
        let uri = otpauth_uri("Weir", "alice smith", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Weir:alice%20smith?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Weir&algorithm=SHA1&digits=6&period=30"
        );
    }
}
