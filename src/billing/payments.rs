//! Charging a card: a `payments` row is written before the gateway is called (status
//! `processing`, its id the gateway's idempotency key), and the gateway's answer is applied
//! in one transaction with everything that follows from it: the invoice, the ledger, and
//! for a booking its move to `pending` (or, when the hold ended meanwhile, a full refund).
//!
//! A booking has at most one live payment (a unique index), so a double submit charges
//! once; a crash between the charge and its record leaves a `processing` row that the
//! reconcile sweep settles by asking again with the same key.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::gateway::{ChargeOutcome, ChargeRequest, Gateway, GatewayError, PaymentGateway};
use super::invoices::{self, Issuer, NewInvoice, Series};
use super::ledger::{self, Account, Source, TransactionKind};
use super::methods::{MethodRow, MethodView};
use super::money::{ChargeLine, totals};
use super::{refunds, subscriptions};
use crate::customers::service::find_customer;
use crate::db::{PgPool, run_blocking};
use crate::domain::Actor;
use crate::error::ApiError;
use crate::schema::{bookings, payments};

/// Everything money needs, built once at start-up.
#[derive(Clone)]
pub struct Billing {
    pub pool: PgPool,
    /// What a booking's payment does to the booking (bookings::pay::PaymentHooks).
    pub bookings: Arc<dyn BookingHooks>,
    pub gateway: Arc<Gateway>,
    /// The seller and its ZATCA stamp, on every invoice.
    pub issuer: Arc<Issuer>,
    /// ZATCA's reporting API; `None` while `zatca.enabled` is off.
    pub zatca: Option<Arc<invoices::zatca::report::Reporter>>,
    pub vat_rate: Decimal,
    /// How long a 3-D Secure step keeps a booking's hold alive.
    pub action_window: chrono::Duration,
    pub return_url: String,
    /// The largest refund an agent may make at once; more needs an admin.
    pub staff_refund_limit: Decimal,
    /// Renewal retries, in days after the period ended.
    pub dunning_days: Arc<[u32]>,
    pub wake: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Processing,
    RequiresAction,
    Succeeded,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::RequiresAction => "requires_action",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "requires_action" => Self::RequiresAction,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Processing,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payments, check_for_backend(diesel::pg::Pg))]
pub struct PaymentRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub purpose: String,
    pub booking_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub period_start: Option<DateTime<Utc>>,
    pub amount: Decimal,
    pub refunded: Decimal,
    pub currency: String,
    pub lines: serde_json::Value,
    pub status: String,
    pub gateway: String,
    pub gateway_ref: Option<String>,
    pub action_url: Option<String>,
    pub payment_method_id: Option<Uuid>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The change of a booking whose price rise this pays (purpose `booking_change`).
    pub booking_change_id: Option<Uuid>,
    /// The package whose bookings this pays for together (purpose `package`; each one's
    /// share in `payment_allotments`).
    pub package_id: Option<Uuid>,
}

impl PaymentRow {
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status)
    }

    pub fn charge_lines(&self) -> Vec<ChargeLine> {
        serde_json::from_value(self.lines.clone()).unwrap_or_default()
    }
}

/// What a new payment row is for.
pub struct NewPayment {
    pub customer_id: Uuid,
    pub purpose: &'static str,
    pub booking_id: Option<Uuid>,
    pub booking_change_id: Option<Uuid>,
    pub package_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub period_start: Option<DateTime<Utc>>,
    pub lines: Vec<ChargeLine>,
    pub method: MethodRow,
    pub gateway: &'static str,
    pub created_by: Option<Uuid>,
}

pub fn insert(conn: &mut PgConnection, new: &NewPayment) -> QueryResult<PaymentRow> {
    diesel::insert_into(payments::table)
        .values((
            payments::customer_id.eq(new.customer_id),
            payments::purpose.eq(new.purpose),
            payments::booking_id.eq(new.booking_id),
            payments::booking_change_id.eq(new.booking_change_id),
            payments::package_id.eq(new.package_id),
            payments::subscription_id.eq(new.subscription_id),
            payments::period_start.eq(new.period_start),
            payments::amount.eq(totals(&new.lines).2),
            payments::lines.eq(serde_json::to_value(&new.lines).unwrap_or_default()),
            payments::status.eq(PaymentStatus::Processing.as_str()),
            payments::gateway.eq(new.gateway),
            payments::payment_method_id.eq(new.method.id),
            payments::created_by.eq(new.created_by),
        ))
        .returning(PaymentRow::as_returning())
        .get_result(conn)
}

