//! Paying for a booking: the lines it charges (our fee with VAT, and the provider's price
//! when the provider is prepaid), the payment through the gateway, and the booking handed
//! on to its provider once the money is captured. Billing moves the money; the booking's
//! side of it (the hand-on, or a refund when the hold ended first) is `PaymentHooks`.

use actix_web::http::StatusCode;
use chrono::Utc;
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::lifecycle::{self, Change, Refund};
use super::service::{BookingKey, Bookings};
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingRow};
use crate::billing::gateway::PaymentGateway;
use crate::billing::ledger::Account;
use crate::billing::methods::{self, Method};
use crate::billing::money::{ChargeLine, totals};
use crate::billing::payments::{self, BookingHooks, NewPayment, PaymentStatus, PaymentView};
use crate::customers::service::find_customer;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::domain::money::FeePolicy;
use crate::error::ApiError;
use crate::idempotency::IdempotencyClaim;
use crate::providers::store as provider_store;
use crate::schema::bookings;

/// The code of the charge line of the provider's price: a no-show's refunds credit it first.
pub const PROVIDER_PRICE: &str = "provider_price";

/// The lines a booking's payment charges: the provider's price when that provider is
/// prepaid (collected on its behalf, outside our VAT), and our fee with VAT.
pub fn booking_lines(booking: &BookingRow, prepaid: bool, vat_rate: Decimal) -> Vec<ChargeLine> {
    let mut lines = Vec::new();
    if prepaid && booking.provider_price > Decimal::ZERO {
        lines.push(ChargeLine::new(
            PROVIDER_PRICE,
            (
                "سعر مقدم الخدمة (محصّل نيابة عنه)",
                "Provider price (collected on its behalf)",
            ),
            Account::ProviderPayable,
            booking.provider_price,
            Decimal::ZERO,
        ));
    }
    if booking.service_fee > Decimal::ZERO {
        lines.push(ChargeLine::new(
            "service_fee",
            ("رسوم الخدمة", "Service fee"),
            Account::FeeRevenue,
            booking.service_fee,
            vat_rate,
        ));
    }
    lines
}

/// What paying for a booking charges now: the sum of its [`booking_lines`].
pub fn due_now(booking: &BookingRow, prepaid: bool, vat_rate: Decimal) -> Decimal {
    totals(&booking_lines(booking, prepaid, vat_rate)).2
}

/// What paying answers: 200 when paid (or nothing was due: the booking is `pending`), 202
/// when the customer must first pass a 3-D Secure step at the payment's `action_url`; the
/// body is `{"payment": …, "booking": …}` as saved for the request's Idempotency-Key.
pub struct PayAnswer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl PayAnswer {
    /// The gateway's settled answer as the route's: 200 paid, 202 with a 3-D Secure step,
    /// else the decline's 402.
    pub fn settled(
        applied: PaymentView,
        body: Option<serde_json::Value>,
    ) -> Result<Self, ApiError> {
        match (applied.status, body) {
            (PaymentStatus::Succeeded, Some(body)) => Ok(Self {
                status: StatusCode::OK,
                body,
            }),
            (PaymentStatus::RequiresAction, Some(body)) => Ok(Self {
                status: StatusCode::ACCEPTED,
                body,
            }),
            _ => Err(applied.declined()),
        }
    }
}

impl Bookings {
    /// Pays a held booking with the chosen card. Staff may pay for any booking (a card
    /// read out on the phone); a customer only for their own.
    #[tracing::instrument(skip_all, fields(user_id = %actor.user_id, booking = ?key))]
    pub async fn pay(
        &self,
        actor: Actor,
        key: BookingKey,
        method: Method,
        claim: Option<IdempotencyClaim>,
    ) -> Result<PayAnswer, ApiError> {
        let visibility = super::service::payer_visibility(&actor)?;
        let booking = run_blocking(&self.pool, move |conn| {
            Ok(store::find_visible(
                conn,
                key.id,
                key.reference.as_deref(),
                visibility,
            )?)
        })
        .await?;
        let by = Payer {
            actor: Some(actor),
            link: None,
        };
        self.pay_held(booking, by, method, claim).await
    }

