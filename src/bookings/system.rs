//! What the system does to bookings on its own, from jobs: expire holds, confirm with the
//! provider (or fail after the last attempt), remind, complete. Every change is a
//! transition through the one state machine, with a history row that names no actor.

use chrono::Utc;
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::service::{Bookings, apply};
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingRow, NewEvent, Visibility};
use crate::db::run_blocking;
use crate::error::ApiError;
use crate::notify::templates::BookingEmail;
use crate::notify::{email, webhooks};
use crate::providers::adapter::Adapter;
use crate::providers::model::ProviderRef;
use crate::providers::store as provider_store;

impl Bookings {
    /// Job: holds past their expiry become `expired` and give back what they held (with the
    /// provider first, for external ones). A booking paid in the meantime is left alone.
    pub async fn expire_due(&self) -> Result<usize, String> {
        let due = run_blocking(&self.pool, |conn| {
            use crate::schema::bookings::dsl as b;
            let rows: Vec<BookingRow> = b::bookings
                .filter(b::status.eq(BookingStatus::Held))
                .filter(b::hold_expires_at.le(Utc::now()))
                .order(b::hold_expires_at)
                .limit(500)
                .select(BookingRow::as_select())
                .load(conn)?;
            Ok(rows)
        })
        .await
        .map_err(|e| e.describe())?;
        let mut expired = 0;
        for row in due {
            match self
                .end_booking(
                    row,
                    BookingEvent::HoldExpired,
                    "hold expired",
                    RefundShare::Nothing,
                )
                .await
            {
                Ok(true) => expired += 1,
                Ok(false) => {}
                // One provider that cannot be reached must not hold up the others.
                Err(error) => {
                    tracing::warn!(%error, "could not expire a hold; the next sweep retries")
                }
            }
        }
        Ok(expired)
    }

