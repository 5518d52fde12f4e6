//! Changing a booking in one step (`POST /v1/bookings/{booking}/change`, #15 point 1): a new
//! offer of the same provider (other dates, room type or service, rooms, guests) replaces
//! the booking's terms, all or nothing.
//!
//! 1. **Decide** (one transaction, under the booking's lock): the booking is live and, when
//!    `If-Match` names a version, still that version; the offer is the same provider's and
//!    its price still holds; the provider's change policy allows it now (a paid booking pays
//!    its fee); what the change charges or gives back. The change is claimed (one open change
//!    per booking). Our own inventory with nothing to charge is applied right there.
//! 2. **Claim at the provider** (outside providers): the new Slot or events are taken beside
//!    the booking's current ones, so nothing is given up before the new is had.
//! 3. **Pay the rise** (when the price went up on a paid booking): a payment of its own,
//!    charged to the card that paid the booking. Its settlement applies the change (or, if
//!    the booking moved on meanwhile, refunds it in full), like paying a hold.
//! 4. **Apply** through `lifecycle::change_terms`; the provider's side is finished by the
//!    `settle_change_at_provider` job (reschedule the Appointment and free the old Slot;
//!    delete the old events). A change that fails gives back what it claimed.

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::change_store::{self, ChangeRow, NewChange, Terms, Unchangeable};
use super::lifecycle;
use super::pay::PayAnswer;
use super::prepare::{CellCheck, bookable_provider, price_now};
use super::service::{BookingKey, Bookings, field, full_view, payer_visibility};
use super::state::BookingStatus;
use super::store::{self, BookingRow};
use crate::billing::gateway::PaymentGateway;
use crate::billing::ledger::Account;
use crate::billing::money::{ChargeLine, totals};
use crate::billing::payments::{self, NewPayment, PaymentAnswer, PaymentRow, PaymentStatus};
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::domain::money::{FeePolicy, round_sar};
use crate::error::ApiError;
use crate::idempotency::IdempotencyClaim;

use crate::providers::adapter::{Adapter, AdapterError};
use crate::providers::model::{BookingRequest, ProviderRef, RoomRequest};
use crate::providers::offer::OfferClaims;
use crate::providers::rates::RoomLine;
use crate::providers::store::{self as provider_store, ProviderRow, UnitRow};
use crate::schema::{bookings, payments as payment_table};

/// A change as asked for.
#[derive(Debug, Clone)]
pub struct ChangeInput {
    pub offer_id: String,
    /// For a hotel: the guests of the new stay (default: the offer's, else the booking's).
    pub guests: Option<u32>,
    pub reason: Option<String>,
    /// The booking's ETag the client read (`If-Match`); the change applies only to it.
    pub if_match: Option<String>,
}

/// A booking's ETag: its last change (`updated_at`), which every write moves.
pub fn etag(booking_updated_at: DateTime<Utc>) -> String {
    format!("\"{}\"", booking_updated_at.timestamp_micros())
}

/// Whether an `If-Match` value names this version (`*` names any).
fn matches(if_match: &str, current: &str) -> bool {
    if_match
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == current)
}

/// What deciding a change came to.
enum Decided {
    /// Our own inventory with nothing to charge: applied in the deciding transaction.
    Applied(PayAnswer),
    /// Claimed: the outside provider must claim the new terms, or the rise be paid, first.
    Claimed(Box<Claimed>),
    /// The provider's price moved since the offer: 409 with the fresh offer.
    PriceMoved(Box<(ProviderRow, Option<UnitRow>, Decimal, Vec<RoomLine>)>),
}

struct Claimed {
    change: ChangeRow,
    terms: Terms,
    booking: BookingRow,
    provider: ProviderRow,
    /// What the rise charges, with the card that paid the booking.
    rise: Option<(Vec<ChargeLine>, Uuid)>,
}

/// What of the booking's settings deciding needs, taken onto a blocking thread.
#[derive(Clone, Copy)]
struct Pricing {
    fees: FeePolicy,
    vat_rate: Decimal,
}

