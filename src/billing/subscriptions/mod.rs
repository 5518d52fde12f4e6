//! Subscriptions: sign up to a plan (a trial, or a first charge), change plan with credit
//! for unused time, cancel now or at the period's end, and renewals with dunning:
//!
//! ```text
//! trialing --period ends, charge ok--> active --period ends, charge ok--> active
//!    |                                   |
//!    +--charge declined--> past_due --retry ok--> active
//!                             +--last retry declined--> canceled
//! ```
//! Renewals are functions of `now`, run by a job (`renew_due`), so tests drive them with
//! a controlled clock. A renewal charge is keyed by (subscription, period): one period is
//! never charged twice, and a crash leaves a `processing` payment the reconcile sweep settles.
//!
//! Each use case has a file of its own (`subscribe`, `change`, `cancel`, `renew`); this one
//! holds what they share and what the rest of the service asks of a subscription: the row
//! and its status, the view, the customer's live subscription and what it gives (the fee
//! discount, the bookings allowance), and the plan line every charge of a period is made of.

mod cancel;
mod change;
mod renew;
mod subscribe;

pub use change::proration_credit;
pub(super) use renew::{on_period_declined, on_period_paid};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::gateway::ChargeOutcome;
use super::ledger::Account;
use super::methods::MethodView;
use super::money::ChargeLine;
use super::payments::{Billing, PaymentStatus};
use super::plans::{self, PlanRow, PlanView};
use crate::auth::Role;
use crate::customers::service::{customer_for_user, find_customer};
use crate::customers::store::CustomerRow;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::{ApiError, FieldError};
use crate::schema::{payments as payment_table, plans as plan_table, subscriptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    PastDue,
    Canceled,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            _ => Self::Canceled,
        }
    }

    /// Whether the plan's benefits apply.
    fn in_good_standing(self) -> bool {
        matches!(self, Self::Trialing | Self::Active)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub plan_id: Uuid,
    pub status: String,
    pub payment_method_id: Option<Uuid>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub dunning_attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SubscriptionRow {
    pub fn status(&self) -> SubscriptionStatus {
        SubscriptionStatus::parse(&self.status)
    }
}

#[derive(Debug, Serialize)]
pub struct Proration {
    /// Credit for the unused time of the old plan, refunded to the card.
    #[serde(with = "rust_decimal::serde::str")]
    pub credit: Decimal,
    /// Charged now for the new plan's first period (with VAT).
    #[serde(with = "rust_decimal::serde::str")]
    pub charged: Decimal,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub plan: PlanView,
    pub status: SubscriptionStatus,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    /// While `past_due`: failed renewal charges so far, and when the next is tried.
    pub dunning_attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub card: Option<MethodView>,
    /// Bookings this period against the plan's allowance (see [`bookings_used`]).
    pub bookings_used: i64,
    /// Whether the customer has had their one trial: a new subscription is charged at once.
    pub trial_used: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proration: Option<Proration>,
}

fn live(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<Option<SubscriptionRow>> {
    subscriptions::table
        .filter(subscriptions::customer_id.eq(customer_id))
        .filter(subscriptions::status.ne(SubscriptionStatus::Canceled.as_str()))
        .for_no_key_update()
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()
}

/// The customer's discount on our booking fee (0 without a subscription in good standing).
pub fn fee_discount(conn: &mut PgConnection, customer_id: Uuid) -> Result<i32, ApiError> {
    let row: Option<(String, i32)> = subscriptions::table
        .inner_join(plan_table::table)
        .filter(subscriptions::customer_id.eq(customer_id))
        .filter(subscriptions::status.ne(SubscriptionStatus::Canceled.as_str()))
        .select((subscriptions::status, plan_table::fee_discount_percent))
        .first(conn)
        .optional()?;
    Ok(row.map_or(0, |(status, percent)| {
        discount_for(Some(status), Some(percent))
    }))
}

fn discount_for(status: Option<String>, percent: Option<i32>) -> i32 {
    status
        .filter(|status| SubscriptionStatus::parse(status).in_good_standing())
        .and(percent)
        .unwrap_or(0)
}

/// Plan discounts for the searcher, which prices offers for the customer searching.
pub struct SearchDiscounts;

impl crate::providers::search::PlanDiscounts for SearchDiscounts {
    fn percent(
        &self,
        conn: &mut PgConnection,
        shopper: crate::providers::search::Shopper,
    ) -> Result<Option<i32>, ApiError> {
        use crate::providers::search::Shopper;
        let of = match shopper {
            Shopper::User(id) => CustomerOf::ActiveUser(id),
            Shopper::Customer(id) => CustomerOf::Id(id),
        };
        Ok(customer_with_discount(conn, of)?.map(|(_, percent)| percent))
    }
}

/// Whose customer row [`customer_with_discount`] reads.
pub enum CustomerOf {
    /// The customer of this signed-in user, unless the account is disabled.
    ActiveUser(Uuid),
    Id(Uuid),
}

/// Customers beside their live subscription (at most one: a unique index) and its plan.
#[diesel::dsl::auto_type(no_type_alias)]
fn customers_with_plan() -> _ {
    let canceled: &'static str = SubscriptionStatus::Canceled.as_str();
    crate::schema::customers::table
        .left_join(
            subscriptions::table.on(subscriptions::customer_id
                .eq(crate::schema::customers::id)
                .and(subscriptions::status.ne(canceled))),
        )
        .left_join(
            plan_table::table.on(plan_table::id
                .nullable()
                .eq(subscriptions::plan_id.nullable())),
        )
}

/// A customer and their discount on our booking fee, in one read (a booking's first).
pub fn customer_with_discount(
    conn: &mut PgConnection,
    of: CustomerOf,
) -> QueryResult<Option<(CustomerRow, i32)>> {
    use crate::schema::{customers, users};
    let with_plan = (
        CustomerRow::as_select(),
        subscriptions::status.nullable(),
        plan_table::fee_discount_percent.nullable(),
    );
    let row: Option<(CustomerRow, Option<String>, Option<i32>)> = match of {
        CustomerOf::ActiveUser(user_id) => customers_with_plan()
            .inner_join(users::table.on(users::id.nullable().eq(customers::user_id)))
            .filter(users::id.eq(user_id))
            .filter(users::disabled_at.is_null())
            .select(with_plan)
            .first(conn)
            .optional()?,
        CustomerOf::Id(id) => customers_with_plan()
            .filter(customers::id.eq(id))
            .select(with_plan)
            .first(conn)
            .optional()?,
    };
    Ok(row.map(|(customer, status, percent)| (customer, discount_for(status, percent))))
}

/// The bookings this period counts against the plan's allowance: the customer's bookings
/// that left `held` for their provider since the period began (now `pending`, `confirmed`,
/// `completed` or `no_show`), whether anything was paid or nothing was due, and those still
/// `held` whose payment is under way. Cancelled, failed and expired bookings do not count:
/// they gave the customer nothing.
fn bookings_used(conn: &mut PgConnection, sub: &SubscriptionRow) -> QueryResult<i64> {
    use crate::schema::{booking_events, bookings};
    // Bookings' statuses as stored (bookings' `BookingStatus`: billing sits below bookings
    // and names them by their text).
    const HELD: &str = "held";
    const PENDING: &str = "pending";
    const SUBMITTED: [&str; 4] = [PENDING, "confirmed", "completed", "no_show"];
    let submitted: i64 = bookings::table
        .filter(bookings::customer_id.eq(sub.customer_id))
        .filter(bookings::status.eq_any(SUBMITTED))
        .filter(diesel::dsl::exists(
            booking_events::table
                .filter(booking_events::booking_id.eq(bookings::id))
                .filter(booking_events::from_status.eq(HELD))
                .filter(booking_events::to_status.eq(PENDING))
                .filter(booking_events::at.ge(sub.current_period_start)),
        ))
        .count()
        .get_result(conn)?;
    let being_paid: i64 = bookings::table
        .filter(bookings::customer_id.eq(sub.customer_id))
        .filter(bookings::status.eq(HELD))
        .filter(diesel::dsl::exists(
            payment_table::table
                .filter(payment_table::booking_id.eq(bookings::id.nullable()))
                .filter(payment_table::status.eq_any([
                    PaymentStatus::Processing.as_str(),
                    PaymentStatus::RequiresAction.as_str(),
                ]))
                .filter(payment_table::created_at.ge(sub.current_period_start)),
        ))
        .count()
        .get_result(conn)?;
    Ok(submitted + being_paid)
}

/// Checks the plan's booking allowance before a booking is paid, or sent on with nothing to
/// pay (the subscription row stays locked until the payment row is written or the booking
/// has left `held`, so racing payments count each other). Returns the subscription the
/// payment counts against, if any.
pub fn charge_allowance(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    let Some(sub) = live(conn, customer_id)? else {
        return Ok(None);
    };
    if !sub.status().in_good_standing() {
        return Ok(None);
    }
    let plan = plans::find(conn, sub.plan_id)?;
    if let Some(allowed) = plan.bookings_per_period
        && bookings_used(conn, &sub)? >= i64::from(allowed)
    {
        return Err(ApiError::Conflict {
            code: "billing.plan_limit",
            detail: format!(
                "the {} plan allows {allowed} bookings per {}; this period's are used",
                plan.name_en,
                plan.interval().as_str()
            ),
        });
    }
    Ok(Some(sub.id))
}

fn plan_line(plan: &PlanRow, vat_rate: Decimal) -> ChargeLine {
    ChargeLine::new(
        "plan",
        (
            &format!("اشتراك {} ({})", plan.name_ar, interval_ar(plan)),
            &format!(
                "{} subscription (1 {})",
                plan.name_en,
                plan.interval().as_str()
            ),
        ),
        Account::SubscriptionRevenue,
        plan.price,
        vat_rate,
    )
}

fn interval_ar(plan: &PlanRow) -> &'static str {
    match plan.interval() {
        plans::Interval::Month => "شهر",
        plans::Interval::Year => "سنة",
    }
}

/// Renewals are charged without the customer: a 3-D Secure step cannot happen, and a
/// sign-up or plan change needing one is refused rather than left half-done.
fn without_action(outcome: ChargeOutcome) -> ChargeOutcome {
    match outcome {
        ChargeOutcome::RequiresAction { gateway_ref, .. } => ChargeOutcome::Declined {
            gateway_ref: Some(gateway_ref),
            code: "authentication_required".into(),
            message: "this card needs a 3-D Secure step, which subscriptions cannot take; \
                      use another card"
                .into(),
        },
        other => other,
    }
}

/// The customer a request is about: a customer themselves, or the client staff name.
fn customer_of(
    conn: &mut PgConnection,
    actor: &Actor,
    customer_id: Option<Uuid>,
) -> Result<CustomerRow, ApiError> {
    match (actor.role, customer_id) {
        (Role::Customer, None) => {
            let user = crate::auth::store::find_active_user(conn, actor.user_id)?;
            customer_for_user(conn, &user.into())
        }
        (Role::Customer, Some(_)) | (Role::Provider, _) => Err(ApiError::Forbidden),
        (_, Some(id)) => find_customer(conn, id).map_err(|e| match e {
            ApiError::NotFound => {
                ApiError::Validation(vec![FieldError::new("customer_id", "no such customer")])
            }
            other => other,
        }),
        (_, None) => Err(ApiError::Validation(vec![FieldError::new(
            "customer_id",
            "is required when acting for a client",
        )])),
    }
}

/// The active plan a sign-up or a plan change names (a validation error otherwise).
fn active_plan(conn: &mut PgConnection, plan_code: &str) -> Result<PlanRow, ApiError> {
    plans::find_by_code(conn, plan_code)
        .optional()?
        .filter(|p| p.active)
        .ok_or_else(|| ApiError::Validation(vec![FieldError::new("plan", "no such plan")]))
}

impl Billing {
    fn subscription_view(
        &self,
        conn: &mut PgConnection,
        sub: SubscriptionRow,
        proration: Option<Proration>,
    ) -> Result<SubscriptionView, ApiError> {
        let plan = plans::find(conn, sub.plan_id)?;
        let card = crate::billing::methods::card_view(conn, sub.payment_method_id)?;
        Ok(SubscriptionView {
            id: sub.id,
            customer_id: sub.customer_id,
            plan: PlanView::new(&plan, self.vat_rate),
            status: sub.status(),
            bookings_used: bookings_used(conn, &sub)?,
            trial_used: crate::schema::customers::table
                .find(sub.customer_id)
                .select(crate::schema::customers::trial_used_at)
                .first::<Option<DateTime<Utc>>>(conn)?
                .is_some(),
            current_period_start: sub.current_period_start,
            current_period_end: sub.current_period_end,
            cancel_at_period_end: sub.cancel_at_period_end,
            canceled_at: sub.canceled_at,
            dunning_attempts: sub.dunning_attempts,
            next_attempt_at: sub.next_attempt_at,
            card,
            proration,
        })
    }

    /// The customer's live subscription (404 when there is none).
    pub async fn my_subscription(
        &self,
        actor: Actor,
        customer_id: Option<Uuid>,
    ) -> Result<Option<SubscriptionView>, ApiError> {
        let this = self.clone();
        run_blocking(&self.pool, move |conn| {
            let customer = customer_of(conn, &actor, customer_id)?;
            live(conn, customer.id)?
                .map(|sub| this.subscription_view(conn, sub, None))
                .transpose()
        })
        .await
    }
}

/// What staff do to a customer's subscription is audited; what customers do themselves is
/// not (their own requests are the record).
fn audit_staff(
    conn: &mut PgConnection,
    actor: &Actor,
    sub: &SubscriptionRow,
    action: &str,
) -> Result<(), ApiError> {
    if actor.is_staff() {
        crate::audit::record(
            conn,
            &crate::audit::AuditEntry {
                actor_id: actor.user_id,
                actor_role: actor.role,
                on_behalf_of: Some(sub.customer_id),
                action,
                entity_type: "subscription",
                entity_id: sub.id.to_string(),
                request_id: actor.request_id.clone(),
                details: serde_json::json!({ "status": sub.status }),
            },
        )?;
    }
    Ok(())
}

/// A charge of one of a subscription's periods (starting `period_start`, for `line`) to the
/// card `method_id`, written `processing` before the gateway is called.
fn period_payment(
    conn: &mut PgConnection,
    sub: &SubscriptionRow,
    method_id: Uuid,
    (period_start, line): (DateTime<Utc>, ChargeLine),
    gateway: &'static str,
    created_by: Option<Uuid>,
) -> QueryResult<super::payments::PaymentRow> {
    let method = crate::schema::payment_methods::table
        .find(method_id)
        .select(super::methods::MethodRow::as_select())
        .first(conn)?;
    super::payments::insert(
        conn,
        &super::payments::NewPayment {
            package_id: None,
            customer_id: sub.customer_id,
            purpose: "subscription",
            booking_id: None,
            booking_change_id: None,
            subscription_id: Some(sub.id),
            period_start: Some(period_start),
            lines: vec![line],
            method,
            gateway,
            created_by,
        },
    )
}
