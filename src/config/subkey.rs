//! Keys derived from `auth.jwt_secret`, one per use, so a single configured secret serves
//! the offer signer, emailed links, request fingerprints, log hashes and the sandbox bank
//! without any two uses sharing a key: HMAC-SHA256 of a label under the secret.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The key for `label` (a fixed, versioned string such as `b"wasit offer id signing key v1"`).
pub fn derive(root_secret: &[u8], label: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(root_secret).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_label_gets_its_own_key() {
        let a = super::derive(b"root", b"one v1");
        assert_eq!(a, super::derive(b"root", b"one v1"));
        assert_ne!(a, super::derive(b"root", b"two v1"));
        assert_ne!(a, super::derive(b"other", b"one v1"));
        assert_eq!(a.len(), 32);
    }
}