    /// Pays `booking` (read without a lock; `start_payment` checks it again under one):
    /// the card resolved for the booking's customer, the payment written, charged, and its
    /// outcome applied with the request's answer.
    pub(super) async fn pay_held(
        &self,
        booking: BookingRow,
        by: Payer,
        method: Method,
        claim: Option<IdempotencyClaim>,
    ) -> Result<PayAnswer, ApiError> {
        let customer_id = booking.customer_id;
        let customer =
            run_blocking(&self.pool, move |conn| find_customer(conn, customer_id)).await?;
        check_payable(&booking)?;
        let method = methods::resolve(&self.pool, &self.billing.gateway, &customer, method).await?;

        let terms = PaymentTerms {
            gateway: self.billing.gateway.name(),
            vat_rate: self.billing.vat_rate,
        };
        let fees = self.searcher.fees;
        let (booking_id, payer, nothing_due) = (booking.id, by.clone(), claim.clone());
        let started = run_blocking(&self.pool, move |conn| {
            conn.transaction(
                |conn| match start_payment(conn, booking_id, &payer, method, terms)? {
                    Some(payment) => Ok(Err(payment)),
                    // Nothing due: handed on already; the answer commits with it.
                    None => answer(conn, nothing_due.as_ref(), booking_id, &fees, None).map(Ok),
                },
            )
        })
        .await?;
        let payment = match started {
            Ok(done) => {
                self.wake.notify_waiters();
                return Ok(done);
            }
            Err(payment) => payment,
        };
        let return_url = by.link.as_ref().map_or_else(
            || self.billing.return_url.clone(),
            |link| link.return_url.clone(),
        );
        let outcome = self
            .billing
            .charge_returning(&payment, false, &booking.reference, &return_url)
            .await?;
        let settled: payments::PaymentAnswer = Box::new(move |conn, paid| {
            if !matches!(
                paid.status,
                PaymentStatus::Succeeded | PaymentStatus::RequiresAction
            ) {
                return Ok(None); // declined: the request answers 402 on its own
            }
            answer(conn, claim.as_ref(), booking_id, &fees, Some(paid)).map(|a| Some(a.body))
        });
        let (applied, body) = self
            .billing
            .apply_outcome_answered(payment.id, outcome, by.actor, Some(settled))
            .await?;
        PayAnswer::settled(applied, body)
    }
}

/// Who pays: a signed-in customer or staff (`actor`), or the client on a pay link (`link`:
/// no session, the payment the customer's own, the link used up when it succeeds).
#[derive(Clone)]
pub(super) struct Payer {
    pub actor: Option<Actor>,
    pub link: Option<super::pay_links::PayingLink>,
}

