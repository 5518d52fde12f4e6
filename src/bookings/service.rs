//! The rules of a booking once it exists: who may see it, reading and listing, staff
//! handing it on without payment, cancelling it with the provider's refund policy, and
//! asking the provider again. Holding an offer is `hold.rs`; what a client reads, `view.rs`.
//! No actix types here.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::lifecycle::{self, Change, Refund};
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingFilter, BookingRow, Visibility};
use super::view::{BookingView, declined_payments, latest_payment, view};
use crate::audit::{self, AuditEntry};
use crate::auth::Role;
use crate::db::{PgPool, run_blocking};
use crate::domain::Actor;
use crate::domain::money::FeePolicy;
use crate::error::{ApiError, FieldError};
use crate::idempotency::IdempotencyClaim;
use crate::jobs::{Job, queue};
use crate::providers::policy::CancellationPolicy;
use crate::providers::search::Searcher;
use crate::providers::store::{self as provider_store, ProviderRow};
use crate::schema::providers;

/// Everything booking needs, built once at start-up.
#[derive(Clone)]
pub struct Bookings {
    pub pool: PgPool,
    /// Money: paying for a booking, refunds.
    pub billing: crate::billing::Billing,
    pub searcher: Arc<Searcher>,
    /// How long a held booking keeps its inventory before it expires unpaid.
    pub hold: chrono::Duration,
    /// Wakes this process's job workers when a transition enqueues follow-up work.
    pub wake: Arc<tokio::sync::Notify>,
    /// How long a provider with a webhook has to answer before the booking is flagged.
    pub ack_deadline: chrono::Duration,
    /// How long after its end a confirmed booking may still be marked a no-show before
    /// `complete_past` completes it.
    pub no_show_window: chrono::Duration,
    /// Live holds per customer, holds per address.
    pub hold_limits: super::hold::HoldLimits,
    /// How long a waitlist offer holds freed inventory for its waiter (`waitlist.offer_minutes`).
    pub waitlist_offer: chrono::Duration,
    /// The links sent to phone clients: their key, and when consent is asked.
    pub client_links: super::consent::LinkSettings,
}

/// Whose bookings an actor may pay for: a customer their own, staff anyone's.
pub fn payer_visibility(actor: &Actor) -> Result<Visibility, ApiError> {
    match actor.role {
        Role::Customer => Ok(Visibility::CustomerUser(actor.user_id)),
        Role::Agent | Role::Admin => Ok(Visibility::Everything),
        Role::Provider => Err(ApiError::Forbidden),
    }
}

/// Whose bookings an actor may read; a provider login sees its provider's.
fn visibility(actor: &Actor, provider_of_user: Option<Uuid>) -> Result<Visibility, ApiError> {
    Ok(match actor.role {
        Role::Agent | Role::Admin => Visibility::Everything,
        Role::Customer => Visibility::CustomerUser(actor.user_id),
        Role::Provider => Visibility::Provider(provider_of_user.ok_or(ApiError::Forbidden)?),
    })
}

pub(super) fn field(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![FieldError::new(name, message)])
}

impl Bookings {
    pub(super) async fn provider_of_user(&self, actor: &Actor) -> Result<Option<Uuid>, ApiError> {
        if actor.role != Role::Provider {
            return Ok(None);
        }
        let user_id = actor.user_id;
        run_blocking(&self.pool, move |conn| {
            Ok(crate::schema::users::table
                .find(user_id)
                .select(crate::schema::users::provider_id)
                .first::<Option<Uuid>>(conn)?)
        })
        .await
    }

    /// One booking, with its history, if the actor may see it.
    pub async fn get(&self, actor: &Actor, key: BookingKey) -> Result<BookingView, ApiError> {
        let visibility = visibility(actor, self.provider_of_user(actor).await?)?;
        let fees = self.searcher.fees;
        run_blocking(&self.pool, move |conn| {
            let row = store::find_visible(conn, key.id, key.reference.as_deref(), visibility)?;
            full_view(conn, row, &fees)
        })
        .await
    }

