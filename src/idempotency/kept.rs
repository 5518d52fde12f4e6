//! What an answer kept for replay may hold. The `idempotency_keys` table keeps answers for a
//! day, read by whoever reads that table; secrets stay where they live:
//!
//! - an answer marked `Cache-Control: no-store` (a session's tokens) is not kept at all: its
//!   key is let go, and a retry runs again;
//! - an answer carrying a secret that lives in its own table (a payment's 3-D Secure link with
//!   the gateway's client secret, a provider's webhook secret) is kept without it, and the
//!   secret is read back from there when the answer is replayed ([`KeptSecrets`]).

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use diesel::prelude::*;

/// One kind of secret an answer may carry, implemented by the capability that owns it.
pub trait KeptSecrets: Send + Sync {
    /// Blanks the secrets in the copy of an answer kept for replay; says whether it did.
    fn strip(&self, body: &mut serde_json::Value) -> bool;

    /// Puts them back from where they live when the answer is replayed; says whether it did.
    fn restore(&self, conn: &mut PgConnection, body: &mut serde_json::Value) -> QueryResult<bool>;
}

/// Every kind of secret the application's answers carry (assembled in `state.rs`).
#[derive(Clone, Default)]
pub struct Secrets(Arc<[Arc<dyn KeptSecrets>]>);

impl Secrets {
    pub fn new(kinds: Vec<Arc<dyn KeptSecrets>>) -> Self {
        Self(kinds.into())
    }

    /// The bytes to keep for a JSON answer: `body` itself unless a secret had to come out.
    pub(super) fn stripped(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let mut changed = false;
        for kind in self.0.iter() {
            changed |= kind.strip(&mut value);
        }
        changed.then(|| serde_json::to_vec(&value).unwrap_or_default())
    }

    /// A kept JSON answer with its secrets back, or `None` when it carried none.
    pub(super) fn restored(
        &self,
        conn: &mut PgConnection,
        body: &[u8],
    ) -> QueryResult<Option<Vec<u8>>> {
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Ok(None);
        };
        let mut changed = false;
        for kind in self.0.iter() {
            changed |= kind.restore(conn, &mut value)?;
        }
        Ok(changed.then(|| serde_json::to_vec(&value).unwrap_or_default()))
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} kinds)", self.0.len())
    }
}

/// Whether the answer says it must not be stored anywhere (RFC 9111 `no-store`).
pub(super) fn no_store(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn no_store_is_read_among_other_directives() {
        let mut headers = HeaderMap::new();
        assert!(!no_store(&headers));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, No-Store"),
        );
        assert!(no_store(&headers));
    }
}