#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub id: Uuid,
    pub status: PaymentStatus,
    /// `booking`, `booking_change`, `package` or `subscription`.
    pub purpose: String,
    pub booking_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub refunded: Decimal,
    pub lines: Vec<ChargeLine>,
    /// While `requires_action`: where the customer passes the 3-D Secure step.
    pub action_url: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub invoice_id: Option<Uuid>,
    pub card: Option<MethodView>,
    pub created_at: DateTime<Utc>,
}

impl PaymentView {
    /// A payment that did not go through, as the caller's 402: the gateway's code and words.
    pub fn declined(self) -> ApiError {
        ApiError::PaymentDeclined {
            reason: self.failure_code.unwrap_or_else(|| "card_declined".into()),
            message: self
                .failure_message
                .unwrap_or_else(|| "the card was declined".into()),
        }
    }
}

pub fn view(conn: &mut PgConnection, row: PaymentRow) -> QueryResult<PaymentView> {
    let invoice_id = invoices::of_payment(conn, row.id)?.map(|i| i.id);
    let card = super::methods::card_view(conn, row.payment_method_id)?;
    Ok(PaymentView {
        id: row.id,
        status: row.status(),
        lines: row.charge_lines(),
        purpose: row.purpose,
        booking_id: row.booking_id,
        package_id: row.package_id,
        subscription_id: row.subscription_id,
        currency: row.currency,
        amount: row.amount,
        refunded: row.refunded,
        action_url: row.action_url,
        failure_code: row.failure_code,
        failure_message: row.failure_message,
        invoice_id,
        card,
        created_at: row.created_at,
    })
}

impl Billing {
    /// Calls the gateway for a `processing` payment. An unreachable gateway leaves the row
    /// `processing` (the charge may or may not have happened) for the reconcile sweep.
    #[tracing::instrument(skip_all, fields(payment_id = %payment.id))]
    pub async fn charge(
        &self,
        payment: &PaymentRow,
        off_session: bool,
        description: &str,
    ) -> Result<ChargeOutcome, ApiError> {
        self.charge_returning(payment, off_session, description, &self.return_url)
            .await
    }

    /// [`Self::charge`], the customer's browser coming back from a 3-D Secure step to
    /// `return_url` (a page of the site, such as a pay link's).
    #[tracing::instrument(skip_all, fields(payment_id = %payment.id))]
    pub async fn charge_returning(
        &self,
        payment: &PaymentRow,
        off_session: bool,
        description: &str,
        return_url: &str,
    ) -> Result<ChargeOutcome, ApiError> {
        let method_id = payment.payment_method_id;
        let customer_id = payment.customer_id;
        let (method_ref, customer_ref) = run_blocking(&self.pool, move |conn| {
            use crate::schema::{customers, payment_methods};
            let method_ref: String = payment_methods::table
                .find(method_id.unwrap_or_default())
                .select(payment_methods::gateway_ref)
                .first(conn)?;
            let customer_ref: Option<String> = customers::table
                .find(customer_id)
                .select(customers::gateway_customer_ref)
                .first(conn)?;
            Ok((method_ref, customer_ref.unwrap_or_default()))
        })
        .await?;
        let request = ChargeRequest {
            idempotency_key: payment.id.to_string(),
            customer_ref,
            method_ref,
            amount: payment.amount,
            description: description.to_owned(),
            off_session,
            return_url: return_url.to_owned(),
        };
        match self.gateway.charge(&request).await {
            Ok(outcome) => Ok(outcome),
            Err(GatewayError::Unavailable(reason)) => Err(ApiError::Unavailable(anyhow::anyhow!(
                "payment gateway: {reason}; the payment is settled once it answers"
            ))),
            Err(GatewayError::CardRefused { code, message }) => Ok(ChargeOutcome::Declined {
                gateway_ref: None,
                code,
                message,
            }),
            Err(GatewayError::Rejected(reason)) => Ok(ChargeOutcome::Declined {
                gateway_ref: None,
                code: "gateway_rejected".into(),
                message: reason,
            }),
        }
    }