    pub async fn list(
        &self,
        actor: &Actor,
        mut filter: BookingFilter,
    ) -> Result<(Vec<BookingView>, Option<(DateTime<Utc>, Uuid)>), ApiError> {
        if (filter.customer_id.is_some() || filter.flagged.is_some()) && !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let visibility = visibility(actor, self.provider_of_user(actor).await?)?;
        let fees = self.searcher.fees;
        let limit = filter.limit;
        filter.limit = limit + 1;
        run_blocking(&self.pool, move |conn| {
            let mut rows = store::list_visible(conn, &filter, visibility)?;
            let more = rows.len() as i64 > limit;
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            let next = more
                .then(|| rows.last().map(|r| (r.created_at, r.id)))
                .flatten();
            let ids: Vec<Uuid> = rows.iter().map(|r| r.provider_id).collect();
            let found: Vec<ProviderRow> = providers::table
                .filter(providers::id.eq_any(ids))
                .select(ProviderRow::as_select())
                .load(conn)?;
            let no_show_ids: Vec<Uuid> = rows
                .iter()
                .filter(|r| r.status == BookingStatus::NoShow)
                .map(|r| r.id)
                .collect();
            let mut no_shows = store::find_no_shows(conn, &no_show_ids)?;
            let booking_ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            let mut patients = super::patients::of_bookings(conn, &booking_ids)?;
            let mut views: Vec<BookingView> = rows
                .into_iter()
                .filter_map(|row| {
                    let provider = found.iter().find(|p| p.id == row.provider_id)?;
                    let no_show = no_shows
                        .iter()
                        .position(|n| n.booking_id == row.id)
                        .map(|at| no_shows.swap_remove(at).into());
                    let patient = patients
                        .iter()
                        .position(|(id, _)| *id == row.id)
                        .map(|at| patients.swap_remove(at).1);
                    let mut view = view(row, provider, &fees, None);
                    view.no_show = no_show;
                    view.patient = patient;
                    Some(view)
                })
                .collect();
            super::view::show_fee_discounts(conn, &mut views)?;
            Ok((views, next))
        })
        .await
    }

    /// Staff hand a held booking on to the provider without taking a payment through us (a
    /// client paying cash at the office): they must say why, and it is audited.
    pub async fn confirm(
        &self,
        actor: Actor,
        key: BookingKey,
        reason: Option<String>,
        answer: Option<IdempotencyClaim>,
    ) -> Result<BookingView, ApiError> {
        if !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| field("reason", "say why the booking goes ahead without payment"))?;
        let fees = self.searcher.fees;
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let row = store::find_visible(
                    conn,
                    key.id,
                    key.reference.as_deref(),
                    Visibility::Everything,
                )?;
                if row.status == BookingStatus::Held
                    && row.hold_expires_at.is_some_and(|at| at <= Utc::now())
                {
                    return Err(ApiError::InvalidState { status: "expired" });
                }
                super::uncertain::refuse_unconfirmed(conn, row.id)?;
                super::consent::refuse_pending(conn, row.id)?;
                let updated = lifecycle::transition(
                    conn,
                    row.id,
                    &Change {
                        event: BookingEvent::Submit,
                        actor: Some(&actor),
                        reason: Some(&reason),
                        refund: Refund::Nothing,
                        audit_action: "booking.confirm",
                    },
                )?;
                let provider = provider_store::find_provider(conn, updated.provider_id)?;
                answered(conn, answer.as_ref(), view(updated, &provider, &fees, None))
            })
        })
        .await
        .inspect(|_| self.wake.notify_waiters())
    }

    /// Cancels a live booking: claimed here with the refund the provider's policy allows
    /// and local inventory given back; the provider's copy is cancelled by a job after the
    /// commit (and the booking flagged for an agent if that keeps failing).
    ///
    /// A booking cancelled already answers as it is, writing nothing: a cancel retried
    /// after its answer was lost (without an Idempotency-Key, or racing the first) has got
    /// what it asked for. A booking that ended otherwise is 409 `booking.invalid_state`.
    pub async fn cancel(
        &self,
        actor: Actor,
        key: BookingKey,
        reason: Option<String>,
        answer: Option<IdempotencyClaim>,
    ) -> Result<BookingView, ApiError> {
        let visibility = visibility(&actor, self.provider_of_user(&actor).await?)?;
        if actor.role == Role::Provider {
            return Err(ApiError::Forbidden);
        }
        let fees = self.searcher.fees;
        let view = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let row = store::find_visible(conn, key.id, key.reference.as_deref(), visibility)?;
                let provider = provider_store::find_provider(conn, row.provider_id)?;
                let percent = provider_policy(&provider).refund_percent(row.starts_at, Utc::now());
                let change = Change {
                    event: BookingEvent::Cancel,
                    actor: Some(&actor),
                    reason: reason.as_deref(),
                    refund: Refund::Percent(percent),
                    audit_action: "booking.cancel",
                };
                let updated = match lifecycle::transition(conn, row.id, &change) {
                    // The transition read it under its row lock, held until this commits:
                    // the row as read now is the one the earlier cancel left.
                    Err(ApiError::InvalidState { status })
                        if status == BookingStatus::Cancelled.as_str() =>
                    {
                        store::find_visible(conn, Some(row.id), None, Visibility::Everything)?
                    }
                    other => other?,
                };
                answered(conn, answer.as_ref(), view(updated, &provider, &fees, None))
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(view)
    }
}

/// What cancelling now would give back, for the customer to see before they decide.
#[derive(Debug, Serialize)]
pub struct CancellationQuote {
    /// Whether the booking can still be cancelled.
    pub allowed: bool,
    pub refund_percent: u32,
    /// Captured and not yet refunded.
    #[serde(with = "rust_decimal::serde::str")]
    pub paid: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub refund_amount: Decimal,
    pub currency: &'static str,
}

