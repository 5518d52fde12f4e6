//! Refunds: decided in the transaction that causes them (a cancellation, a failed booking,
//! a payment that came too late), executed afterwards by a job through the gateway.
//!
//! Deciding reserves the amount on the payment (`payments.refunded`, which a check keeps at
//! or below what was captured), so two refunds decided at once can never exceed it. When
//! the gateway confirms, the credit note and the ledger reversal are written; when it
//! refuses for good, the reservation is released.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::gateway::{GatewayError, PaymentGateway, RefundRequest};
use super::invoices::{self, NewInvoice, Series};
use super::ledger::{self, Account, Source, TransactionKind};
use super::money::{ChargeLine, allocate_refund, allocate_refund_to, totals, unrefunded};
use super::payments::{Billing, PaymentRow, PaymentStatus};
use crate::customers::service::find_customer;
use crate::db::run_blocking;
use crate::domain::{Actor, Role};
use crate::error::ApiError;
use crate::jobs::{Job, queue};
use crate::schema::{invoices as invoice_table, payments, refunds};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refunds, check_for_backend(diesel::pg::Pg))]
pub struct RefundRow {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub amount: Decimal,
    pub reason: String,
    pub status: String,
    pub gateway_ref: Option<String>,
    pub failure_message: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The charge line credited first (`provider_price` for a no-show); `None`: every line
    /// in proportion.
    pub credit_line: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RefundView {
    pub id: Uuid,
    pub payment_id: Uuid,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub reason: String,
    /// `pending` (with the gateway), `succeeded` or `failed`.
    pub status: String,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<RefundRow> for RefundView {
    fn from(row: RefundRow) -> Self {
        Self {
            id: row.id,
            payment_id: row.payment_id,
            amount: row.amount,
            reason: row.reason,
            status: row.status,
            failure_message: row.failure_message,
            created_at: row.created_at,
        }
    }
}

/// Decides a refund of `amount` from a captured payment and enqueues its execution.
/// Fails with 409 `refund.exceeds_captured` when that would refund more than was captured.
pub fn reserve(
    conn: &mut PgConnection,
    payment_id: Uuid,
    amount: Decimal,
    reason: &str,
    created_by: Option<Uuid>,
) -> Result<RefundRow, ApiError> {
    reserve_crediting(conn, payment_id, amount, reason, created_by, None)
}

/// [`reserve`], its credit note crediting the charge line `credit_line` first.
#[tracing::instrument(skip(conn, reason))]
pub fn reserve_crediting(
    conn: &mut PgConnection,
    payment_id: Uuid,
    amount: Decimal,
    reason: &str,
    created_by: Option<Uuid>,
    credit_line: Option<&str>,
) -> Result<RefundRow, ApiError> {
    let reserved = diesel::update(payments::table.find(payment_id))
        .filter(payments::status.eq(PaymentStatus::Succeeded.as_str()))
        .set(payments::refunded.eq(payments::refunded + amount))
        .execute(conn)?;
    if reserved == 0 {
        return Err(ApiError::Conflict {
            code: "refund.not_captured",
            detail: "only a captured payment can be refunded".into(),
        });
    }
    let refund: RefundRow = diesel::insert_into(refunds::table)
        .values((
            refunds::payment_id.eq(payment_id),
            refunds::amount.eq(amount),
            refunds::reason.eq(reason),
            refunds::status.eq("pending"),
            refunds::created_by.eq(created_by),
            refunds::credit_line.eq(credit_line),
        ))
        .returning(RefundRow::as_returning())
        .get_result(conn)?;
    queue::enqueue(
        conn,
        &Job::ExecuteRefund {
            refund_id: refund.id,
        },
        Some(&format!("refund:{}", refund.id)),
        Utc::now(),
    )?;
    Ok(refund)
}

/// Refunds a booking's captured payments (its own, and any that paid a change's price
/// rise): `share` turns what is still refundable in all into the amount to refund (a
/// policy's percentage, a change's difference, or all of it), which is taken from the newest
/// payment first. Returns the amount decided (zero when nothing was paid).
pub fn refund_booking(
    conn: &mut PgConnection,
    booking_id: Uuid,
    share: impl FnOnce(Decimal) -> Decimal,
    reason: &str,
    created_by: Option<Uuid>,
) -> Result<Decimal, ApiError> {
    refund_booking_crediting(conn, booking_id, share, reason, created_by, None)
}

/// [`refund_booking`], its credit notes crediting the charge line `credit_line` first (a
/// no-show gives back the provider's price, never our fee).
pub fn refund_booking_crediting(
    conn: &mut PgConnection,
    booking_id: Uuid,
    share: impl FnOnce(Decimal) -> Decimal,
    reason: &str,
    created_by: Option<Uuid>,
    credit_line: Option<&str>,
) -> Result<Decimal, ApiError> {
    // The booking before its payments, as everywhere (see `payments::lock_owner`).
    crate::schema::bookings::table
        .find(booking_id)
        .select(crate::schema::bookings::id)
        .for_no_key_update()
        .execute(conn)?;
    let captured: Vec<PaymentRow> = payments::table
        .filter(payments::booking_id.eq(booking_id))
        .filter(payments::status.eq(PaymentStatus::Succeeded.as_str()))
        .order((payments::created_at.desc(), payments::id.desc()))
        .for_no_key_update()
        .select(PaymentRow::as_select())
        .load(conn)?;
    // Its own payments, and its shares of payments it was paid with together (a package's):
    // (payment, refundable, when, whether it is a share).
    let mut sources: Vec<(Uuid, Decimal, DateTime<Utc>, bool)> = captured
        .iter()
        .map(|p| (p.id, p.amount - p.refunded, p.created_at, false))
        .collect();
    sources.extend(
        super::allotments::captured_shares(conn, booking_id)?
            .into_iter()
            .map(|(payment, left, at)| (payment, left, at, true)),
    );
    sources.sort_by(|a, b| b.2.cmp(&a.2).then(b.0.cmp(&a.0)));
    let refundable: Decimal = sources.iter().map(|s| s.1).sum();
    let amount = share(refundable).min(refundable).max(Decimal::ZERO);
    let mut left = amount;
    for (payment_id, available, _, shared) in sources {
        let part = left.min(available);
        if part > Decimal::ZERO {
            if shared {
                super::allotments::take(conn, payment_id, booking_id, part)?;
            }
            let refund =
                reserve_crediting(conn, payment_id, part, reason, created_by, credit_line)?;
            if shared {
                super::allotments::note_refund(conn, refund.id, booking_id)?;
            }
            left -= part;
        }
    }
    Ok(amount)
}

/// A cancellation policy's share of what was paid, half-up to the halala.
pub fn policy_share(paid: Decimal, percent: u32) -> Decimal {
    super::money::round_sar(paid * Decimal::from(percent) / Decimal::ONE_HUNDRED)
}

/// What of a booking's payments (and its shares of payments made together) is captured
/// and not yet refunded (zero when unpaid).
pub fn refundable(conn: &mut PgConnection, booking_id: Uuid) -> QueryResult<Decimal> {
    use crate::schema::payment_allotments as allot;
    let rows: Vec<(Decimal, Decimal)> = payments::table
        .filter(payments::booking_id.eq(booking_id))
        .filter(payments::status.eq(PaymentStatus::Succeeded.as_str()))
        .select((payments::amount, payments::refunded))
        .load(conn)?;
    let shares: Vec<(Decimal, Decimal)> = allot::table
        .inner_join(payments::table)
        .filter(allot::booking_id.eq(booking_id))
        .filter(payments::status.eq(PaymentStatus::Succeeded.as_str()))
        .select((allot::amount, allot::refunded))
        .load(conn)?;
    Ok(super::money::round_sar(
        rows.iter()
            .chain(&shares)
            .map(|(amount, refunded)| amount - refunded)
            .sum(),
    ))
}

impl Billing {
    /// Staff refund part or all of a payment (a goodwill gesture, a correction).
    #[tracing::instrument(skip(self, actor, reason), fields(user_id = %actor.user_id))]
    pub async fn refund_payment(
        &self,
        actor: Actor,
        payment_id: Uuid,
        amount: Decimal,
        reason: String,
    ) -> Result<RefundView, ApiError> {
        if !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        if actor.role != Role::Admin && amount > self.staff_refund_limit {
            return Err(ApiError::RefundNeedsAdmin {
                limit: self.staff_refund_limit,
            });
        }
        let view = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                super::payments::lock_owner(conn, payment_id)?;
                let payment: PaymentRow = payments::table
                    .find(payment_id)
                    .for_no_key_update()
                    .select(PaymentRow::as_select())
                    .first(conn)?;
                let refund = reserve(conn, payment.id, amount, &reason, Some(actor.user_id))?;
                crate::audit::record(
                    conn,
                    &crate::audit::AuditEntry {
                        actor_id: actor.user_id,
                        actor_role: actor.role,
                        on_behalf_of: Some(payment.customer_id),
                        action: "payment.refund",
                        entity_type: "payment",
                        entity_id: payment.id.to_string(),
                        request_id: actor.request_id.clone(),
                        details: serde_json::json!({ "amount": amount.to_string(), "reason": reason }),
                    },
                )?;
                Ok(RefundView::from(refund))
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(view)
    }

    /// Job: executes a decided refund through the gateway (its id is the idempotency key,
    /// so a retried job refunds once), then writes the credit note and the ledger reversal.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn execute_refund(&self, refund_id: Uuid) -> Result<(), ApiError> {
        let found = run_blocking(&self.pool, move |conn| {
            let refund: RefundRow = refunds::table
                .find(refund_id)
                .select(RefundRow::as_select())
                .first(conn)?;
            let payment: PaymentRow = payments::table
                .find(refund.payment_id)
                .select(PaymentRow::as_select())
                .first(conn)?;
            Ok((refund, payment))
        })
        .await?;
        let (refund, payment) = found;
        if refund.status != "pending" {
            return Ok(()); // already done: a job may run twice
        }
        let request = RefundRequest {
            idempotency_key: refund.id.to_string(),
            charge_ref: payment.gateway_ref.clone().unwrap_or_default(),
            amount: refund.amount,
        };
        let result = self.gateway.refund(&request).await;
        let issuer = self.issuer.clone();
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let pending = refunds::table
                    .find(refund.id)
                    .filter(refunds::status.eq("pending"))
                    .for_no_key_update()
                    .select(refunds::id)
                    .first::<Uuid>(conn)
                    .optional()?;
                if pending.is_none() {
                    return Ok(());
                }
                match result {
                    Ok(gateway_ref) => {
                        diesel::update(refunds::table.find(refund.id))
                            .set((
                                refunds::status.eq("succeeded"),
                                refunds::gateway_ref.eq(gateway_ref),
                            ))
                            .execute(conn)?;
                        record_refund(conn, &issuer, &payment, &refund)
                    }
                    Err(GatewayError::Unavailable(reason)) => Err(ApiError::Unavailable(
                        anyhow::anyhow!("payment gateway: {reason}"),
                    )),
                    Err(refused) => {
                        tracing::error!(refund_id = %refund.id, error = %refused,
                            "the gateway refused a refund; the office must settle it by hand");
                        diesel::update(refunds::table.find(refund.id))
                            .set((
                                refunds::status.eq("failed"),
                                refunds::failure_message.eq(refused.to_string()),
                            ))
                            .execute(conn)?;
                        diesel::update(payments::table.find(payment.id))
                            .set(payments::refunded.eq(payments::refunded - refund.amount))
                            .execute(conn)?;
                        super::allotments::give_back(conn, refund.id, payment.id, refund.amount)?;
                        Ok(())
                    }
                }
            })
        })
        .await
    }
}

