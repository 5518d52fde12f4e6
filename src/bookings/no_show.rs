//! No-shows (#15, point 4). Once a confirmed booking has started, its provider (a provider
//! login) or staff (with a reason) mark it `no_show`. The provider's `no_show_fee` policy
//! decides the fee, recorded with the mark (`booking_no_shows`); a prepaid booking's
//! payment gives back the provider's price less the fee (our service fee is not refunded),
//! all in the lifecycle's transition and through the one refund path. Staff may waive the
//! fee once, with a reason: it is refunded when it was paid through us, and the provider is
//! told either way. No actix here.

use chrono::Utc;
use chrono_tz::Tz;
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::lifecycle::{self, Change, Refund};
use super::service::{BookingKey, Bookings, answered, field};
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingRow, NoShowRow, Visibility};
use super::view::{BookingView, view};
use crate::auth::Role;
use crate::billing::refunds::refund_booking_crediting;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::domain::money::FeePolicy;
use crate::error::ApiError;
use crate::idempotency::IdempotencyClaim;
use crate::jobs::BookingEmail;
use crate::providers::store::{self as provider_store, ProviderRow};
use crate::schema::bookings;

/// What a no-show costs: the fee the provider keeps of its price, and what of the payment
/// comes back (the rest of the provider's price when it was paid through us; nothing of it
/// otherwise, and never our service fee).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NoShowTerms {
    fee: Decimal,
    refund: Decimal,
}

/// The terms of `booking` at `provider`, by the provider's policy.
fn terms(booking: &BookingRow, provider: &ProviderRow) -> NoShowTerms {
    let fee = provider.no_show_fee.fee(
        provider.kind,
        booking.provider_price,
        nights(booking, provider),
    );
    let refund = if provider.prepaid {
        booking.provider_price - fee
    } else {
        Decimal::ZERO
    };
    NoShowTerms { fee, refund }
}

/// Nights of a stay: the provider's local dates it spans (a check-in at 14:00 and a
/// check-out at noon two days later are two nights).
fn nights(booking: &BookingRow, provider: &ProviderRow) -> u32 {
    let zone: Tz = provider.timezone.parse().unwrap_or(chrono_tz::Asia::Riyadh);
    let days = (booking.ends_at.with_timezone(&zone).date_naive()
        - booking.starts_at.with_timezone(&zone).date_naive())
    .num_days();
    u32::try_from(days).unwrap_or(0)
}

impl Bookings {
    /// Marks a started, confirmed booking a no-show: its provider's login (other
    /// providers' bookings do not exist for it) or staff, who must say why (audited).
    /// 409 `booking.not_started` before the start, `booking.invalid_state` unless confirmed.
    pub async fn mark_no_show(
        &self,
        actor: Actor,
        key: BookingKey,
        reason: Option<String>,
        answer: Option<IdempotencyClaim>,
    ) -> Result<BookingView, ApiError> {
        let visibility = match actor.role {
            Role::Agent | Role::Admin => Visibility::Everything,
            Role::Provider => Visibility::Provider(
                self.provider_of_user(&actor)
                    .await?
                    .ok_or(ApiError::Forbidden)?,
            ),
            Role::Customer => return Err(ApiError::Forbidden),
        };
        let reason = match reason {
            Some(reason) => reason,
            None if actor.is_staff() => {
                return Err(field("reason", "say why the booking is a no-show"));
            }
            None => "the guest did not come".to_owned(),
        };
        let fees = self.searcher.fees;
        let view = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let found =
                    store::find_visible(conn, key.id, key.reference.as_deref(), visibility)?;
                // Under the booking's lock: of two marks (or a mark and a cancel) one wins.
                let row = locked(conn, &found)?;
                if row.status.next(BookingEvent::NoShow).is_none() {
                    return Err(ApiError::InvalidState {
                        status: row.status.as_str(),
                    });
                }
                if row.starts_at > Utc::now() {
                    return Err(ApiError::Conflict {
                        code: "booking.not_started",
                        detail: format!(
                            "the booking starts at {}; a no-show can be marked only after that",
                            row.starts_at.to_rfc3339()
                        ),
                    });
                }
                let provider = provider_store::find_provider(conn, row.provider_id)?;
                let terms = terms(&row, &provider);
                // The fee first, so the transition's webhook carries it; a transition refused
                // rolls it back with everything else.
                store::insert_no_show(
                    conn,
                    &NoShowRow {
                        booking_id: row.id,
                        fee: terms.fee,
                        marked_by: Some(actor.user_id),
                        marked_at: Utc::now(),
                        waived_at: None,
                        waived_by: None,
                        waiver_reason: None,
                    },
                )?;
                let updated = lifecycle::transition(
                    conn,
                    row.id,
                    &Change {
                        event: BookingEvent::NoShow,
                        actor: Some(&actor),
                        reason: Some(&reason),
                        refund: Refund::ProviderShare(terms.refund),
                        audit_action: "booking.no_show",
                    },
                )?;
                let no_show = store::find_no_shows(conn, &[row.id])?.pop();
                answered(
                    conn,
                    answer.as_ref(),
                    with_no_show(updated, &provider, &fees, no_show),
                )
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(view)
    }