    /// Applies a gateway's answer to a payment, once: a second delivery of the same answer
    /// (a webhook repeated, a reconcile racing the request) finds the row already moved and
    /// changes nothing. Returns the payment as it now stands.
    #[tracing::instrument(skip(self, outcome, actor), err(level = "debug"))]
    pub async fn apply_outcome(
        &self,
        payment_id: Uuid,
        outcome: ChargeOutcome,
        actor: Option<Actor>,
    ) -> Result<PaymentView, ApiError> {
        self.apply_outcome_answered(payment_id, outcome, actor, None)
            .await
            .map(|(view, _)| view)
    }

    /// [`Self::apply_outcome`], and in the same transaction `answer`: what the request that
    /// paid answers, written with the payment (so an idempotent retry replays it even if the
    /// process dies right after the commit). Returns the payment and `answer`'s body.
    pub async fn apply_outcome_answered(
        &self,
        payment_id: Uuid,
        outcome: ChargeOutcome,
        actor: Option<Actor>,
        answer: Option<PaymentAnswer>,
    ) -> Result<(PaymentView, Option<serde_json::Value>), ApiError> {
        let context = SettleContext {
            bookings: self.bookings.clone(),
            issuer: self.issuer.clone(),
            action_window: self.action_window,
            dunning_days: self.dunning_days.clone(),
        };
        let (view, body) = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                lock_owner(conn, payment_id)?;
                let payment: PaymentRow = payments::table
                    .find(payment_id)
                    .for_no_key_update()
                    .select(PaymentRow::as_select())
                    .first(conn)?;
                let open = matches!(
                    payment.status(),
                    PaymentStatus::Processing | PaymentStatus::RequiresAction
                );
                if open {
                    settle(conn, &context, &payment, &outcome, actor.as_ref())?;
                }
                let row = payments::table
                    .find(payment_id)
                    .select(PaymentRow::as_select())
                    .first(conn)?;
                let view = view(conn, row)?;
                let body = match answer {
                    Some(answer) => answer(conn, &view)?,
                    None => None,
                };
                Ok((view, body))
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok((view, body))
    }

    /// A gateway's asynchronous answer (the 3-D Secure result, by webhook or the sandbox's
    /// page), for the payment it names. Unknown references are ignored.
    pub async fn apply_gateway_outcome(
        &self,
        gateway_ref: String,
        outcome: ChargeOutcome,
    ) -> Result<Option<PaymentView>, ApiError> {
        let gateway = self.gateway.name();
        let found = run_blocking(&self.pool, move |conn| {
            Ok(payments::table
                .filter(payments::gateway.eq(gateway))
                .filter(payments::gateway_ref.eq(gateway_ref))
                .select(payments::id)
                .first::<Uuid>(conn)
                .optional()?)
        })
        .await?;
        match found {
            Some(id) => self.apply_outcome(id, outcome, None).await.map(Some),
            None => Ok(None),
        }
    }

    /// Job: payments left `processing` (a crash or a timeout between charge and record)
    /// are charged again with the same idempotency key, which returns the original charge.
    #[tracing::instrument(skip_all)]
    pub async fn reconcile_processing(&self) -> Result<usize, ApiError> {
        let stale = run_blocking(&self.pool, |conn| {
            Ok(payments::table
                .filter(payments::status.eq(PaymentStatus::Processing.as_str()))
                .filter(payments::updated_at.lt(Utc::now() - chrono::Duration::seconds(60)))
                .limit(100)
                .select(PaymentRow::as_select())
                .load(conn)?)
        })
        .await?;
        let mut settled = 0;
        for payment in stale {
            let off_session = payment.purpose == "subscription";
            match self.charge(&payment, off_session, "reconcile").await {
                Ok(outcome) => {
                    self.apply_outcome(payment.id, outcome, None).await?;
                    settled += 1;
                }
                Err(error) => tracing::warn!(payment_id = %payment.id, error = %error.describe(),
                    "payment still unsettled; the next sweep asks again"),
            }
        }
        Ok(settled)
    }

    /// One payment, if the caller may see it.
    pub async fn get(&self, actor: &Actor, id: Uuid) -> Result<PaymentView, ApiError> {
        let scope = actor.customer_scope();
        run_blocking(&self.pool, move |conn| {
            let mut query = payments::table.filter(payments::id.eq(id)).into_boxed();
            if let Some(user_id) = scope? {
                query = query.filter(
                    payments::customer_id.eq_any(
                        crate::schema::customers::table
                            .filter(crate::schema::customers::user_id.eq(user_id))
                            .select(crate::schema::customers::id),
                    ),
                );
            }
            let row = query.select(PaymentRow::as_select()).first(conn)?;
            Ok(view(conn, row)?)
        })
        .await
    }
}