impl Bookings {
    /// The refund cancelling now would make: the provider's tier for the time left, applied
    /// to what was captured (the same arithmetic `cancel` uses).
    pub async fn cancellation_quote(
        &self,
        actor: &Actor,
        key: BookingKey,
    ) -> Result<CancellationQuote, ApiError> {
        let visibility = visibility(actor, self.provider_of_user(actor).await?)?;
        run_blocking(&self.pool, move |conn| {
            let row = store::find_visible(conn, key.id, key.reference.as_deref(), visibility)?;
            let provider = provider_store::find_provider(conn, row.provider_id)?;
            let paid = crate::billing::refunds::refundable(conn, row.id)?;
            let percent = provider_policy(&provider).refund_percent(row.starts_at, Utc::now());
            Ok(CancellationQuote {
                allowed: row.status.next(BookingEvent::Cancel).is_some(),
                refund_percent: percent,
                paid,
                refund_amount: crate::billing::refunds::policy_share(paid, percent),
                currency: "SAR",
            })
        })
        .await
    }

    /// Staff ask the provider again for a pending booking now, rather than wait for the
    /// next retry (say, once the provider's system is back).
    pub async fn retry_confirmation(
        &self,
        actor: Actor,
        key: BookingKey,
    ) -> Result<BookingView, ApiError> {
        if !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let fees = self.searcher.fees;
        let view = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let row = store::find_visible(
                    conn,
                    key.id,
                    key.reference.as_deref(),
                    Visibility::Everything,
                )?;
                if row.status != BookingStatus::Pending {
                    return Err(ApiError::InvalidState {
                        status: row.status.as_str(),
                    });
                }
                queue::run_again_now(
                    conn,
                    &format!("confirm:{}", row.id),
                    &Job::ConfirmBooking { booking_id: row.id },
                )?;
                audit::record(
                    conn,
                    &AuditEntry {
                        actor_id: actor.user_id,
                        actor_role: actor.role,
                        on_behalf_of: Some(row.customer_id),
                        action: "booking.retry_confirmation",
                        entity_type: "booking",
                        entity_id: row.reference.clone(),
                        request_id: actor.request_id.clone(),
                        details: serde_json::json!({}),
                    },
                )?;
                let provider = provider_store::find_provider(conn, row.provider_id)?;
                Ok(view(row, &provider, &fees, None))
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(view)
    }
}

/// Saves `view` as the answer (200) of the request's Idempotency-Key, if it has one, in the
/// transaction that did the work.
pub(super) fn answered(
    conn: &mut PgConnection,
    answer: Option<&IdempotencyClaim>,
    mut view: BookingView,
) -> Result<BookingView, ApiError> {
    super::view::show_fee_discounts(conn, std::slice::from_mut(&mut view))?;
    if let Some(claim) = answer {
        claim.save_in(conn, actix_web::http::StatusCode::OK, &view)?;
    }
    Ok(view)
}

/// One booking as `GET /v1/bookings/{b}` shows it: with its history and its latest payment.
pub fn full_view(
    conn: &mut PgConnection,
    row: BookingRow,
    fees: &FeePolicy,
) -> Result<BookingView, ApiError> {
    let provider = provider_store::find_provider(conn, row.provider_id)?;
    let events = store::list_events(conn, row.id)?;
    let payment = latest_payment(conn, row.id)?;
    let declined = declined_payments(conn, row.id)?;
    let no_show = store::find_no_shows(conn, &[row.id])?.pop();
    let patient = super::patients::of_booking(conn, row.id)?;
    let live = matches!(
        row.status,
        BookingStatus::Held | BookingStatus::Pending | BookingStatus::Confirmed
    );
    let terms =
        live.then(|| crate::providers::policy::offer_terms(&provider, row.starts_at, Utc::now()));
    let unconfirmed = super::uncertain::is_unconfirmed(conn, row.id)?;
    let mut view = view(row, &provider, fees, Some(events));
    super::view::show_fee_discounts(conn, std::slice::from_mut(&mut view))?;
    super::uncertain::show(&mut view, unconfirmed);
    view.payment = payment;
    view.declined_payments = Some(declined);
    view.terms = terms;
    view.no_show = no_show.map(Into::into);
    view.patient = patient;
    view.rooms = store::rooms_of(conn, view.id)?;
    Ok(view)
}

/// A booking named by its id or its reference.
#[derive(Debug, Clone)]
pub struct BookingKey {
    pub id: Option<Uuid>,
    pub reference: Option<String>,
}

pub(super) fn provider_policy(provider: &ProviderRow) -> CancellationPolicy {
    crate::providers::policy::cancellation_of(provider)
}
