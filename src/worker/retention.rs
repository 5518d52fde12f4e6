//! What is kept, and for how long: one sweep (`purge_expired`) deletes every record whose
//! use has passed, so no table grows without bound. Each rule is one statement here.
//!
//! | table | deleted when | setting |
//! |---|---|---|
//! | `idempotency_keys` | older than | `jobs.retention.idempotency_keys_hours` (24) |
//! | `login_throttles` | last failure older than, and not locked out | `login_throttles_hours` (24) |
//! | `rate_counts` | window ended (windows are an hour) | two hours, fixed |
//! | `refresh_tokens` | expired or revoked longer ago than (a used one stays until it would have expired: presented again, it revokes its family) | `expired_tokens_days` (7) |
//! | `account_tokens` (emailed links) | expired longer ago than | `expired_tokens_days` |
//! | `jobs` | `done` longer ago than (dead jobs stay for a person) | `finished_jobs_days` (30) |
//! | `webhook_deliveries` | attempted longer ago than | `webhook_deliveries_days` (90) |
//! | `sms_messages` | last status longer ago than, unless still queued | `sms_messages_days` (90) |
//! | `booking_patients` (a hospital booking's patient; the booking stays) | the appointment ended longer ago than | `booking_patients_days` (180) |

use chrono::{Duration, Utc};
use diesel::prelude::*;

use crate::config::RetentionSettings;
use crate::schema::{
    account_tokens, booking_patients, bookings, jobs, login_throttles, refresh_tokens,
    sms_messages, webhook_deliveries,
};

/// How many rows each rule deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: usize,
    pub login_throttles: usize,
    pub rate_counts: usize,
    pub refresh_tokens: usize,
    pub account_tokens: usize,
    pub jobs: usize,
    pub webhook_deliveries: usize,
    pub sms_messages: usize,
    pub booking_patients: usize,
}

pub fn purge_expired(conn: &mut PgConnection, keep: &RetentionSettings) -> QueryResult<Purged> {
    let now = Utc::now();
    let hours = |h: u32| now - Duration::hours(i64::from(h));
    let days = |d: u32| now - Duration::days(i64::from(d));
    let idempotency_keys = crate::idempotency::purge_older_than(
        conn,
        Duration::hours(i64::from(keep.idempotency_keys_hours)),
    )?;
    let login_throttles = diesel::delete(
        login_throttles::table
            .filter(login_throttles::last_failure_at.lt(hours(keep.login_throttles_hours)))
            .filter(
                login_throttles::blocked_until
                    .is_null()
                    .or(login_throttles::blocked_until.lt(now)),
            ),
    )
    .execute(conn)?;
    let rate_counts = crate::http::rate_limit::purge(conn, Duration::hours(2))?;
    let token_cutoff = days(keep.expired_tokens_days);
    let refresh_tokens = diesel::delete(
        refresh_tokens::table.filter(
            refresh_tokens::expires_at
                .lt(token_cutoff)
                .or(refresh_tokens::revoked_at.lt(token_cutoff)),
        ),
    )
    .execute(conn)?;
    let account_tokens =
        diesel::delete(account_tokens::table.filter(account_tokens::expires_at.lt(token_cutoff)))
            .execute(conn)?;
    let jobs = diesel::delete(
        jobs::table
            .filter(jobs::state.eq("done"))
            .filter(jobs::finished_at.lt(days(keep.finished_jobs_days))),
    )
    .execute(conn)?;
    let webhook_deliveries = diesel::delete(
        webhook_deliveries::table
            .filter(webhook_deliveries::at.lt(days(keep.webhook_deliveries_days))),
    )
    .execute(conn)?;
    let sms_messages = diesel::delete(
        sms_messages::table
            .filter(sms_messages::status_at.lt(days(keep.sms_messages_days)))
            .filter(sms_messages::status.ne("queued")),
    )
    .execute(conn)?;
    let ended_before = days(keep.booking_patients_days);
    let booking_patients = diesel::delete(
        booking_patients::table.filter(
            booking_patients::booking_id.eq_any(
                bookings::table
                    .filter(bookings::ends_at.lt(ended_before))
                    .select(bookings::id),
            ),
        ),
    )
    .execute(conn)?;
    Ok(Purged {
        idempotency_keys,
        login_throttles,
        rate_counts,
        refresh_tokens,
        account_tokens,
        jobs,
        webhook_deliveries,
        sms_messages,
        booking_patients,
    })
}