/// Locks what a payment belongs to (its booking or subscription) before the payment itself:
/// every transaction that touches both takes them in this order, so none deadlock.
pub(super) fn lock_owner(conn: &mut PgConnection, payment_id: Uuid) -> QueryResult<()> {
    let (booking_id, subscription_id): (Option<Uuid>, Option<Uuid>) = payments::table
        .find(payment_id)
        .select((payments::booking_id, payments::subscription_id))
        .first(conn)?;
    if let Some(id) = booking_id {
        bookings::table
            .find(id)
            .select(bookings::id)
            .for_no_key_update()
            .execute(conn)?;
    }
    // A package's bookings, in id order.
    for id in super::allotments::bookings_of(conn, payment_id)? {
        bookings::table
            .find(id)
            .select(bookings::id)
            .for_no_key_update()
            .execute(conn)?;
    }
    if let Some(id) = subscription_id {
        crate::schema::subscriptions::table
            .find(id)
            .select(crate::schema::subscriptions::id)
            .for_no_key_update()
            .execute(conn)?;
    }
    Ok(())
}

/// The answer of the request that made a payment, written in the transaction that settles
/// it: given the settled payment, it saves and returns the body (or `None` to let the request
/// answer on its own, e.g. a decline).
pub type PaymentAnswer = Box<
    dyn FnOnce(&mut PgConnection, &PaymentView) -> Result<Option<serde_json::Value>, ApiError>
        + Send,
>;

/// What a booking's payment does to the booking. The bookings layer provides it (billing sits
/// below bookings and never imports it).
pub trait BookingHooks: Send + Sync {
    /// The customer is at their bank (3-D Secure): a held booking waits until `until`.
    fn hold_until(
        &self,
        conn: &mut PgConnection,
        booking_id: Uuid,
        until: DateTime<Utc>,
    ) -> Result<(), ApiError>;

    /// Hands the held booking on to its provider, in the caller's transaction; or names the
    /// status it ended in first, and the caller refunds the payment in full.
    fn captured(
        &self,
        conn: &mut PgConnection,
        booking_id: Uuid,
        actor: Option<&Actor>,
    ) -> Result<Result<(), &'static str>, ApiError>;

    /// A change's price rise is paid: applies the change, in the caller's transaction; or
    /// says why it no longer can, and the caller refunds the payment in full.
    fn change_paid(
        &self,
        conn: &mut PgConnection,
        change_id: Uuid,
        actor: Option<&Actor>,
    ) -> Result<Result<(), String>, ApiError>;

    /// A change's price rise was declined: the change is called off (what it claimed is
    /// given back), in the caller's transaction.
    fn change_declined(&self, conn: &mut PgConnection, change_id: Uuid) -> Result<(), ApiError>;

    /// One payment for several held bookings (a package's) is captured: hands them all on,
    /// in the caller's transaction; or, when one ended first, calls off the others and
    /// names the status it found, and the caller refunds the payment in full.
    fn captured_together(
        &self,
        conn: &mut PgConnection,
        booking_ids: &[Uuid],
        actor: Option<&Actor>,
    ) -> Result<Result<(), &'static str>, ApiError>;
}

struct SettleContext {
    bookings: Arc<dyn BookingHooks>,
    issuer: Arc<Issuer>,
    action_window: chrono::Duration,
    dunning_days: Arc<[u32]>,
}

