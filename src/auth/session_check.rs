//! Whether an access token may still be used: its account is not disabled, and no "end
//! every session" (a password change or reset, disabling) came after the token was issued.
//! That is one primary-key read of the account per request; each instance keeps the answer
//! for `auth.session_recheck_ms`, and forgets it at once when it ends an account's sessions
//! itself, so a change made here applies from the next request and one made elsewhere
//! within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::store;
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;

/// Past this many remembered accounts, stale answers are swept out before another is kept.
const MAX_REMEMBERED: usize = 10_000;

#[derive(Clone, Copy)]
struct Seen {
    /// The account's session generation; `None` when it is disabled or gone.
    generation: Option<i32>,
    at: Instant,
}

pub struct SessionCheck {
    ttl: Duration,
    seen: Mutex<HashMap<Uuid, Seen>>,
    /// Counts [`SessionCheck::forget`]s: an answer read while one happened may already be
    /// stale, so it is used once but not kept.
    forgets: AtomicU64,
}

impl SessionCheck {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            seen: Mutex::new(HashMap::new()),
            forgets: AtomicU64::new(0),
        }
    }

    /// Whether a token of `user_id` issued under `generation` is still good.
    pub async fn admits(
        &self,
        pool: &PgPool,
        user_id: Uuid,
        generation: i32,
    ) -> Result<bool, ApiError> {
        if let Some(known) = self.remembered(user_id) {
            return Ok(known == Some(generation));
        }
        let forgets = self.forgets.load(Ordering::Acquire);
        let current = run_blocking(pool, move |conn| {
            Ok(store::session_generation(conn, user_id)?)
        })
        .await?;
        self.remember(user_id, current, forgets);
        Ok(current == Some(generation))
    }

    /// Drops what this instance knows of an account whose sessions just ended.
    pub fn forget(&self, user_id: Uuid) {
        self.forgets.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(&user_id);
        }
    }

    fn remembered(&self, user_id: Uuid) -> Option<Option<i32>> {
        if self.ttl.is_zero() {
            return None;
        }
        let seen = self.seen.lock().ok()?;
        seen.get(&user_id)
            .filter(|s| s.at.elapsed() < self.ttl)
            .map(|s| s.generation)
    }

    fn remember(&self, user_id: Uuid, generation: Option<i32>, forgets_before: u64) {
        if self.ttl.is_zero() || self.forgets.load(Ordering::Acquire) != forgets_before {
            return;
        }
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        if seen.len() >= MAX_REMEMBERED {
            let ttl = self.ttl;
            seen.retain(|_, s| s.at.elapsed() < ttl);
        }
        if seen.len() < MAX_REMEMBERED {
            seen.insert(
                user_id,
                Seen {
                    generation,
                    at: Instant::now(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forget_during_a_read_keeps_the_answer_out_of_the_cache() {
        let check = SessionCheck::new(Duration::from_secs(60));
        let user = Uuid::new_v4();
        let before = check.forgets.load(Ordering::Acquire);
        check.forget(user);
        check.remember(user, Some(0), before);
        assert!(check.remembered(user).is_none());
        check.remember(user, Some(1), check.forgets.load(Ordering::Acquire));
        assert_eq!(check.remembered(user), Some(Some(1)));
        check.forget(user);
        assert!(check.remembered(user).is_none());
    }

    #[test]
    fn nothing_is_kept_when_the_recheck_time_is_zero() {
        let check = SessionCheck::new(Duration::ZERO);
        let user = Uuid::new_v4();
        check.remember(user, Some(0), 0);
        assert!(check.remembered(user).is_none());
    }
}
