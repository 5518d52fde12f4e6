//! Rate limits: at most `limit` of one kind of request per key (a client address) in a
//! fixed window, counted in PostgreSQL so every instance shares the count.
//!
//! The count is one statement: an upsert that starts a new window when the old one ended,
//! or adds one, and returns the count. Concurrent requests queue on the row for the length
//! of that statement only, so at most `limit` are let through in a window, however many
//! arrive at once.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};

use crate::error::ApiError;

/// One kind of request, its limit and its window.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Prefixes the key: `signup`, `hold`.
    pub name: &'static str,
    /// The problem's code when spent: `signup.rate_limited`.
    pub code: &'static str,
    /// Requests allowed per window; 0 turns the limit off.
    pub limit: u32,
    pub window: Duration,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Integer)]
    count: i32,
    #[diesel(sql_type = Timestamptz)]
    window_started_at: DateTime<Utc>,
}

impl RateLimit {
    /// Counts one request for `key`; `RateLimited` (429 with Retry-After) once the
    /// window's limit is spent.
    pub fn take(&self, conn: &mut PgConnection, key: &str) -> Result<(), ApiError> {
        if self.limit == 0 {
            return Ok(());
        }
        // A lost count (a crash right after) costs nothing worth a disk flush: the commit
        // does not wait for the WAL (set_config(..., true) lasts until this statement's
        // implicit transaction has committed).
        let counted: Counted = diesel::sql_query(
            "INSERT INTO rate_counts AS r (key, window_started_at, count)
             SELECT $1, now(), 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) s
             ON CONFLICT (key) DO UPDATE SET
               count = CASE WHEN r.window_started_at <= now() - make_interval(secs => $2)
                            THEN 1 ELSE r.count + 1 END,
               window_started_at = CASE WHEN r.window_started_at <= now() - make_interval(secs => $2)
                                        THEN now() ELSE r.window_started_at END
             RETURNING count, window_started_at",
        )
        .bind::<Text, _>(format!("{}:{key}", self.name))
        .bind::<BigInt, _>(self.window.num_seconds())
        .get_result(conn)?;
        if u32::try_from(counted.count).is_ok_and(|count| count <= self.limit) {
            return Ok(());
        }
        let wait = (counted.window_started_at + self.window - Utc::now()).num_seconds();
        Err(ApiError::RateLimited {
            code: self.code,
            retry_after_secs: u64::try_from(wait.max(1)).unwrap_or(1),
        })
    }
}

/// Deletes windows that ended before `now - longest` (the longest window of any limit).
pub fn purge(conn: &mut PgConnection, longest: Duration) -> QueryResult<usize> {
    use crate::schema::rate_counts::dsl::*;
    diesel::delete(rate_counts.filter(window_started_at.lt(Utc::now() - longest))).execute(conn)
}
