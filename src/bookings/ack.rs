//! A provider's answer to a booking it was told about (`POST /v1/provider/bookings/{ref}/ack`),
//! and the flag an agent follows up on when no answer comes in time.

use chrono::Utc;
use diesel::prelude::*;
use serde::Deserialize;

use super::service::{
    Actor, BookingKey, BookingView, Bookings, adapter_error, apply, record, view,
};
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, Visibility};
use crate::auth::Role;
use crate::db::run_blocking;
use crate::error::ApiError;
use crate::notify::email;
use crate::notify::templates::BookingEmail;
use crate::providers::adapter::Adapter;
use crate::providers::model::ProviderRef;
use crate::providers::store as provider_store;
use crate::schema::{bookings, providers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Confirm,
    Refuse,
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
        let (row, provider) = {
            let key = key.clone();
            run_blocking(&self.pool, move |conn| {
                let row = store::find_visible(
                    conn,
                    key.id,
                    key.reference.as_deref(),
                    Visibility::Provider(provider_id),
                )?;
                let provider = provider_store::find_provider(conn, row.provider_id)?;
                Ok((row, provider))
            })
            .await?
        };
        let event = match (decision, row.status) {
            (Decision::Confirm, BookingStatus::Pending) => Some(BookingEvent::ProviderConfirmed),
            (Decision::Confirm, BookingStatus::Confirmed) => None,
            (Decision::Refuse, BookingStatus::Pending) => Some(BookingEvent::ProviderRefused),
            (Decision::Refuse, BookingStatus::Confirmed) => Some(BookingEvent::Cancel),
            (_, status) => {
                return Err(ApiError::InvalidState {
                    status: status.as_str(),
                });
            }
        };
        if decision == Decision::Refuse
            && let Some(provider_ref) = &row.provider_ref
        {
            let adapter =
                Adapter::for_provider(&provider, &self.searcher.clients).map_err(|reason| {
                    ApiError::internal(anyhow::anyhow!("provider {}: {reason}", provider.id))
                })?;
            adapter
                .cancel(&ProviderRef(provider_ref.clone()))
                .await
                .map_err(adapter_error)?;
        }
        let fees = self.searcher.fees;
        let wake = self.wake.clone();
        let answered = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let mut current = row.clone();
                if let Some(event) = event {
                    let refund = (decision == Decision::Refuse).then_some(row.total);
                    current = apply(conn, &row, event, refund)?;
                    if decision == Decision::Refuse
                        && let Some(unit_id) = current.unit_id
                    {
                        store::release_cells(
                            conn,
                            unit_id,
                            current.starts_at,
                            current.ends_at,
                            current.quantity,
                        )?;
                    }
                    let mail = match current.status {
                        BookingStatus::Confirmed => BookingEmail::Confirmed,
                        BookingStatus::Cancelled => BookingEmail::Cancelled,
                        _ => BookingEmail::Failed,
                    };
                    email::enqueue_booking_email(conn, &current, mail)?;
                }
                let why = reason.as_deref().unwrap_or(match decision {
                    Decision::Confirm => "confirmed by the provider",
                    Decision::Refuse => "refused by the provider",
                });
                record(
                    conn,
                    &current,
                    &actor,
                    Some(row.status),
                    current.status,
                    Some(why),
                    "booking.ack",
                )?;
                let ack = match decision {
                    Decision::Confirm => "confirmed",
                    Decision::Refuse => "refused",
                };
                let acked = store::set_ack(conn, current.id, ack)?;
                Ok(view(acked, &provider, &fees, None))
            })
        })
        .await?;
        wake.notify_waiters();
        Ok(answered)
    }

    /// Job: bookings a provider with a webhook was told about but has not answered within
    /// `deadline` are flagged for an agent (once).
    pub async fn flag_unacknowledged(&self, deadline: chrono::Duration) -> Result<usize, String> {
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
        .map_err(|e| e.describe())
    }
}
