//! Paying for a package: ONE payment (purpose `package`) for both held parts, charged
//! through the same gateway path as a booking's, with one invoice carrying both bookings'
//! lines. What of it pays for each part is written beside it (`billing::allotments`), so a
//! part's refund comes out of its own share. Captured, both parts go on to their providers
//! together, or, if one ended first, neither does and everything goes back
//! (`BookingHooks::captured_together`).

use actix_web::http::StatusCode;
use chrono::Utc;
use diesel::prelude::*;
use uuid::Uuid;

use super::service::{PackageKey, Packages};
use super::store::{self, PackageRow};
use super::view::package_view;
use crate::billing::allotments;
use crate::billing::gateway::PaymentGateway;
use crate::billing::methods::{self, Method, MethodRow};
use crate::billing::payments::{
    self, BookingHooks, NewPayment, PaymentRow, PaymentStatus, PaymentView,
};
use crate::bookings::pay::{PayAnswer, PaymentHooks, booking_lines, due_now};
use crate::bookings::state::BookingStatus;
use crate::bookings::store::BookingRow;
use crate::customers::service::find_customer;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::domain::money::FeePolicy;
use crate::error::ApiError;
use crate::idempotency::IdempotencyClaim;
use crate::providers::store as provider_store;
use crate::schema::bookings;

impl Packages {
    /// Pays a held package with the chosen card: 200 paid (or nothing was due), 202 when
    /// the bank asks for a 3-D Secure step first; the body is `{"payment": …, "package": …}`
    /// as saved for the request's Idempotency-Key.
    #[tracing::instrument(skip_all, fields(user_id = %actor.user_id))]
    pub async fn pay(
        &self,
        actor: Actor,
        key: PackageKey,
        method: Method,
        claim: Option<IdempotencyClaim>,
    ) -> Result<PayAnswer, ApiError> {
        let scope = super::service::scope_of(&actor)?;
        let (package, customer) = run_blocking(&self.pool, move |conn| {
            let package = store::find_visible(conn, key.id, key.reference.as_deref(), scope)?;
            let parts = store::parts(conn, package.id)?;
            check_payable(
                &package,
                &parts.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
            )?;
            let customer = find_customer(conn, package.customer_id)?;
            Ok((package, customer))
        })
        .await?;
        let billing = self.bookings.billing.clone();
        let method = methods::resolve(&self.pool, &billing.gateway, &customer, method).await?;
        let fees = self.bookings.searcher.fees;
        let (package_id, payer, nothing_due) = (package.id, actor.clone(), claim.clone());
        let gateway = billing.gateway.name();
        let vat_rate = billing.vat_rate;
        let started = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                match start_payment(conn, package_id, &payer, method, (gateway, vat_rate))? {
                    Some(payment) => Ok(Err(payment)),
                    None => answer(conn, nothing_due.as_ref(), package_id, &fees, None).map(Ok),
                }
            })
        })
        .await?;
        let payment = match started {
            Ok(done) => {
                self.bookings.wake.notify_waiters();
                return Ok(done);
            }
            Err(payment) => payment,
        };
        let outcome = billing.charge(&payment, false, &package.reference).await?;
        let settled: payments::PaymentAnswer = Box::new(move |conn, paid| {
            if !matches!(
                paid.status,
                PaymentStatus::Succeeded | PaymentStatus::RequiresAction
            ) {
                store::log_step(
                    conn,
                    package_id,
                    "pay",
                    "failed",
                    paid.failure_code.as_deref(),
                )?;
                return Ok(None); // declined: the request answers 402 on its own
            }
            if paid.status == PaymentStatus::Succeeded {
                store::log_step(conn, package_id, "pay", "done", None)?;
            }
            answer(conn, claim.as_ref(), package_id, &fees, Some(paid)).map(|a| Some(a.body))
        });
        let (applied, body) = billing
            .apply_outcome_answered(payment.id, outcome, Some(actor), Some(settled))
            .await?;
        PayAnswer::settled(applied, body)
    }
}

/// A package is paid while both parts are held and their holds last.
fn check_payable(package: &PackageRow, parts: &[BookingRow]) -> Result<(), ApiError> {
    if package.phase != "open" {
        return Err(ApiError::InvalidState { status: "released" });
    }
    for booking in parts {
        if booking.status != BookingStatus::Held {
            return Err(ApiError::InvalidState {
                status: booking.status.as_str(),
            });
        }
        if booking.hold_expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ApiError::InvalidState { status: "expired" });
        }
    }
    Ok(())
}

/// The answer to a package's payment request, saved under its Idempotency-Key in the
/// transaction that settled the payment (or handed on a package with nothing due).
fn answer(
    conn: &mut PgConnection,
    claim: Option<&IdempotencyClaim>,
    package_id: Uuid,
    fees: &FeePolicy,
    payment: Option<&PaymentView>,
) -> Result<PayAnswer, ApiError> {
    let package = store::lock(conn, package_id)?;
    let body = serde_json::json!({
        "payment": payment,
        "package": package_view(conn, package, fees)?,
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

/// Under the package's and its parts' locks: re-checks both are payable, then writes the
/// `processing` payment with both bookings' lines and each one's share (audited when staff
/// take the card). `None` when nothing is due: both go straight on to their providers.
fn start_payment(
    conn: &mut PgConnection,
    package_id: Uuid,
    payer: &Actor,
    method: MethodRow,
    (gateway, vat_rate): (&'static str, rust_decimal::Decimal),
) -> Result<Option<PaymentRow>, ApiError> {
    let package = store::lock(conn, package_id)?;
    let mut ids: Vec<Uuid> = store::parts(conn, package_id)?
        .into_iter()
        .map(|(_, b)| b.id)
        .collect();
    ids.sort_unstable();
    let mut parts = Vec::with_capacity(ids.len());
    for id in &ids {
        let booking: BookingRow = bookings::table
            .find(id)
            .for_no_key_update()
            .select(BookingRow::as_select())
            .first(conn)?;
        crate::bookings::uncertain::refuse_unconfirmed(conn, booking.id)?;
        parts.push(booking);
    }
    check_payable(&package, &parts)?;
    let mut lines = Vec::new();
    let mut shares = Vec::new();
    for booking in &parts {
        let provider = provider_store::find_provider(conn, booking.provider_id)?;
        lines.extend(booking_lines(booking, provider.prepaid, vat_rate));
        shares.push((booking.id, due_now(booking, provider.prepaid, vat_rate)));
    }
    let subscription = crate::billing::subscriptions::charge_allowance(conn, package.customer_id)?;
    if lines.is_empty() {
        if let Err(status) = PaymentHooks.captured_together(conn, &ids, Some(payer))? {
            return Err(ApiError::InvalidState { status });
        }
        store::log_step(conn, package_id, "pay", "done", Some("nothing to pay"))?;
        return Ok(None);
    }
    let row = payments::insert(
        conn,
        &NewPayment {
            customer_id: package.customer_id,
            purpose: "package",
            booking_id: None,
            booking_change_id: None,
            package_id: Some(package_id),
            subscription_id: subscription,
            period_start: None,
            lines,
            method,
            gateway,
            created_by: payer.is_staff().then_some(payer.user_id),
        },
    )?;
    allotments::insert(conn, row.id, &shares)?;
    if payer.is_staff() {
        crate::audit::record(
            conn,
            &crate::audit::AuditEntry {
                actor_id: payer.user_id,
                actor_role: payer.role,
                on_behalf_of: Some(package.customer_id),
                action: "payment.take",
                entity_type: "package",
                entity_id: package.reference.clone(),
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
