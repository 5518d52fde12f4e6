//! What identifies a request under its key: a keyed HMAC-SHA256 of its method, path, query
//! and body. Never a plain hash: a payment's body holds a card's number, and a plain SHA-256
//! of a body that is mostly known can be guessed back from the table.

use actix_web::http::Method;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The fingerprint key, derived from the JWT secret with a label so the two uses never mix
/// (as the offer signer's is).
#[derive(Clone)]
pub struct Fingerprints {
    key: Vec<u8>,
}

impl Fingerprints {
    pub fn new(root_secret: &[u8]) -> Self {
        Self {
            key: crate::config::subkey::derive(
                root_secret,
                b"wasit idempotency request fingerprint key v1",
            ),
        }
    }

    /// Length prefixes keep `"ab" + "c"` apart from `"a" + "bc"`.
    pub fn of(&self, method: &Method, path: &str, query: &str, body: &[u8]) -> Vec<u8> {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in [
            method.as_str().as_bytes(),
            path.as_bytes(),
            query.as_bytes(),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

impl std::fmt::Debug for Fingerprints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprints([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn fingerprints_separate_method_path_query_and_body() {
        let keyed = Fingerprints::new(b"root secret");
        let of = |path: &str, query: &str, body: &[u8]| keyed.of(&Method::POST, path, query, body);
        let base = of("/v1/bookings", "", b"{}");
        assert_eq!(base, of("/v1/bookings", "", b"{}"));
        assert_ne!(base, of("/v1/bookings/x", "", b"{}"));
        assert_ne!(base, of("/v1/bookings", "a=1", b"{}"));
        assert_ne!(base, of("/v1/bookings", "", b"{ }"));
        assert_ne!(of("/ab", "c", b""), of("/a", "bc", b""));
    }

    /// Issue #14, point 10: without the key, a body cannot be tried against the table.
    #[test]
    fn a_fingerprint_is_keyed_and_no_plain_hash() {
        let body =
            br#"{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}"#;
        let ours =
            Fingerprints::new(b"root secret").of(&Method::POST, "/v1/bookings/x/pay", "", body);
        let other =
            Fingerprints::new(b"another secret").of(&Method::POST, "/v1/bookings/x/pay", "", body);
        assert_ne!(ours, other);
        assert_ne!(ours, sha2::Sha256::digest(body).to_vec());
        assert!(!format!("{:?}", Fingerprints::new(b"root secret")).contains("root"));
    }
}
