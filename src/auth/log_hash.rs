//! What a log may say about what someone typed into a login's email field: a short keyed
//! hash, never the text. People type passwords into the wrong box, and logs are read and
//! shipped far more widely than the database; a keyed hash still tells one account's failed
//! attempts from another's, and with the key an operator can check a known address.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct LogHasher {
    key: Vec<u8>,
}

impl LogHasher {
    /// Derived from the JWT secret with a label so the two uses never mix.
    pub fn new(root_secret: &[u8]) -> Self {
        Self {
            key: crate::config::subkey::derive(root_secret, b"wasit login log email hash v1"),
        }
    }

    /// 16 hex digits (64 bits) of HMAC-SHA256 over the field as typed, trimmed and lower-cased
    /// the way an address is looked up.
    pub fn email(&self, typed: &str) -> String {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(typed.trim().to_lowercase().as_bytes());
        mac.finalize().into_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for LogHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogHasher([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_short_keyed_and_tells_accounts_apart() {
        let hasher = LogHasher::new(b"root secret");
        let sara = hasher.email("Sara@Example.com ");
        assert_eq!(sara.len(), 16);
        assert!(sara.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(sara, hasher.email("sara@example.com"));
        assert_ne!(sara, hasher.email("omar@example.com"));
        assert_ne!(
            sara,
            LogHasher::new(b"other secret").email("sara@example.com")
        );
    }
}
