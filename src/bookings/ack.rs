//! A provider's answer to a booking it was told about (`POST /v1/provider/bookings/{ref}/ack`),
//! and the flag an agent follows up on when no answer comes in time.

use chrono::Utc;
use diesel::prelude::*;
use serde::Deserialize;

use super::lifecycle::{self, Change, Refund};
use super::service::{BookingKey, Bookings};
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingRow, Visibility};
use super::view::{BookingView, view};
use crate::auth::Role;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::ApiError;
use crate::providers::store as provider_store;
use crate::schema::{bookings, providers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Confirm,
    Refuse,
}

impl Decision {
    /// The transition an answer makes from `status`; `None` when a confirmed booking is
    /// simply acknowledged again.
    fn event_from(self, status: BookingStatus) -> Result<Option<BookingEvent>, ApiError> {
        match (self, status) {
            (Self::Confirm, BookingStatus::Pending) => Ok(Some(BookingEvent::ProviderConfirmed)),
            (Self::Confirm, BookingStatus::Confirmed) => Ok(None),
            (Self::Refuse, BookingStatus::Pending) => Ok(Some(BookingEvent::ProviderRefused)),
            (Self::Refuse, BookingStatus::Confirmed) => Ok(Some(BookingEvent::Cancel)),
            (_, status) => Err(ApiError::InvalidState {
                status: status.as_str(),
            }),
        }
    }

    /// The reason recorded when the provider gave none.
    fn default_reason(self) -> &'static str {
        match self {
            Self::Confirm => "confirmed by the provider",
            Self::Refuse => "refused by the provider",
        }
    }

    /// The refusal is not the customer's doing: everything captured goes back.
    fn refund(self) -> Refund {
        match self {
            Self::Refuse => Refund::All,
            Self::Confirm => Refund::Nothing,
        }
    }

    /// What `bookings.provider_ack` keeps.
    fn ack(self) -> &'static str {
        match self {
            Self::Confirm => "confirmed",
            Self::Refuse => "refused",
        }
    }
}

impl Bookings {
    /// The provider confirms (a pending booking becomes confirmed; a confirmed one is simply
    /// acknowledged) or refuses (pending -> failed, confirmed -> cancelled; everything paid
    /// is refunded, since the refusal is not the customer's doing).
    pub async fn acknowledge(
        &self,
        actor: Actor,
        key: BookingKey,
        decision: Decision,
        reason: Option<String>,
    ) -> Result<BookingView, ApiError> {
        if actor.role != Role::Provider {
            return Err(ApiError::Forbidden);
        }
        let provider_id = self
            .provider_of_user(&actor)
            .await?
            .ok_or(ApiError::Forbidden)?;
        let fees = self.searcher.fees;
        let answered = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let row = store::find_visible(
                    conn,
                    key.id,
                    key.reference.as_deref(),
                    Visibility::Provider(provider_id),
                )?;
                let provider = provider_store::find_provider(conn, row.provider_id)?;
                let why = reason.as_deref().unwrap_or(decision.default_reason());
                let acked = apply_answer(conn, row, decision, &actor, why)?;
                Ok(view(acked, &provider, &fees, None))
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(answered)
    }

    /// Job: bookings a provider with a webhook was told about but has not answered within
    /// `deadline` are flagged for an agent (once).
    pub async fn flag_unacknowledged(&self, deadline: chrono::Duration) -> Result<usize, ApiError> {
        run_blocking(&self.pool, move |conn| {
            let listening = providers::table
                .filter(providers::webhook_url.is_not_null())
                .filter(providers::webhook_disabled_at.is_null())
                .select(providers::id);
            Ok(diesel::update(
                bookings::table
                    .filter(
                        bookings::status.eq_any([BookingStatus::Pending, BookingStatus::Confirmed]),
                    )
                    .filter(bookings::provider_ack.is_null())
                    .filter(bookings::flagged_at.is_null())
                    .filter(bookings::updated_at.lt(Utc::now() - deadline))
                    .filter(bookings::provider_id.eq_any(listening)),
            )
            .set(bookings::flagged_at.eq(Some(Utc::now())))
            .execute(conn)?)
        })
        .await
    }
}

/// In the caller's transaction: the transition the answer makes (or, for a confirmation
/// repeated, just its history row), then the answer kept on the booking.
fn apply_answer(
    conn: &mut PgConnection,
    row: BookingRow,
    decision: Decision,
    actor: &Actor,
    why: &str,
) -> Result<BookingRow, ApiError> {
    let current = match decision.event_from(row.status)? {
        Some(event) => lifecycle::transition(
            conn,
            row.id,
            &Change {
                event,
                actor: Some(actor),
                reason: Some(why),
                refund: decision.refund(),
                audit_action: "booking.ack",
            },
        )?,
        None => {
            lifecycle::record(
                conn,
                &row,
                Some(actor),
                Some(row.status),
                Some(why),
                "booking.ack",
            )?;
            row
        }
    };
    Ok(store::set_ack(conn, current.id, decision.ack())?)
}