impl Bookings {
    /// Changes a held, pending or confirmed booking to the terms of `input.offer_id` (see the
    /// module's opening for the steps). Answers 200 with `{booking, change, payment}`, 202
    /// when a rise's payment waits for a 3-D Secure step, 402 when the rise is declined, and
    /// 409 when the new terms cannot be had (the booking is untouched).
    #[tracing::instrument(skip_all, fields(user_id = %actor.user_id))]
    pub async fn change(
        &self,
        actor: Actor,
        key: BookingKey,
        input: ChangeInput,
        claim: Option<IdempotencyClaim>,
    ) -> Result<PayAnswer, ApiError> {
        let claims = self.verify_offer(&input.offer_id)?;
        let visibility = payer_visibility(&actor)?;
        let pricing = Pricing {
            fees: self.searcher.fees,
            vat_rate: self.billing.vat_rate,
        };
        let decided = {
            let (actor, claim, claims) = (actor.clone(), claim.clone(), claims.clone());
            run_blocking(&self.pool, move |conn| {
                conn.transaction(|conn| {
                    let booking =
                        store::find_visible(conn, key.id, key.reference.as_deref(), visibility)?;
                    super::uncertain::refuse_unconfirmed(conn, booking.id)?;
                    decide(
                        conn,
                        booking.id,
                        &claims,
                        &input,
                        &actor,
                        pricing,
                        claim.as_ref(),
                    )
                })
            })
            .await?
        };
        self.wake.notify_waiters();
        let claimed = match decided {
            Decided::Applied(answer) => return Ok(answer),
            Decided::PriceMoved(moved) => {
                let (provider, unit, price, rooms) = *moved;
                let priced = (price, claims.fee_discount);
                return Err(self.offer_changed(&provider, unit.as_ref(), priced, rooms, &claims));
            }
            Decided::Claimed(claimed) => *claimed,
        };
        let Claimed {
            change,
            terms,
            booking,
            provider,
            rise,
        } = claimed;
        if let Some(current) = &terms.previous_ref {
            self.claim_at_provider(&change, &terms, &booking, &provider, current)
                .await?;
        }
        match rise {
            Some((lines, method_id)) => {
                self.pay_rise(actor, &change, &booking, lines, method_id, claim)
                    .await
            }
            None => self.apply_claimed(actor, change.id, claim).await,
        }
    }

    /// Step 2: the outside provider claims the new terms beside the booking's current copy.
    /// On failure the change is closed (and anything the provider may have taken is given
    /// back by the job) and the booking is untouched.
    async fn claim_at_provider(
        &self,
        change: &ChangeRow,
        terms: &Terms,
        booking: &BookingRow,
        provider: &ProviderRow,
        current: &str,
    ) -> Result<(), ApiError> {
        let claimed = match Adapter::for_provider(provider, &self.searcher.clients) {
            Ok(adapter) => {
                adapter
                    .claim_change(
                        &ProviderRef(current.to_owned()),
                        &provider_request(booking, terms),
                        &change.tag(),
                    )
                    .await
            }
            Err(misconfigured) => Err(misconfigured),
        };
        let change_id = change.id;
        match claimed {
            Ok(new_ref) => {
                run_blocking(&self.pool, move |conn| {
                    Ok(change_store::set_provider_ref(conn, change_id, &new_ref.0)?)
                })
                .await
            }
            Err(error) => {
                let why = format!(
                    "the provider could not take the new terms: {}",
                    error.reason()
                );
                // A call that ended without an answer may still have claimed something.
                let uncertain = !matches!(error, AdapterError::SoldOut | AdapterError::Rejected(_));
                run_blocking(&self.pool, move |conn| {
                    conn.transaction(|conn| fail(conn, change_id, &why, uncertain))
                })
                .await?;
                self.wake.notify_waiters();
                Err(match error {
                    AdapterError::SoldOut => ApiError::SoldOut,
                    AdapterError::Timeout(_)
                    | AdapterError::NoAnswer(_)
                    | AdapterError::Unavailable(_)
                    | AdapterError::Refused(_) => {
                        ApiError::Unavailable(anyhow::anyhow!("provider: {error}"))
                    }
                    other => ApiError::internal(anyhow::anyhow!("provider: {other}")),
                })
            }
        }
    }

