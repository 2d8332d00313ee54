//! Signed capabilities: the single-use link token sent to a person (a random
//! id plus an HMAC binding it to the alert and the person) and the per-render
//! form nonce that a POST must echo (anti-forgery, bound to the token).

use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::TriageError;

type HmacSha256 = Hmac<Sha256>;

/// How long a rendered form stays valid.
pub const FORM_NONCE_TTL_SECS: u64 = 3600;

/// The secret key for link tokens and form nonces.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

impl LinkKey {
    pub fn from_bytes(bytes: [u8; 32]) -> LinkKey {
        LinkKey(bytes)
    }

    pub fn generate() -> LinkKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        LinkKey(bytes)
    }

    /// Reads the key file (64 hex characters), or creates it (mode 0600) if absent.
    pub fn load_or_create(path: &Path) -> Result<LinkKey, TriageError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| TriageError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
                bytes.map(LinkKey).ok_or_else(|| {
                    TriageError::Invalid(format!(
                        "{}: expected 64 hex characters (a 32-byte key)",
                        path.display()
                    ))
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = LinkKey::generate();
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
                file.write_all(hex::encode(key.0).as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("hmac accepts any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// A new link: `(request id, token)`. The token is `<id>.<mac>`, both hex.
    pub fn new_link(&self, alert_id: i64, person_id: &str) -> (String, String) {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let id = hex::encode(id);
        let token = self.link_token(&id, alert_id, person_id);
        (id, token)
    }

    /// The token for a stored request id.
    pub fn link_token(&self, id: &str, alert_id: i64, person_id: &str) -> String {
        let mac = self.mac(&[b"link", id.as_bytes(), &alert_id.to_be_bytes(), person_id.as_bytes()]);
        format!("{id}.{}", hex::encode(mac))
    }

    /// A nonce for one rendering of the form for `token`: `<issued>.<random>.<mac>`.
    pub fn form_nonce(&self, token: &str, now: u64) -> String {
        let mut random = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let random = hex::encode(random);
        let issued = now.to_string();
        let mac = self.mac(&[b"form", token.as_bytes(), issued.as_bytes(), random.as_bytes()]);
        format!("{issued}.{random}.{}", hex::encode(mac))
    }

    /// Whether `nonce` was issued by [`LinkKey::form_nonce`] for this token within the last hour.
    pub fn check_form_nonce(&self, token: &str, nonce: &str, now: u64) -> bool {
        let mut parts = nonce.splitn(3, '.');
        let (Some(issued), Some(random), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(issued_at) = issued.parse::<u64>() else {
            return false;
        };
        if issued_at > now.saturating_add(60) || now.saturating_sub(issued_at) > FORM_NONCE_TTL_SECS {
            return false;
        }
        let Ok(mac) = hex::decode(mac) else {
            return false;
        };
        let expected = self.mac(&[b"form", token.as_bytes(), issued.as_bytes(), random.as_bytes()]);
        expected.ct_eq(&mac[..]).into()
    }
}

/// Splits a link token into its id, checking only its shape.
pub fn token_id(token: &str) -> Result<&str, TriageError> {
    let (id, mac) = token.split_once('.').ok_or(TriageError::BadToken)?;
    let hex_of = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_of(id, 32) || !hex_of(mac, 64) {
        return Err(TriageError::BadToken);
    }
    Ok(id)
}

/// Constant-time comparison of a presented token against the expected one.
pub fn tokens_equal(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn link_token_round_trip_and_binding() {
        let key = LinkKey::generate();
        let (id, token) = key.new_link(7, "alice");
        assert_eq!(token_id(&token).unwrap(), id);
        assert!(tokens_equal(&token, &key.link_token(&id, 7, "alice")));
        assert!(!tokens_equal(&token, &key.link_token(&id, 8, "alice")));
        assert!(!tokens_equal(&token, &key.link_token(&id, 7, "bob")));
        assert!(!tokens_equal(&token, &LinkKey::generate().link_token(&id, 7, "alice")));
    }

    #[test]
    fn form_nonce_is_bound_to_token_and_time() {
        let key = LinkKey::generate();
        let nonce = key.form_nonce("t1", 1000);
        assert!(key.check_form_nonce("t1", &nonce, 1000));
        assert!(key.check_form_nonce("t1", &nonce, 1000 + FORM_NONCE_TTL_SECS));
        assert!(!key.check_form_nonce("t1", &nonce, 1001 + FORM_NONCE_TTL_SECS));
        assert!(!key.check_form_nonce("t2", &nonce, 1000));
        assert!(!key.check_form_nonce("t1", &nonce.replacen("1000", "1001", 1), 1001));
        assert!(!key.check_form_nonce("t1", "", 1000));
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_and_nonces_never_panic_or_pass(s in "\\PC{0,200}") {
            let key = LinkKey::generate();
            let _ = token_id(&s);
            prop_assert!(!key.check_form_nonce("token", &s, 1_800_000_000));
        }

        #[test]
        fn arbitrary_codes_never_panic(code in "[0-9]{6}|\\PC{0,12}", now in any::<u64>()) {
            let _ = crate::totp::match_code(b"12345678901234567890", &code, now);
        }
    }
}