/// The gateway's answer, applied to an open payment inside the caller's transaction.
fn settle(
    conn: &mut PgConnection,
    context: &SettleContext,
    payment: &PaymentRow,
    outcome: &ChargeOutcome,
    actor: Option<&Actor>,
) -> Result<(), ApiError> {
    match outcome {
        ChargeOutcome::Declined {
            gateway_ref,
            code,
            message,
        } => {
            diesel::update(payments::table.find(payment.id))
                .set((
                    payments::status.eq(PaymentStatus::Failed.as_str()),
                    payments::gateway_ref.eq(gateway_ref.clone().or(payment.gateway_ref.clone())),
                    payments::failure_code.eq(code),
                    payments::failure_message.eq(message),
                    payments::action_url.eq(None::<String>),
                ))
                .execute(conn)?;
            if payment.purpose == "subscription" {
                subscriptions::on_period_declined(conn, payment, &context.dunning_days)?;
            }
            if let Some(change_id) = payment.booking_change_id {
                context.bookings.change_declined(conn, change_id)?;
            }
        }
        ChargeOutcome::RequiresAction {
            gateway_ref,
            redirect_url,
        } => {
            diesel::update(payments::table.find(payment.id))
                .set((
                    payments::status.eq(PaymentStatus::RequiresAction.as_str()),
                    payments::gateway_ref.eq(gateway_ref),
                    payments::action_url.eq(redirect_url),
                ))
                .execute(conn)?;
            // The customer is at their bank: the hold waits for them.
            if let (Some(booking_id), None) = (payment.booking_id, payment.booking_change_id) {
                context.bookings.hold_until(
                    conn,
                    booking_id,
                    Utc::now() + context.action_window,
                )?;
            }
            for booking_id in super::allotments::bookings_of(conn, payment.id)? {
                context.bookings.hold_until(
                    conn,
                    booking_id,
                    Utc::now() + context.action_window,
                )?;
            }
        }
        ChargeOutcome::Succeeded { gateway_ref } => {
            diesel::update(payments::table.find(payment.id))
                .set((
                    payments::status.eq(PaymentStatus::Succeeded.as_str()),
                    payments::gateway_ref.eq(gateway_ref),
                    payments::action_url.eq(None::<String>),
                ))
                .execute(conn)?;
            super::methods::keep_card(conn, payment.payment_method_id)?;
            record_capture(conn, &context.issuer, payment)?;
            if payment.purpose == "subscription" {
                let captured = PaymentRow {
                    status: PaymentStatus::Succeeded.as_str().into(),
                    ..payment.clone()
                };
                subscriptions::on_period_paid(conn, &captured)?;
            }
            if let Some(change_id) = payment.booking_change_id {
                if let Err(why) = context.bookings.change_paid(conn, change_id, actor)? {
                    // The booking moved on (ended, changed) before the money came.
                    refunds::reserve(
                        conn,
                        payment.id,
                        payment.amount,
                        &format!("paid for a change that could not be made: {why}"),
                        None,
                    )?;
                }
            } else if payment.package_id.is_some() {
                let together = super::allotments::bookings_of(conn, payment.id)?;
                if let Err(status) = context.bookings.captured_together(conn, &together, actor)? {
                    // A part ended before the money came: the others are called off, and
                    // everything goes back.
                    refunds::reserve(
                        conn,
                        payment.id,
                        payment.amount,
                        &format!("paid after a part of the package was {status}"),
                        None,
                    )?;
                }
            } else if let Some(booking_id) = payment.booking_id
                && let Err(status) = context.bookings.captured(conn, booking_id, actor)?
            {
                // The hold ended (expired, cancelled) before the money came: give it back.
                refunds::reserve(
                    conn,
                    payment.id,
                    payment.amount,
                    &format!("paid after the booking was {status}"),
                    None,
                )?;
            }
        }
    }
    Ok(())
}

/// A captured payment's paperwork: its tax invoice, and two ledger transactions (the
/// invoice raises what the customer owes; the payment clears it into the gateway).
pub(super) fn record_capture(
    conn: &mut PgConnection,
    issuer: &Issuer,
    payment: &PaymentRow,
) -> Result<(), ApiError> {
    let lines = payment.charge_lines();
    let customer = find_customer(conn, payment.customer_id)?;
    let invoice = invoices::issue(
        conn,
        issuer,
        &NewInvoice {
            series: Series::Invoice,
            customer_id: payment.customer_id,
            buyer_name: &customer.full_name,
            payment_id: payment.id,
            refund_id: None,
            original: None,
            reason: None,
            lines: &lines,
        },
    )?;
    let (_, vat, gross) = totals(&lines);
    let mut entries = vec![
        (Account::CustomerReceivable, gross),
        (Account::VatPayable, -vat),
    ];
    entries.extend(lines.iter().map(|line| (line.account, -line.net)));
    let source = Source {
        payment_id: Some(payment.id),
        refund_id: None,
        invoice_id: Some(invoice.id),
    };
    ledger::post(conn, TransactionKind::Invoice, source, &entries)?;
    ledger::post(
        conn,
        TransactionKind::Payment,
        source,
        &[
            (Account::GatewayClearing, gross),
            (Account::CustomerReceivable, -gross),
        ],
    )?;
    Ok(())
}
