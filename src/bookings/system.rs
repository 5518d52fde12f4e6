//! What the system does to bookings on its own, from jobs: expire holds, confirm with the
//! provider (or fail after the last attempt), cancel an ended booking's copy at its
//! provider, remind, complete. Every status change goes through the lifecycle.

use chrono::Utc;
use diesel::prelude::*;
use uuid::Uuid;

use super::lifecycle::{self, Change, Refund};
use super::service::Bookings;
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingRow, Visibility};
use crate::db::run_blocking;
use crate::error::ApiError;
use crate::jobs::BookingEmail;
use crate::providers::adapter::{Adapter, AdapterError};
use crate::providers::model::ProviderRef;
use crate::providers::store as provider_store;
use crate::schema::bookings;

/// Holds expired per transaction: local inventory comes back in bounded steps, each one
/// short enough not to hold row locks for long.
const EXPIRY_BATCH: i64 = 100;
/// Batches per sweep: the next tick (a minute later) takes the rest.
const EXPIRY_BATCHES: usize = 20;
/// The advisory lock a batch holds, so one sweep runs at a time across every process. Two
/// sweeps side by side each lock a hundred bookings' inventory cells in their own order and
/// deadlock on the cells they share (seen with three processes sweeping one sold-out unit:
/// a second a hold, every one a deadlock victim).
const EXPIRY_LOCK: i64 = 0x5741_5349_5445_5850; // "WASITEXP"