/// The credit note for a refund (its lines a proportional share of what the payment
/// charged and is not yet credited) and its two ledger transactions.
fn record_refund(
    conn: &mut PgConnection,
    issuer: &invoices::Issuer,
    payment: &PaymentRow,
    refund: &RefundRow,
) -> Result<(), ApiError> {
    let charged = payment.charge_lines();
    let credited: Vec<ChargeLine> = invoice_table::table
        .filter(invoice_table::payment_id.eq(payment.id))
        .filter(invoice_table::series.eq("CRN"))
        .select(invoice_table::lines)
        .load::<serde_json::Value>(conn)?
        .into_iter()
        .flat_map(|lines| serde_json::from_value::<Vec<ChargeLine>>(lines).unwrap_or_default())
        .collect();
    let remaining = unrefunded(&charged, &credited);
    let lines = match refund.credit_line.as_deref() {
        Some(code) => allocate_refund_to(&remaining, code, refund.amount),
        None => allocate_refund(&remaining, refund.amount),
    }
    .ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "refund {} of {} exceeds what payment {} has left to credit",
            refund.id,
            refund.amount,
            payment.id
        ))
    })?;
    let original = invoices::of_payment(conn, payment.id)?;
    let customer = find_customer(conn, payment.customer_id)?;
    let note = invoices::issue(
        conn,
        issuer,
        &NewInvoice {
            series: Series::CreditNote,
            customer_id: payment.customer_id,
            buyer_name: &customer.full_name,
            payment_id: payment.id,
            refund_id: Some(refund.id),
            original: original.as_ref(),
            reason: Some(&refund.reason),
            lines: &lines,
        },
    )?;
    let (_, vat, gross) = totals(&lines);
    let mut entries = vec![
        (Account::CustomerReceivable, -gross),
        (Account::VatPayable, vat),
    ];
    entries.extend(lines.iter().map(|line| (line.account, line.net)));
    let source = Source {
        payment_id: Some(payment.id),
        refund_id: Some(refund.id),
        invoice_id: Some(note.id),
    };
    ledger::post(conn, TransactionKind::CreditNote, source, &entries)?;
    ledger::post(
        conn,
        TransactionKind::Refund,
        source,
        &[
            (Account::CustomerReceivable, gross),
            (Account::GatewayClearing, -gross),
        ],
    )?;
    Ok(())
}

/// A payment's refunds, oldest first.
pub fn of_payment(conn: &mut PgConnection, payment_id: Uuid) -> QueryResult<Vec<RefundRow>> {
    refunds::table
        .filter(refunds::payment_id.eq(payment_id))
        .order(refunds::created_at)
        .select(RefundRow::as_select())
        .load(conn)
}