    /// Job: the provider confirms a pending booking. Local inventory is ours, so it is
    /// confirmed at once; an external booking was placed with the provider when it was held.
    pub async fn confirm_with_provider(&self, booking_id: Uuid) -> Result<(), String> {
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
                let updated = apply(conn, &row, BookingEvent::ProviderConfirmed, None)?;
                record_system(conn, &updated, row.status, "confirmed by the provider")?;
                webhooks::enqueue_booking_event(conn, &updated, "booking.confirmed")?;
                email::enqueue_booking_email(conn, &updated, BookingEmail::Confirmed)?;
                Ok(())
            })
        })
        .await
        .map_err(|e| e.describe())
    }

    /// Job, after the last failed attempt: the booking fails and everything paid is refunded.
    pub async fn fail_unconfirmed(&self, booking_id: Uuid, reason: &str) -> Result<(), String> {
        let row = run_blocking(&self.pool, move |conn| {
            Ok(store::find_visible(
                conn,
                Some(booking_id),
                None,
                Visibility::Everything,
            )?)
        })
        .await
        .map_err(|e| e.describe())?;
        if row.status != BookingStatus::Pending {
            return Ok(());
        }
        let reason = format!("the provider did not confirm: {reason}");
        self.end_booking(
            row,
            BookingEvent::ProviderRefused,
            &reason,
            RefundShare::All,
        )
        .await
        .map(|_| ())
    }

    /// Job: confirmed bookings that start within the next day get their reminder. The
    /// email's dedup key makes it once per booking, however often the sweep runs.
    pub async fn enqueue_reminders(&self) -> Result<usize, String> {
        let wake = self.wake.clone();
        let queued = run_blocking(&self.pool, |conn| {
            use crate::schema::bookings::dsl as b;
            let soon: Vec<BookingRow> = b::bookings
                .filter(b::status.eq(BookingStatus::Confirmed))
                .filter(b::starts_at.gt(Utc::now()))
                .filter(b::starts_at.le(Utc::now() + chrono::Duration::hours(24)))
                .limit(1000)
                .select(BookingRow::as_select())
                .load(conn)?;
            for booking in &soon {
                email::enqueue_booking_email(conn, booking, BookingEmail::Reminder)?;
            }
            Ok(soon.len())
        })
        .await
        .map_err(|e| e.describe())?;
        wake.notify_waiters();
        Ok(queued)
    }

    /// Job: confirmed bookings that have ended become `completed`.
    pub async fn complete_past(&self) -> Result<usize, String> {
        run_blocking(&self.pool, |conn| {
            use crate::schema::bookings::dsl as b;
            let ended: Vec<BookingRow> = b::bookings
                .filter(b::status.eq(BookingStatus::Confirmed))
                .filter(b::ends_at.le(Utc::now()))
                .limit(500)
                .select(BookingRow::as_select())
                .load(conn)?;
            let mut completed = 0;
            for row in ended {
                conn.transaction(|conn| {
                    let moved = store::transition(
                        conn,
                        row.id,
                        row.status,
                        BookingStatus::Completed,
                        row.refund_amount,
                    )?;
                    if let Some(updated) = moved {
                        record_system(conn, &updated, row.status, "stay or appointment is over")?;
                        completed += 1;
                    }
                    Ok::<_, ApiError>(())
                })?;
            }
            Ok(completed)
        })
        .await
        .map_err(|e| e.describe())
    }

    /// Ends a live booking for the system (expiry, refusal): the provider's copy first, then
    /// ours with its inventory released. `Ok(false)` when someone moved it meanwhile.
    async fn end_booking(
        &self,
        row: BookingRow,
        event: BookingEvent,
        reason: &str,
        refund: RefundShare,
    ) -> Result<bool, String> {
        if let Some(provider_ref) = &row.provider_ref {
            let provider_id = row.provider_id;
            let provider = run_blocking(&self.pool, move |conn| {
                Ok(provider_store::find_provider(conn, provider_id)?)
            })
            .await
            .map_err(|e| e.describe())?;
            let adapter = Adapter::for_provider(&provider, &self.searcher.clients)?;
            adapter
                .cancel(&ProviderRef(provider_ref.clone()))
                .await
                .map_err(|e| e.to_string())?;
        }
        let reason = reason.to_owned();
        let ended = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let Some(to) = row.status.next(event) else {
                    return Ok(false);
                };
                let refund = match refund {
                    RefundShare::Nothing => Decimal::ZERO,
                    RefundShare::All => crate::billing::refunds::refund_booking(
                        conn,
                        row.id,
                        |paid| paid,
                        &reason,
                        None,
                    )?,
                };
                // Moved meanwhile: roll back (the refund decided above with it).
                let updated = store::transition(conn, row.id, row.status, to, Some(refund))?
                    .ok_or(ApiError::InvalidState {
                        status: "changed meanwhile",
                    })?;
                if let Some(unit_id) = updated.unit_id {
                    store::release_cells(
                        conn,
                        unit_id,
                        updated.starts_at,
                        updated.ends_at,
                        updated.quantity,
                    )?;
                }
                record_system(conn, &updated, row.status, &reason)?;
                let mail = if updated.status == BookingStatus::Expired {
                    BookingEmail::Expired
                } else {
                    // The office follows up on every failed booking (`?flagged=true`).
                    diesel::update(crate::schema::bookings::table.find(updated.id))
                        .set(crate::schema::bookings::flagged_at.eq(Some(Utc::now())))
                        .execute(conn)?;
                    BookingEmail::Failed
                };
                email::enqueue_booking_email(conn, &updated, mail)?;
                Ok(true)
            })
        })
        .await;
        match ended {
            Err(ApiError::InvalidState { .. }) => Ok(false),
            other => other.map_err(|e| e.describe()),
        }
    }
}

/// What a booking ended by the system gives back of what was paid.
#[derive(Debug, Clone, Copy)]
enum RefundShare {
    /// An expired hold: nothing was captured (a payment landing later is refunded then).
    Nothing,
    /// The provider failed us: everything.
    All,
}

/// The history row of a transition the system made (no actor).
fn record_system(
    conn: &mut PgConnection,
    booking: &BookingRow,
    from: BookingStatus,
    reason: &str,
) -> Result<(), ApiError> {
    store::insert_event(
        conn,
        &NewEvent {
            booking_id: booking.id,
            actor_id: None,
            from_status: Some(from.as_str()),
            to_status: booking.status.as_str(),
            reason: Some(reason),
            request_id: None,
        },
    )?;
    Ok(())
}