    /// Staff waive a no-show's fee, once, saying why (audited, and in the booking's
    /// history): what of it was paid through us is refunded (agents up to
    /// `billing.staff_refund_limit`, above it 403 `refund.needs_admin`), the provider is
    /// told (`booking.no_show_waived`) and the customer emailed.
    pub async fn waive_no_show_fee(
        &self,
        actor: Actor,
        key: BookingKey,
        reason: String,
        answer: Option<IdempotencyClaim>,
    ) -> Result<BookingView, ApiError> {
        if !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let fees = self.searcher.fees;
        let limit = self.billing.staff_refund_limit;
        let view = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let found = store::find_visible(
                    conn,
                    key.id,
                    key.reference.as_deref(),
                    Visibility::Everything,
                )?;
                let row = locked(conn, &found)?;
                if row.status != BookingStatus::NoShow {
                    return Err(ApiError::InvalidState {
                        status: row.status.as_str(),
                    });
                }
                let no_show =
                    store::find_no_shows(conn, &[row.id])?
                        .pop()
                        .ok_or(ApiError::Conflict {
                            code: "booking.no_fee",
                            detail: "this no-show carries no fee to waive".into(),
                        })?;
                let fee = waivable_fee(&no_show)?;
                let provider = provider_store::find_provider(conn, row.provider_id)?;
                let why = format!("no-show fee of {fee} SAR waived: {reason}");
                let due = if provider.prepaid { fee } else { Decimal::ZERO };
                let refunded = refund_booking_crediting(
                    conn,
                    row.id,
                    |_| due,
                    &format!("booking {} {why}", row.reference),
                    Some(actor.user_id),
                    Some(super::pay::PROVIDER_PRICE),
                )?;
                if actor.role != Role::Admin && refunded > limit {
                    // Rolls the reservation back with the transaction.
                    return Err(ApiError::RefundNeedsAdmin { limit });
                }
                let waived = store::waive_no_show(conn, row.id, actor.user_id, &reason)?
                    .ok_or_else(already_waived)?;
                let updated = store::set_refund_amount(
                    conn,
                    row.id,
                    row.refund_amount.unwrap_or_default() + refunded,
                )?;
                lifecycle::record(
                    conn,
                    &updated,
                    Some(&actor),
                    Some(BookingStatus::NoShow),
                    Some(&why),
                    "booking.no_show_waive",
                )?;
                lifecycle::enqueue_webhook(conn, &updated, "booking.no_show_waived")?;
                lifecycle::enqueue_email(conn, &updated, BookingEmail::NoShowWaived)?;
                let view = with_no_show(updated, &provider, &fees, Some(waived));
                answered(conn, answer.as_ref(), view)
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(view)
    }
}

/// The booking named by `found`, read again under its row lock.
fn locked(conn: &mut PgConnection, found: &BookingRow) -> Result<BookingRow, ApiError> {
    Ok(bookings::table
        .find(found.id)
        .for_no_key_update()
        .select(BookingRow::as_select())
        .first(conn)?)
}

/// A booking's view with its no-show.
fn with_no_show(
    row: BookingRow,
    provider: &ProviderRow,
    fees: &FeePolicy,
    no_show: Option<NoShowRow>,
) -> BookingView {
    let mut view = view(row, provider, fees, None);
    view.no_show = no_show.map(Into::into);
    view
}

fn already_waived() -> ApiError {
    ApiError::Conflict {
        code: "booking.fee_waived",
        detail: "this no-show's fee was already waived".into(),
    }
}

/// The fee a waiver would forgive: not yet waived, and more than nothing.
fn waivable_fee(no_show: &NoShowRow) -> Result<Decimal, ApiError> {
    if no_show.waived_at.is_some() {
        return Err(already_waived());
    }
    if no_show.fee <= Decimal::ZERO {
        return Err(ApiError::Conflict {
            code: "booking.no_fee",
            detail: "this no-show carries no fee to waive".into(),
        });
    }
    Ok(no_show.fee)
}