/// Why a job about one booking failed.
#[derive(Debug, thiserror::Error)]
pub enum BookingJobError {
    #[error(transparent)]
    Database(#[from] ApiError),
    #[error("provider {provider_id}: {error}")]
    Provider {
        provider_id: Uuid,
        #[source]
        error: AdapterError,
    },
}

impl Bookings {
    /// Job: holds past their expiry become `expired` and give back their inventory, in
    /// batches of [`EXPIRY_BATCH`] claimed with `SKIP LOCKED` (a payment settling the same
    /// booking holds its row: the sweep passes it by and the lifecycle re-checks the rest).
    /// Outside providers' copies are cancelled by one job per booking, after the commit.
    /// Returns the holds it expired (not those it found and could not).
    #[tracing::instrument(skip_all)]
    pub async fn expire_due(&self) -> Result<usize, ApiError> {
        let mut expired = 0;
        for _ in 0..EXPIRY_BATCHES {
            let batch = run_blocking(&self.pool, |conn| {
                conn.transaction(|conn| {
                    let ours: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                        &format!("pg_try_advisory_xact_lock({EXPIRY_LOCK})"),
                    ))
                    .get_result(conn)?;
                    if !ours {
                        return Ok(None); // another process is sweeping: it takes these
                    }
                    let due: Vec<Uuid> = bookings::table
                        .filter(bookings::status.eq(BookingStatus::Held))
                        .filter(bookings::hold_expires_at.le(Utc::now()))
                        .order(bookings::hold_expires_at)
                        .limit(EXPIRY_BATCH)
                        .select(bookings::id)
                        .for_no_key_update()
                        .skip_locked()
                        .load(conn)?;
                    let change = Change::by_system(
                        BookingEvent::HoldExpired,
                        "hold expired",
                        Refund::Nothing,
                    );
                    let mut done = 0;
                    for id in &due {
                        // A savepoint each: one booking that cannot expire (it is logged)
                        // must not keep the rest of the batch holding rooms.
                        match conn.transaction(|conn| lifecycle::transition(conn, *id, &change)) {
                            Ok(_) => done += 1,
                            Err(error) => {
                                tracing::error!(booking_id = %id, error = %error.describe(), "could not expire a hold")
                            }
                        }
                    }
                    Ok(Some((due.len(), done)))
                })
            })
            .await?;
            let Some((batch, done)) = batch else { break };
            expired += done;
            if done > 0 {
                self.wake.notify_waiters();
            }
            if batch < EXPIRY_BATCH as usize {
                break;
            }
        }
        Ok(expired)
    }

    /// Job: the provider confirms a pending booking. Local inventory is ours, so it is
    /// confirmed at once; an external booking was placed with the provider when it was held.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn confirm_with_provider(&self, booking_id: Uuid) -> Result<(), ApiError> {
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let row =
                    store::find_visible(conn, Some(booking_id), None, Visibility::Everything)?;
                if row.status != BookingStatus::Pending {
                    return Ok(()); // already handled: a job may run twice
                }
                if row.unit_id.is_none() && row.provider_ref.is_none() {
                    return Err(ApiError::internal(anyhow::anyhow!(
                        "no booking with the provider to confirm"
                    )));
                }
                let change = Change::by_system(
                    BookingEvent::ProviderConfirmed,
                    "confirmed by the provider",
                    Refund::Nothing,
                );
                lifecycle::transition(conn, row.id, &change).map(|_| ())
            })
        })
        .await
    }

    /// Job, after the last failed attempt: the booking fails and everything paid is refunded.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn fail_unconfirmed(&self, booking_id: Uuid, reason: &str) -> Result<(), ApiError> {
        let reason = format!("the provider did not confirm: {reason}");
        let failed = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let change = Change::by_system(BookingEvent::ProviderRefused, &reason, Refund::All);
                lifecycle::transition(conn, booking_id, &change).map(|_| ())
            })
        })
        .await;
        match failed {
            // Confirmed, cancelled or failed meanwhile: nothing left to fail.
            Err(ApiError::InvalidState { .. }) => Ok(()),
            other => other,
        }
    }

    /// Job: an ended booking's copy at its outside provider is cancelled (idempotent at the
    /// provider: a second cancel finds nothing). After the last attempt the booking is
    /// flagged for an agent: the provider may still hold a room we no longer sell.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn cancel_at_provider(
        &self,
        booking_id: Uuid,
        last_attempt: bool,
    ) -> Result<(), BookingJobError> {
        let (row, provider) = run_blocking(&self.pool, move |conn| {
            let row = store::find_visible(conn, Some(booking_id), None, Visibility::Everything)?;
            let provider = provider_store::find_provider(conn, row.provider_id)?;
            Ok((row, provider))
        })
        .await?;
        let Some(provider_ref) = row.provider_ref.filter(|_| row.status.is_called_off()) else {
            return Ok(());
        };
        let cancelled = match Adapter::for_provider(&provider, &self.searcher.clients) {
            Ok(adapter) => adapter.cancel(&ProviderRef(provider_ref.clone())).await,
            Err(misconfigured) => Err(misconfigured),
        };
        // A cancel that got no answer is retried (cancelling twice is harmless); meanwhile
        // the booking reads unconfirmed at the provider.
        super::uncertain::note_cancel(self, &row.id, &row.reference, &cancelled).await?;
        let Err(error) = cancelled else {
            return Ok(());
        };
        if last_attempt {
            run_blocking(&self.pool, move |conn| {
                Ok(lifecycle::flag(conn, booking_id)?)
            })
            .await?;
        }
        Err(BookingJobError::Provider {
            provider_id: provider.id,
            error,
        })
    }

    /// Job: confirmed bookings that start within the next day get their reminder. The
    /// email's dedup key makes it once per booking, however often the sweep runs.
    #[tracing::instrument(skip_all)]
    pub async fn enqueue_reminders(&self) -> Result<usize, ApiError> {
        let wake = self.wake.clone();
        let queued = run_blocking(&self.pool, |conn| {
            let soon: Vec<BookingRow> = bookings::table
                .filter(bookings::status.eq(BookingStatus::Confirmed))
                .filter(bookings::starts_at.gt(Utc::now()))
                .filter(bookings::starts_at.le(Utc::now() + chrono::Duration::hours(24)))
                .limit(1000)
                .select(BookingRow::as_select())
                .load(conn)?;
            for booking in &soon {
                lifecycle::enqueue_email(conn, booking, BookingEmail::Reminder)?;
            }
            Ok(soon.len())
        })
        .await?;
        wake.notify_waiters();
        Ok(queued)
    }

    /// Job: confirmed bookings that ended more than `no_show_window` ago become `completed`
    /// (until then their provider or staff may still mark them a no-show).
    #[tracing::instrument(skip_all)]
    pub async fn complete_past(&self) -> Result<usize, ApiError> {
        let over = Utc::now() - self.no_show_window;
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let ended: Vec<Uuid> = bookings::table
                    .filter(bookings::status.eq(BookingStatus::Confirmed))
                    .filter(bookings::ends_at.le(over))
                    .limit(500)
                    .select(bookings::id)
                    .for_no_key_update()
                    .skip_locked()
                    .load(conn)?;
                let change = Change::by_system(
                    BookingEvent::Complete,
                    "stay or appointment is over",
                    Refund::Nothing,
                );
                for id in &ended {
                    lifecycle::transition(conn, *id, &change)?;
                }
                Ok(ended.len())
            })
        })
        .await
    }
}