    /// Step 4 with nothing to charge: applies the claimed change, or fails it (and gives back
    /// what the provider claimed) when the booking moved on meanwhile.
    async fn apply_claimed(
        &self,
        actor: Actor,
        change_id: Uuid,
        claim: Option<IdempotencyClaim>,
    ) -> Result<PayAnswer, ApiError> {
        let fees = self.searcher.fees;
        let outcome = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| match apply(conn, change_id, Some(&actor))? {
                Ok(booking) => {
                    answer(conn, claim.as_ref(), booking, change_id, &fees, None).map(Ok)
                }
                Err(why) => {
                    fail(conn, change_id, why.reason(), true)?;
                    Ok(Err(why))
                }
            })
        })
        .await?;
        self.wake.notify_waiters();
        outcome.map_err(refusal)
    }

    /// Step 3: the rise is charged to the card that paid the booking; the payment's
    /// settlement applies the change (`PaymentHooks::change_paid`) in its transaction.
    async fn pay_rise(
        &self,
        actor: Actor,
        change: &ChangeRow,
        booking: &BookingRow,
        lines: Vec<ChargeLine>,
        method_id: Uuid,
        claim: Option<IdempotencyClaim>,
    ) -> Result<PayAnswer, ApiError> {
        let gateway = self.billing.gateway.name();
        let (change_id, booking_id, customer_id) = (change.id, booking.id, booking.customer_id);
        let payer = actor.clone();
        let payment: PaymentRow = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let method = crate::billing::methods::find(conn, method_id)?;
                Ok(payments::insert(
                    conn,
                    &NewPayment {
                        package_id: None,
                        customer_id,
                        purpose: "booking_change",
                        booking_id: Some(booking_id),
                        booking_change_id: Some(change_id),
                        subscription_id: None,
                        period_start: None,
                        lines,
                        method,
                        gateway,
                        created_by: payer.is_staff().then_some(payer.user_id),
                    },
                )?)
            })
        })
        .await?;
        let outcome = self
            .billing
            .charge(&payment, true, &format!("{} change", booking.reference))
            .await?;
        let fees = self.searcher.fees;
        let settled: PaymentAnswer = Box::new(move |conn, paid| {
            let change = change_store::find(conn, change_id)?;
            let applied = change.status == "applied";
            if !(applied || paid.status == PaymentStatus::RequiresAction) {
                return Ok(None); // declined, or applied no more: answered below
            }
            let booking: BookingRow = bookings::table
                .find(booking_id)
                .select(BookingRow::as_select())
                .first(conn)?;
            answer(conn, claim.as_ref(), booking, change_id, &fees, Some(paid))
                .map(|a| Some(a.body))
        });
        let (applied, body) = self
            .billing
            .apply_outcome_answered(payment.id, outcome, Some(actor), Some(settled))
            .await?;
        match (applied.status, body) {
            (PaymentStatus::Succeeded, Some(body)) => Ok(PayAnswer {
                status: StatusCode::OK,
                body,
            }),
            (PaymentStatus::RequiresAction, Some(body)) => Ok(PayAnswer {
                status: StatusCode::ACCEPTED,
                body,
            }),
            (PaymentStatus::Succeeded, None) => {
                // Paid, but the booking moved on first: the payment is being refunded.
                let change = run_blocking(&self.pool, move |conn| {
                    Ok(change_store::find(conn, change_id)?)
                })
                .await?;
                Err(ApiError::Conflict {
                    code: "booking.change_failed",
                    detail: format!(
                        "the change could not be made ({}); its payment is refunded in full",
                        change.failure.unwrap_or_default()
                    ),
                })
            }
            _ => Err(applied.declined()),
        }
    }

    /// Job: the outside provider's side of a closed change. Applied: the booking's copy moves
    /// onto what the change claimed and the old is given back. Failed: what the change
    /// claimed is given back. Safe to repeat.
    pub async fn settle_change_at_provider(&self, change_id: Uuid) -> Result<(), ApiError> {
        let (change, booking, provider) = run_blocking(&self.pool, move |conn| {
            let change = change_store::find(conn, change_id)?;
            let booking: BookingRow = bookings::table
                .find(change.booking_id)
                .select(BookingRow::as_select())
                .first(conn)?;
            let provider = provider_store::find_provider(conn, booking.provider_id)?;
            Ok((change, booking, provider))
        })
        .await?;
        let terms = change.terms()?;
        let Some(previous) = terms.previous_ref.clone().map(ProviderRef) else {
            return Ok(());
        };
        let adapter = Adapter::for_provider(&provider, &self.searcher.clients)
            .map_err(|e| ApiError::Unavailable(anyhow::anyhow!("provider {}: {e}", provider.id)))?;
        let request = provider_request(&booking, &terms);
        let done = match (change.status.as_str(), &change.provider_ref) {
            ("applied", _) => adapter.finish_change(&previous, &request).await,
            ("failed", Some(claimed)) => {
                adapter
                    .abandon_change(&previous, &ProviderRef(claimed.clone()), &request)
                    .await
            }
            // Failed with no handle: the claim ended without a refusal (no answer, a 5xx),
            // which queues this job (`fail(.., uncertain)`): it may have taken something all
            // the same, found again under our reference.
            ("failed", None) => {
                adapter
                    .abandon_unanswered_change(&previous, &request, &change.tag())
                    .await
            }
            // Still open: its outcome settles it.
            _ => Ok(()),
        };
        done.map_err(|e| ApiError::Unavailable(anyhow::anyhow!("provider {}: {e}", provider.id)))
    }
}

