//! HMAC-SHA256 signatures on webhook bodies (what Weir sends) and on Slack
//! requests (what Weir receives). Both MAC the timestamp together with the
//! body, refuse timestamps more than five minutes from now (replays), and
//! compare in constant time.
//!
//! A webhook receiver verifies a Weir delivery like this: take the
//! `X-Weir-Timestamp` header (Unix seconds) and the raw body bytes, compute
//! `HMAC-SHA256(secret, timestamp + "." + body)`, hex-encode it, and compare it
//! in constant time with the `X-Weir-Signature` header after its `sha256=`
//! prefix; reject timestamps more than 300 s from the receiver's clock.
//! [`verify_webhook`] does exactly that.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signed timestamp may be from the verifier's clock, either side.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Header carrying `sha256=<hex>` on webhook deliveries.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "X-Weir-Signature";
/// Header carrying the Unix time (seconds) that is part of the MAC.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "X-Weir-Timestamp";

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("timestamp header is not a Unix time in seconds")]
    MalformedTimestamp,
    #[error("timestamp is {skew_secs} s away from now (more than {MAX_CLOCK_SKEW_SECS} s): possible replay")]
    Stale { skew_secs: u64 },
    #[error("signature header is not {0}<64 hex digits>")]
    MalformedSignature(&'static str),
    #[error("signature does not match")]
    Mismatch,
}

/// Slack request verification uses the same checks.
pub type SlackVerifyError = SignatureError;

fn mac_over(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp "." body)>`, the `X-Weir-Signature` value.
pub fn sign_webhook(secret: &[u8], timestamp_unix_secs: u64, body: &[u8]) -> String {
    let timestamp = timestamp_unix_secs.to_string();
    let tag = mac_over(secret, &[timestamp.as_bytes(), b".", body])
        .finalize()
        .into_bytes();
    format!("sha256={}", hex::encode(tag))
}

/// Checks a Weir webhook delivery (see the module docs for the scheme).
pub fn verify_webhook(
    secret: &[u8],
    timestamp_header: &str,
    body: &[u8],
    signature_header: &str,
    now_unix_secs: u64,
) -> Result<(), SignatureError> {
    let timestamp = check_timestamp(timestamp_header, now_unix_secs)?;
    let expected = decode_tag(signature_header, "sha256=")?;
    mac_over(secret, &[timestamp.as_bytes(), b".", body])
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Checks a request from Slack: `X-Slack-Request-Timestamp` and
/// `X-Slack-Signature` (`v0=<hex HMAC-SHA256(signing_secret, "v0:" timestamp ":" body)>`).
pub fn verify_slack_request(
    signing_secret: &str,
    timestamp_header: &str,
    body: &[u8],
    signature_header: &str,
    now_unix_secs: u64,
) -> Result<(), SignatureError> {
    let timestamp = check_timestamp(timestamp_header, now_unix_secs)?;
    let expected = decode_tag(signature_header, "v0=")?;
    mac_over(signing_secret.as_bytes(), &[b"v0:", timestamp.as_bytes(), b":", body])
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// `v0=<hex>` for a body, as Slack computes it (for tests and for tools that replay interactions).
pub fn sign_slack_request(signing_secret: &str, timestamp_unix_secs: u64, body: &[u8]) -> String {
    let timestamp = timestamp_unix_secs.to_string();
    let tag = mac_over(signing_secret.as_bytes(), &[b"v0:", timestamp.as_bytes(), b":", body])
        .finalize()
        .into_bytes();
    format!("v0={}", hex::encode(tag))
}

/// Parses the timestamp (digits only) and checks it is within the window; returns it as sent.
fn check_timestamp(header: &str, now_unix_secs: u64) -> Result<&str, SignatureError> {
    let header = header.trim();
    if header.is_empty() || header.len() > 19 || !header.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedTimestamp);
    }
    let timestamp: u64 = header.parse().map_err(|_| SignatureError::MalformedTimestamp)?;
    let skew_secs = timestamp.abs_diff(now_unix_secs);
    if skew_secs > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Stale { skew_secs });
    }
    Ok(header)
}

fn decode_tag(header: &str, prefix: &'static str) -> Result<Vec<u8>, SignatureError> {
    let digits = header
        .trim()
        .strip_prefix(prefix)
        .ok_or(SignatureError::MalformedSignature(prefix))?;
    if digits.len() != 64 {
        return Err(SignatureError::MalformedSignature(prefix));
    }
    hex::decode(digits).map_err(|_| SignatureError::MalformedSignature(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
    #[test]
    fn slack_documented_example_verifies() {
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let timestamp = "1531420618";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(
            verify_slack_request(secret, timestamp, body, signature, 1531420618 + 10),
            Ok(())
        );
        assert_eq!(sign_slack_request(secret, 1531420618, body), signature);
    }
}