/// The answer to a payment request, built and saved under its Idempotency-Key in the
/// transaction that made the payment's outcome (or handed on a booking with nothing due).
fn answer(
    conn: &mut PgConnection,
    claim: Option<&IdempotencyClaim>,
    booking_id: Uuid,
    fees: &FeePolicy,
    payment: Option<&PaymentView>,
) -> Result<PayAnswer, ApiError> {
    let row: BookingRow = bookings::table
        .find(booking_id)
        .select(BookingRow::as_select())
        .first(conn)?;
    let body = serde_json::json!({
        "payment": payment,
        "booking": super::service::full_view(conn, row, fees)?,
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

/// What a booking's payment row needs from billing's settings.
#[derive(Clone, Copy)]
struct PaymentTerms {
    gateway: &'static str,
    vat_rate: Decimal,
}

/// Under the booking's lock: re-checks it is payable and within the customer's plan
/// allowance, then writes the `processing` payment (audited when staff take the card).
/// `None` when nothing is due (a waived fee at a provider paid on site): the booking goes
/// straight on to its provider.
fn start_payment(
    conn: &mut PgConnection,
    booking_id: Uuid,
    payer: &Payer,
    method: methods::MethodRow,
    terms: PaymentTerms,
) -> Result<Option<payments::PaymentRow>, ApiError> {
    let booking: BookingRow = bookings::table
        .find(booking_id)
        .for_no_key_update()
        .select(BookingRow::as_select())
        .first(conn)?;
    check_payable(&booking)?;
    super::uncertain::refuse_unconfirmed(conn, booking.id)?;
    super::consent::refuse_pending(conn, booking.id)?;
    if let Some(link) = &payer.link {
        super::pay_links::refuse_unusable(conn, link, &booking)?;
    }
    let staff = payer.actor.as_ref().filter(|a| a.is_staff());
    let provider = provider_store::find_provider(conn, booking.provider_id)?;
    let lines = booking_lines(&booking, provider.prepaid, terms.vat_rate);
    let subscription = crate::billing::subscriptions::charge_allowance(conn, booking.customer_id)?;
    if lines.is_empty() {
        submit(conn, &booking, payer.actor.as_ref(), "nothing to pay")?;
        return Ok(None);
    }
    let row = payments::insert(
        conn,
        &NewPayment {
            package_id: None,
            customer_id: booking.customer_id,
            purpose: "booking",
            booking_id: Some(booking.id),
            booking_change_id: None,
            subscription_id: subscription,
            period_start: None,
            lines,
            method,
            gateway: terms.gateway,
            created_by: staff.map(|s| s.user_id),
        },
    )?;
    if let Some(payer) = staff {
        // A card taken on the phone: on the record, against the client.
        crate::audit::record(
            conn,
            &crate::audit::AuditEntry {
                actor_id: payer.user_id,
                actor_role: payer.role,
                on_behalf_of: Some(booking.customer_id),
                action: "payment.take",
                entity_type: "booking",
                entity_id: booking.reference.clone(),
                request_id: payer.request_id.clone(),
                details: serde_json::json!({
                    "payment_id": row.id,
                    "amount": row.amount.to_string(),
                }),
            },
        )?;
    }
    Ok(Some(row))
}

fn check_payable(booking: &BookingRow) -> Result<(), ApiError> {
    if booking.status != BookingStatus::Held {
        return Err(ApiError::InvalidState {
            status: booking.status.as_str(),
        });
    }
    if booking.hold_expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::InvalidState { status: "expired" });
    }
    Ok(())
}

/// Hands a held booking on to its provider (`pending`, and the confirmation job), through
/// the booking lifecycle.
fn submit(
    conn: &mut PgConnection,
    booking: &BookingRow,
    actor: Option<&Actor>,
    reason: &str,
) -> Result<BookingRow, ApiError> {
    lifecycle::transition(
        conn,
        booking.id,
        &Change {
            event: BookingEvent::Submit,
            actor,
            reason: Some(reason),
            refund: Refund::Nothing,
            audit_action: "booking.pay",
        },
    )
}

/// The booking's side of its payment, for billing (which sits below bookings): a 3-D Secure
/// step extends the hold; once captured, a held booking goes on to its provider, and one
/// that ended first (expired, cancelled) is named so billing refunds the payment in full.
pub struct PaymentHooks;

impl BookingHooks for PaymentHooks {
    fn hold_until(
        &self,
        conn: &mut PgConnection,
        booking_id: Uuid,
        until: chrono::DateTime<Utc>,
    ) -> Result<(), ApiError> {
        diesel::update(bookings::table.find(booking_id))
            .filter(bookings::status.eq(BookingStatus::Held))
            .filter(bookings::hold_expires_at.lt(until))
            .set(bookings::hold_expires_at.eq(until))
            .execute(conn)?;
        Ok(())
    }

    fn captured(
        &self,
        conn: &mut PgConnection,
        booking_id: Uuid,
        actor: Option<&Actor>,
    ) -> Result<Result<(), &'static str>, ApiError> {
        let booking: BookingRow = bookings::table
            .find(booking_id)
            .for_no_key_update()
            .select(BookingRow::as_select())
            .first(conn)?;
        if booking.status != BookingStatus::Held {
            return Ok(Err(booking.status.as_str()));
        }
        submit(conn, &booking, actor, "paid")?;
        super::pay_links::settle_live_link(conn, booking_id)?;
        Ok(Ok(()))
    }

    fn change_paid(
        &self,
        conn: &mut PgConnection,
        change_id: Uuid,
        actor: Option<&Actor>,
    ) -> Result<Result<(), String>, ApiError> {
        match super::change::apply(conn, change_id, actor)? {
            Ok(_) => Ok(Ok(())),
            Err(why) => {
                super::change::fail(conn, change_id, why.reason(), true)?;
                Ok(Err(why.reason().to_owned()))
            }
        }
    }

    fn change_declined(&self, conn: &mut PgConnection, change_id: Uuid) -> Result<(), ApiError> {
        super::change::fail(conn, change_id, "the price rise was declined", true)
    }

    fn captured_together(
        &self,
        conn: &mut PgConnection,
        booking_ids: &[Uuid],
        actor: Option<&Actor>,
    ) -> Result<Result<(), &'static str>, ApiError> {
        // Locked in id order, as `payments::lock_owner` takes them.
        let mut rows = Vec::with_capacity(booking_ids.len());
        for id in booking_ids {
            let row: BookingRow = bookings::table
                .find(id)
                .for_no_key_update()
                .select(BookingRow::as_select())
                .first(conn)?;
            rows.push(row);
        }
        if let Some(ended) = rows.iter().find(|b| b.status != BookingStatus::Held) {
            // All or none: the parts still held are called off. Nothing is refunded here:
            // the caller gives back the whole payment.
            for held in rows.iter().filter(|b| b.status == BookingStatus::Held) {
                lifecycle::transition(
                    conn,
                    held.id,
                    &Change {
                        event: BookingEvent::Cancel,
                        actor,
                        reason: Some("paid together with a booking that had ended"),
                        refund: Refund::Nothing,
                        audit_action: "booking.cancel",
                    },
                )?;
            }
            return Ok(Err(ended.status.as_str()));
        }
        for row in &rows {
            submit(conn, row, actor, "paid")?;
        }
        Ok(Ok(()))
    }
}