/// Step 1, under the booking's lock: the checks, the new terms and their money, the claim.
fn decide(
    conn: &mut PgConnection,
    booking_id: Uuid,
    claims: &OfferClaims,
    input: &ChangeInput,
    actor: &Actor,
    pricing: Pricing,
    claim: Option<&IdempotencyClaim>,
) -> Result<Decided, ApiError> {
    let booking: BookingRow = bookings::table
        .find(booking_id)
        .for_no_key_update()
        .select(BookingRow::as_select())
        .first(conn)?;
    if let Some(if_match) = &input.if_match
        && !matches(if_match, &etag(booking.updated_at))
    {
        return Err(ApiError::PreconditionFailed);
    }
    check_changeable(&booking)?;
    refuse_open_payment(conn, booking.id)?;
    if claims.provider_id != booking.provider_id {
        return Err(field(
            "offer_id",
            "must be an offer of the booking's provider",
        ));
    }
    let guests = input
        .guests
        .or(claims.guests)
        .map(|g| i32::try_from(g).unwrap_or(i32::MAX))
        .or(booking.guests);
    let quantity = i32::try_from(claims.quantity).unwrap_or(i32::MAX);
    if claims.unit_code == booking.unit_code
        && claims.start == booking.starts_at
        && claims.end == booking.ends_at
        && quantity == booking.quantity
        && claims.slot_ref == booking.slot_ref
        && guests == booking.guests
    {
        return Err(field("offer_id", "is what the booking already holds"));
    }
    let (provider, timezone) = bookable_provider(conn, claims)?;
    let paid = crate::billing::refunds::refundable(conn, booking.id)?;
    // A hold has sold nothing yet: it changes free. A booking sent on pays the provider's fee.
    let fee = if booking.status == BookingStatus::Held {
        Decimal::ZERO
    } else {
        crate::providers::policy::change_of(&provider)
            .fee(booking.provider_price, booking.starts_at, Utc::now())
            .ok_or_else(|| ApiError::Conflict {
                code: "booking.change_closed",
                detail: "the provider's change policy no longer allows changing this booking; \
                         cancel it instead"
                    .into(),
            })?
    };
    let priced = price_now(conn, &provider, claims, guests, timezone, CellCheck::Skip)?;
    let price_then = pricing
        .fees
        .quote_with_discount(priced.provider_price, claims.fee_discount);
    if price_then.total() != claims.total {
        return Ok(Decided::PriceMoved(Box::new((
            provider,
            priced.unit,
            priced.provider_price,
            priced.rooms,
        ))));
    }
    let discount = crate::billing::subscriptions::fee_discount(conn, booking.customer_id)?;
    let quote = pricing
        .fees
        .quote_with_discount(priced.provider_price, discount);
    // Money moves only on a booking paid through us; the fee only where we collect the
    // provider's price.
    let fee = if paid > Decimal::ZERO && provider.prepaid {
        fee
    } else {
        Decimal::ZERO
    };
    let (rise, refund) = if paid > Decimal::ZERO {
        money_of(&booking, &quote, fee, provider.prepaid, pricing.vat_rate)
    } else {
        (Vec::new(), Decimal::ZERO)
    };
    let (unit_name_ar, unit_name_en) = match &priced.unit {
        Some(unit) => (unit.name_ar.clone(), unit.name_en.clone()),
        None => (claims.unit_name_ar.clone(), claims.unit_name_en.clone()),
    };
    let terms = Terms {
        unit_id: priced.unit.as_ref().map(|u| u.id),
        unit_code: claims.unit_code.clone(),
        unit_name_ar,
        unit_name_en,
        slot_ref: claims.slot_ref.clone(),
        starts_at: claims.start,
        ends_at: claims.end,
        quantity,
        guests,
        provider_price: quote.provider_price,
        service_fee: quote.service_fee,
        fee_discount: quote.fee_discount,
        vat: quote.vat,
        total: quote.total(),
        cells: priced.cells,
        rooms: priced
            .rooms
            .iter()
            .map(|line| crate::domain::occupancy::RoomGuests {
                adults: line.adults,
                children: line.children.clone(),
            })
            .collect(),
        status: booking.status,
        refund: refund.min(paid),
        previous_ref: booking.provider_ref.clone(),
        reason: input.reason.clone(),
    };
    let charged = totals(&rise).2;
    let (change, abandoned) = change_store::open(
        conn,
        &NewChange {
            booking_id: booking.id,
            decided_on: booking.updated_at,
            terms: &terms,
            change_fee: fee,
            difference: charged - terms.refund,
            requested_by: Some(actor.user_id),
        },
    )?;
    for stale in abandoned {
        fail_followups(conn, &stale)?;
    }
    let rise = if rise.is_empty() {
        None
    } else {
        Some((rise, card_that_paid(conn, booking.id)?))
    };
    if rise.is_some() && !store::swap_cells(conn, &booking, &terms, store::Swap::Try)? {
        // Found before charging anything (the swap tried and rolled back): the swap after
        // payment would fail the same way.
        return Err(refusal(Unchangeable::SoldOut));
    }
    if terms.unit_id.is_some() && rise.is_none() {
        // Our own inventory, nothing to charge: all of it now, or none of it.
        let booking = match lifecycle::change_terms(conn, &booking, &change, &terms, Some(actor))? {
            Ok(updated) => updated,
            Err(why) => return Err(refusal(why)),
        };
        change_store::close(conn, change.id, Ok(()))?;
        let fees = pricing.fees;
        return answer(conn, claim, booking, change.id, &fees, None).map(Decided::Applied);
    }
    Ok(Decided::Claimed(Box::new(Claimed {
        change,
        terms,
        booking,
        provider,
        rise,
    })))
}

