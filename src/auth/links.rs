//! The links we email: one to verify an address, one to reset a password. Each token is
//! 32 bytes derived from its row's id under a key taken from the JWT secret, so the
//! database keeps only the token's SHA-256 (as for refresh tokens) and a retried mail job
//! sends the same link again without the token ever being stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a link is for; each is accepted only by its own route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum LinkPurpose {
    VerifyEmail,
    ResetPassword,
}

crate::text_enum!(LinkPurpose {
    VerifyEmail => "verify_email",
    ResetPassword => "reset_password",
});

type HmacSha256 = Hmac<Sha256>;

/// The key tokens are derived under, itself derived from the JWT secret with a label so
/// the two uses never mix.
#[derive(Clone)]
pub struct LinkKeys {
    key: Vec<u8>,
}

impl LinkKeys {
    pub fn new(root_secret: &[u8]) -> Self {
        Self {
            key: crate::config::subkey::derive(root_secret, b"wasit emailed link key v1"),
        }
    }

    /// The keys of the links an agent sends a client (`bookings::client_links`): another
    /// label, so an account link's token can never be a client link's.
    pub fn for_client_links(root_secret: &[u8]) -> Self {
        Self {
            key: crate::config::subkey::derive(root_secret, b"wasit client link key v1"),
        }
    }

    /// The token of the link whose row is `id` (43 characters, base64url).
    pub fn token(&self, id: Uuid) -> String {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// What the database keeps of a token.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_row_and_differ_by_row_and_key() {
        let keys = LinkKeys::new(b"0123456789abcdef0123456789abcdef");
        let id = Uuid::new_v4();
        let token = keys.token(id);
        assert_eq!(token.len(), 43);
        assert_eq!(token, keys.token(id), "a retried mail sends the same link");
        assert_ne!(token, keys.token(Uuid::new_v4()));
        let other = LinkKeys::new(b"another-secret-another-secret-xx");
        assert_ne!(token, other.token(id));
        assert_eq!(hash(&token).len(), 32);
    }
}