/// A payment of the booking still under way (a hold being paid, a rise at the bank) would
/// settle the old price: the booking changes once it is settled.
fn refuse_open_payment(conn: &mut PgConnection, booking_id: Uuid) -> Result<(), ApiError> {
    let open: i64 = payment_table::table
        .filter(payment_table::booking_id.eq(booking_id))
        .filter(payment_table::status.eq_any([
            PaymentStatus::Processing.as_str(),
            PaymentStatus::RequiresAction.as_str(),
        ]))
        .count()
        .get_result(conn)?;
    if open > 0 {
        return Err(ApiError::Conflict {
            code: "payment.in_progress",
            detail: "a payment of this booking is under way; change it once it is settled".into(),
        });
    }
    Ok(())
}

/// A booking that can change: held (and not yet expired), pending or confirmed.
fn check_changeable(booking: &BookingRow) -> Result<(), ApiError> {
    match booking.status {
        BookingStatus::Held if booking.hold_expires_at.is_some_and(|at| at <= Utc::now()) => {
            Err(ApiError::InvalidState { status: "expired" })
        }
        BookingStatus::Held | BookingStatus::Pending | BookingStatus::Confirmed => Ok(()),
        other => Err(ApiError::InvalidState {
            status: other.as_str(),
        }),
    }
}

/// What a change of a paid booking charges (lines of the rise: the provider's price, our
/// fee, the provider's change fee) and gives back (what fell, with VAT). Each part moves on
/// its own, so a price that rose while our fee fell charges one and refunds the other.
fn money_of(
    booking: &BookingRow,
    quote: &crate::domain::money::Quote,
    fee: Decimal,
    prepaid: bool,
    vat_rate: Decimal,
) -> (Vec<ChargeLine>, Decimal) {
    let mut rise = Vec::new();
    let mut refund = Decimal::ZERO;
    let provider_delta = if prepaid {
        quote.provider_price - booking.provider_price
    } else {
        Decimal::ZERO
    };
    let fee_delta = quote.service_fee - booking.service_fee;
    if provider_delta > Decimal::ZERO {
        rise.push(ChargeLine::new(
            "provider_price",
            (
                "فرق سعر مقدم الخدمة (محصّل نيابة عنه)",
                "Provider price difference (collected on its behalf)",
            ),
            Account::ProviderPayable,
            provider_delta,
            Decimal::ZERO,
        ));
    } else {
        refund -= provider_delta;
    }
    if fee_delta > Decimal::ZERO {
        rise.push(ChargeLine::new(
            "service_fee",
            ("فرق رسوم الخدمة", "Service fee difference"),
            Account::FeeRevenue,
            fee_delta,
            vat_rate,
        ));
    } else if fee_delta < Decimal::ZERO {
        refund += round_sar(-fee_delta * (Decimal::ONE + vat_rate));
    }
    if fee > Decimal::ZERO {
        rise.push(ChargeLine::new(
            "change_fee",
            (
                "رسوم تعديل الحجز (لمقدم الخدمة)",
                "Change fee (the provider's)",
            ),
            Account::ProviderPayable,
            fee,
            Decimal::ZERO,
        ));
    }
    // A fee owed while the price fell comes out of the refund instead of a charge.
    let owed: Decimal = rise.iter().map(ChargeLine::gross).sum();
    if owed > Decimal::ZERO && refund > Decimal::ZERO {
        let offset = owed.min(refund);
        refund -= offset;
        if offset == owed {
            rise.clear();
        } else {
            return (
                vec![ChargeLine::new(
                    "change_difference",
                    ("فرق تعديل الحجز", "Change difference"),
                    Account::ProviderPayable,
                    owed - offset,
                    Decimal::ZERO,
                )],
                Decimal::ZERO,
            );
        }
    }
    (rise, refund)
}

/// The card of the booking's own payment, which pays its changes too.
fn card_that_paid(conn: &mut PgConnection, booking_id: Uuid) -> Result<Uuid, ApiError> {
    payment_table::table
        .filter(payment_table::booking_id.eq(booking_id))
        .filter(payment_table::purpose.eq("booking"))
        .filter(payment_table::status.eq(PaymentStatus::Succeeded.as_str()))
        .select(payment_table::payment_method_id)
        .first::<Option<Uuid>>(conn)
        .optional()?
        .flatten()
        .ok_or_else(|| ApiError::Conflict {
            code: "booking.change_needs_payment",
            detail: "the change costs more, and the booking has no card on record to charge".into(),
        })
}

/// Step 4: applies an open change to its booking, in the caller's transaction; `Ok(Err(why))`
/// when it no longer can (the booking ended or moved on, the new inventory went): nothing is
/// written then, and the caller fails the change.
pub(super) fn apply(
    conn: &mut PgConnection,
    change_id: Uuid,
    actor: Option<&Actor>,
) -> Result<Result<BookingRow, Unchangeable>, ApiError> {
    let booking_id: Uuid = crate::schema::booking_changes::table
        .find(change_id)
        .select(crate::schema::booking_changes::booking_id)
        .first(conn)?;
    let booking: BookingRow = bookings::table
        .find(booking_id)
        .for_no_key_update()
        .select(BookingRow::as_select())
        .first(conn)?;
    let change = change_store::lock(conn, change_id)?;
    if !change.is_open() {
        return Ok(Err(Unchangeable::Closed));
    }
    let terms = change.terms()?;
    if booking.status != terms.status || check_changeable(&booking).is_err() {
        return Ok(Err(Unchangeable::MovedOn));
    }
    let applied = lifecycle::change_terms(conn, &booking, &change, &terms, actor)?;
    if applied.is_ok() {
        change_store::close(conn, change_id, Ok(()))?;
    }
    Ok(applied)
}

/// Closes an open change as failed; what an outside provider claimed (or may have, when
/// `uncertain`) is given back by the job.
pub(super) fn fail(
    conn: &mut PgConnection,
    change_id: Uuid,
    why: &str,
    uncertain: bool,
) -> Result<(), ApiError> {
    if change_store::close(conn, change_id, Err(why))? {
        let change = change_store::find(conn, change_id)?;
        if change.provider_ref.is_some() || uncertain {
            fail_followups(conn, &change)?;
        }
    }
    Ok(())
}

/// A failed change that may hold something at an outside provider: the job gives it back.
fn fail_followups(conn: &mut PgConnection, change: &ChangeRow) -> Result<(), ApiError> {
    if change.terms()?.previous_ref.is_some() {
        lifecycle::enqueue_settle_at_provider(conn, change.id)?;
    }
    Ok(())
}

/// 409 for a change that could not be made: sold out, or the booking moved on.
fn refusal(why: Unchangeable) -> ApiError {
    if why == Unchangeable::SoldOut {
        crate::providers::answer_cache::inventory_changed();
        ApiError::SoldOut
    } else {
        ApiError::Conflict {
            code: "booking.change_failed",
            detail: format!("the change could not be made: {}", why.reason()),
        }
    }
}

/// The answer to a change, saved under its Idempotency-Key in the transaction that made it.
fn answer(
    conn: &mut PgConnection,
    claim: Option<&IdempotencyClaim>,
    booking: BookingRow,
    change_id: Uuid,
    fees: &FeePolicy,
    payment: Option<&payments::PaymentView>,
) -> Result<PayAnswer, ApiError> {
    let change = change_store::find(conn, change_id)?;
    let body = serde_json::json!({
        "booking": full_view(conn, booking, fees)?,
        "change": {
            "id": change.id,
            "status": change.status,
            "change_fee": change.change_fee.to_string(),
            "difference": change.difference.to_string(),
        },
        "payment": payment,
    });
    let status = match payment.map(|p| p.status) {
        Some(PaymentStatus::RequiresAction) => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    if let Some(claim) = claim {
        claim.save_in(conn, status, &body)?;
    }
    Ok(PayAnswer { status, body })
}

/// The booking as an outside provider is asked to hold it under the new terms.
fn provider_request(booking: &BookingRow, terms: &Terms) -> BookingRequest {
    BookingRequest {
        reference: booking.reference.clone(),
        unit_code: terms.unit_code.clone(),
        slot_ref: terms.slot_ref.clone(),
        start: terms.starts_at,
        end: terms.ends_at,
        quantity: u32::try_from(terms.quantity).unwrap_or(0),
        guest_name: booking.contact_name.clone(),
        guest_phone: booking.contact_phone.clone(),
        guest_email: booking.contact_email.clone(),
        // The provider keeps the patient it was given: a FHIR Appointment is rescheduled
        // in place, its Patient participant with it.
        patient: None,
        rooms: terms
            .rooms
            .iter()
            .map(|guests| RoomRequest {
                lead_guest: booking.contact_name.clone(),
                adults: guests.adults,
                children: guests.children.clone(),
            })
            .collect(),
    }
}
