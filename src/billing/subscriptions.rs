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

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::gateway::{ChargeOutcome, PaymentGateway};
use super::ledger::Account;
use super::methods::{self, Method, MethodRow, MethodView};
use super::money::{ChargeLine, round_sar};
use super::notices::enqueue_subscription_email;
use super::payments::{self, Billing, NewPayment, PaymentRow, PaymentStatus};
use super::plans::{self, PlanRow, PlanView};
use super::refunds;
use crate::auth::Role;
use crate::customers::service::{customer_for_user, find_customer};
use crate::customers::store::CustomerRow;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::{ApiError, FieldError};
use crate::jobs::SubscriptionEmail;
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

fn declined(view: payments::PaymentView) -> ApiError {
    ApiError::PaymentDeclined {
        reason: view.failure_code.unwrap_or_else(|| "card_declined".into()),
        message: view
            .failure_message
            .unwrap_or_else(|| "the card was declined".into()),
    }
}

/// Called when a subscription payment is captured: a renewal (its period starts where the
/// subscription's ends) moves the subscription into the next period. A sign-up charge
/// whose subscription was never made (a race lost) is refunded in full.
pub(super) fn on_period_paid(
    conn: &mut PgConnection,
    payment: &PaymentRow,
) -> Result<(), ApiError> {
    let Some(sub_id) = payment.subscription_id else {
        refunds::reserve(
            conn,
            payment.id,
            payment.amount - payment.refunded,
            "the subscription could not be started",
            None,
        )?;
        return Ok(());
    };
    let sub: SubscriptionRow = subscriptions::table
        .find(sub_id)
        .for_no_key_update()
        .select(SubscriptionRow::as_select())
        .first(conn)?;
    if payment.period_start != Some(sub.current_period_end)
        || sub.status() == SubscriptionStatus::Canceled
    {
        return Ok(());
    }
    let plan = plans::find(conn, sub.plan_id)?;
    diesel::update(subscriptions::table.find(sub.id))
        .set((
            subscriptions::status.eq(SubscriptionStatus::Active.as_str()),
            subscriptions::current_period_start.eq(sub.current_period_end),
            subscriptions::current_period_end.eq(plan.interval().after(sub.current_period_end)),
            subscriptions::dunning_attempts.eq(0),
            subscriptions::next_attempt_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)?;
    enqueue_subscription_email(conn, sub.id, SubscriptionEmail::Renewed, Some(payment.id))?;
    Ok(())
}

/// Called when a renewal charge is declined: the next dunning step, or the end.
pub(super) fn on_period_declined(
    conn: &mut PgConnection,
    payment: &PaymentRow,
    dunning_days: &[u32],
) -> Result<(), ApiError> {
    let Some(sub_id) = payment.subscription_id else {
        return Ok(());
    };
    let sub: SubscriptionRow = subscriptions::table
        .find(sub_id)
        .for_no_key_update()
        .select(SubscriptionRow::as_select())
        .first(conn)?;
    if payment.period_start != Some(sub.current_period_end)
        || sub.status() == SubscriptionStatus::Canceled
    {
        return Ok(());
    }
    let failures = sub.dunning_attempts + 1;
    match dunning_days.get(usize::try_from(failures - 1).unwrap_or(usize::MAX)) {
        Some(days) => {
            diesel::update(subscriptions::table.find(sub.id))
                .set((
                    subscriptions::status.eq(SubscriptionStatus::PastDue.as_str()),
                    subscriptions::dunning_attempts.eq(failures),
                    subscriptions::next_attempt_at
                        .eq(sub.current_period_end + chrono::Duration::days(i64::from(*days))),
                ))
                .execute(conn)?;
            enqueue_subscription_email(
                conn,
                sub.id,
                SubscriptionEmail::PaymentFailed,
                Some(payment.id),
            )?;
        }
        None => {
            diesel::update(subscriptions::table.find(sub.id))
                .set((
                    subscriptions::status.eq(SubscriptionStatus::Canceled.as_str()),
                    subscriptions::dunning_attempts.eq(failures),
                    subscriptions::canceled_at.eq(Utc::now()),
                    subscriptions::next_attempt_at.eq(None::<DateTime<Utc>>),
                ))
                .execute(conn)?;
            enqueue_subscription_email(conn, sub.id, SubscriptionEmail::Canceled, None)?;
        }
    };
    Ok(())
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

impl Billing {
    fn subscription_view(
        &self,
        conn: &mut PgConnection,
        sub: SubscriptionRow,
        proration: Option<Proration>,
    ) -> Result<SubscriptionView, ApiError> {
        let plan = plans::find(conn, sub.plan_id)?;
        let card = match sub.payment_method_id {
            Some(id) => crate::schema::payment_methods::table
                .find(id)
                .select(MethodRow::as_select())
                .first(conn)
                .optional()?
                .as_ref()
                .map(MethodView::from),
            None => None,
        };
        Ok(SubscriptionView {
            id: sub.id,
            customer_id: sub.customer_id,
            plan: PlanView::new(&plan, self.vat_rate),
            status: sub.status(),
            bookings_used: bookings_used(conn, &sub)?,
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
    ) -> Result<SubscriptionView, ApiError> {
        let this = self.clone();
        run_blocking(&self.pool, move |conn| {
            let customer = customer_of(conn, &actor, customer_id)?;
            let sub = live(conn, customer.id)?.ok_or(ApiError::NotFound)?;
            this.subscription_view(conn, sub, None)
        })
        .await
    }

    /// Signs a customer up. A free plan, or a plan's trial, charges nothing now; otherwise
    /// the first period is charged at once and the subscription exists only if that
    /// succeeds. A customer gets one trial ever, on any plan: one who had a trial is charged
    /// at once, like a plan without one.
    pub async fn subscribe(
        &self,
        actor: Actor,
        customer_id: Option<Uuid>,
        plan_code: String,
        method: Option<Method>,
    ) -> Result<SubscriptionView, ApiError> {
        let (customer, plan, trial_used) = {
            let actor = actor.clone();
            run_blocking(&self.pool, move |conn| {
                let customer = customer_of(conn, &actor, customer_id)?;
                let plan = plans::find_by_code(conn, &plan_code)
                    .optional()?
                    .filter(|p| p.active)
                    .ok_or_else(|| {
                        ApiError::Validation(vec![FieldError::new("plan", "no such plan")])
                    })?;
                if live(conn, customer.id)?.is_some() {
                    return Err(exists());
                }
                let trial_used = trial_used(conn, customer.id)?;
                Ok((customer, plan, trial_used))
            })
            .await?
        };
        let method = match (method, plan.is_free()) {
            (Some(method), _) => {
                Some(methods::resolve(&self.pool, &self.gateway, &customer, method).await?)
            }
            (None, true) => None,
            (None, false) => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "payment_method_id",
                    "a paid plan needs a card: give payment_method_id, card or token",
                )]));
            }
        };
        let now = Utc::now();
        let created_by = actor.is_staff().then_some(actor.user_id);
        let trial = !plan.is_free() && plan.trial_days > 0 && !trial_used;
        if plan.is_free() || trial {
            let (status, end) = if plan.is_free() {
                (SubscriptionStatus::Active, plan.interval().after(now))
            } else {
                (
                    SubscriptionStatus::Trialing,
                    now + chrono::Duration::days(i64::from(plan.trial_days)),
                )
            };
            let this = self.clone();
            let plan = plan.clone();
            let method = method.clone();
            let made = run_blocking(&self.pool, move |conn| {
                conn.transaction(|conn| {
                    // The customer's one trial, taken here: a sign-up racing this one that
                    // took it first leaves this one to be charged below.
                    if trial && !take_trial(conn, customer.id, now)? {
                        return Ok(None);
                    }
                    // Kept for the renewals: saved now, as a payment's card is once it paid.
                    let method_id = methods::keep_card(conn, method.as_ref().map(|m| m.id))?;
                    let sub = insert_subscription(
                        conn,
                        customer.id,
                        &plan,
                        status,
                        method_id,
                        (now, end),
                        created_by,
                    )?;
                    this.subscription_view(conn, sub, None).map(Some)
                })
            })
            .await?;
            if let Some(view) = made {
                return Ok(view);
            }
        }
        let method = method.expect("a paid plan has a card");
        let vat_rate = self.vat_rate;
        let gateway = self.gateway.name();
        let line = plan_line(&plan, vat_rate);
        let payment = {
            let method = method.clone();
            let customer_id = customer.id;
            run_blocking(&self.pool, move |conn| {
                conn.transaction(|conn| {
                    // Checked again under the customer's lock: a sign-up that finished since
                    // the first look must not be paid for twice. (One still being paid is
                    // kept out by the payments_one_signup_per_customer index.)
                    lock_customer(conn, customer_id)?;
                    if live(conn, customer_id)?.is_some() {
                        return Err(exists());
                    }
                    Ok(payments::insert(
                        conn,
                        &NewPayment {
                            customer_id,
                            purpose: "subscription",
                            booking_id: None,
                            subscription_id: None,
                            period_start: None,
                            lines: vec![line],
                            method,
                            gateway,
                            created_by,
                        },
                    )?)
                })
            })
            .await?
        };
        let outcome = without_action(
            self.charge(&payment, false, &format!("Wasit {} plan", plan.code))
                .await?,
        );
        if matches!(outcome, ChargeOutcome::Succeeded { .. }) {
            // Make the subscription first, so the captured payment belongs to it.
            let made = {
                let payment_id = payment.id;
                let plan = plan.clone();
                let method_id = method.id;
                run_blocking(&self.pool, move |conn| {
                    conn.transaction(|conn| {
                        lock_customer(conn, customer.id)?;
                        let sub = insert_subscription(
                            conn,
                            customer.id,
                            &plan,
                            SubscriptionStatus::Active,
                            Some(method_id),
                            (now, plan.interval().after(now)),
                            created_by,
                        )?;
                        diesel::update(payment_table::table.find(payment_id))
                            .set((
                                payment_table::subscription_id.eq(sub.id),
                                payment_table::period_start.eq(now),
                            ))
                            .execute(conn)?;
                        Ok(sub.id)
                    })
                })
                .await
            };
            self.apply_outcome(payment.id, outcome, Some(actor)).await?;
            let sub_id = made?;
            let this = self.clone();
            return run_blocking(&self.pool, move |conn| {
                let sub = subscriptions::table
                    .find(sub_id)
                    .select(SubscriptionRow::as_select())
                    .first(conn)?;
                this.subscription_view(conn, sub, None)
            })
            .await;
        }
        Err(declined(
            self.apply_outcome(payment.id, outcome, Some(actor)).await?,
        ))
    }

    /// Cancels now, or at the end of the period (a trial then ends without a charge).
    pub async fn cancel_subscription(
        &self,
        actor: Actor,
        customer_id: Option<Uuid>,
        at_period_end: bool,
    ) -> Result<SubscriptionView, ApiError> {
        let this = self.clone();
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let customer = customer_of(conn, &actor, customer_id)?;
                let sub = live(conn, customer.id)?.ok_or(ApiError::NotFound)?;
                let updated = if at_period_end && sub.status() != SubscriptionStatus::PastDue {
                    diesel::update(subscriptions::table.find(sub.id))
                        .set(subscriptions::cancel_at_period_end.eq(true))
                        .returning(SubscriptionRow::as_returning())
                        .get_result(conn)?
                } else {
                    diesel::update(subscriptions::table.find(sub.id))
                        .set((
                            subscriptions::status.eq(SubscriptionStatus::Canceled.as_str()),
                            subscriptions::canceled_at.eq(Utc::now()),
                            subscriptions::next_attempt_at.eq(None::<DateTime<Utc>>),
                        ))
                        .returning(SubscriptionRow::as_returning())
                        .get_result(conn)?
                };
                if updated.status() == SubscriptionStatus::Canceled {
                    enqueue_subscription_email(
                        conn,
                        updated.id,
                        SubscriptionEmail::Canceled,
                        None,
                    )?;
                }
                audit_staff(conn, &actor, &updated, "subscription.cancel")?;
                this.subscription_view(conn, updated, None)
            })
        })
        .await
    }

    /// Moves to another plan now. The old plan's unused time is credited back to the card
    /// (a refund of that share of what this period cost); a paid plan's first period is
    /// charged in full and starts now. A change during a trial ends the trial: nothing is
    /// credited, and a paid plan is charged in full now (a trial is for the plan it began
    /// on, not a way to try every plan for free).
    ///
    /// Changes of one subscription take turns on its row lock, and each decides under it:
    /// one already made answers `subscription.same_plan`, and one whose new plan is still
    /// being charged `payment.in_progress`, so the period is credited once and the new plan
    /// charged once however many changes race.
    pub async fn change_plan(
        &self,
        actor: Actor,
        customer_id: Option<Uuid>,
        plan_code: String,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionView, ApiError> {
        let step = {
            let actor = actor.clone();
            let line_vat = self.vat_rate;
            let gateway = self.gateway.name();
            run_blocking(&self.pool, move |conn| {
                conn.transaction(|conn| {
                    let customer = customer_of(conn, &actor, customer_id)?;
                    // Locked until this transaction ends.
                    let sub = live(conn, customer.id)?.ok_or(ApiError::NotFound)?;
                    let new_plan = plans::find_by_code(conn, &plan_code)
                        .optional()?
                        .filter(|p| p.active)
                        .ok_or_else(|| {
                            ApiError::Validation(vec![FieldError::new("plan", "no such plan")])
                        })?;
                    if new_plan.id == sub.plan_id {
                        return Err(ApiError::Conflict {
                            code: "subscription.same_plan",
                            detail: "the subscription is already on this plan".into(),
                        });
                    }
                    if sub.status() == SubscriptionStatus::PastDue {
                        return Err(ApiError::Conflict {
                            code: "subscription.past_due",
                            detail: "a renewal is overdue; the plan can change once it is paid"
                                .into(),
                        });
                    }
                    if payment_open(conn, sub.id)? {
                        return Err(ApiError::Conflict {
                            code: "payment.in_progress",
                            detail: "a payment for this subscription (another plan change, or \
                                     a renewal) is under way; try again once it is settled"
                                .into(),
                        });
                    }
                    if !new_plan.is_free() && sub.payment_method_id.is_none() {
                        return Err(ApiError::Validation(vec![FieldError::new(
                            "plan",
                            "a paid plan needs a saved card; cancel and subscribe with one",
                        )]));
                    }
                    if new_plan.is_free() {
                        let (updated, credit) = apply_change(conn, &sub, &new_plan, now, &actor)?;
                        return Ok(ChangeStep::Made(updated, credit));
                    }
                    // The new plan's charge, written under the lock: until it is settled,
                    // other changes of this subscription are refused.
                    let method = crate::schema::payment_methods::table
                        .find(sub.payment_method_id.unwrap_or_default())
                        .select(MethodRow::as_select())
                        .first(conn)?;
                    let payment = payments::insert(
                        conn,
                        &NewPayment {
                            customer_id: sub.customer_id,
                            purpose: "subscription",
                            booking_id: None,
                            subscription_id: Some(sub.id),
                            period_start: Some(now),
                            lines: vec![plan_line(&new_plan, line_vat)],
                            method,
                            gateway,
                            created_by: actor.is_staff().then_some(actor.user_id),
                        },
                    )?;
                    Ok(ChangeStep::Charge(Box::new(PendingChange {
                        payment,
                        sub,
                        new_plan,
                    })))
                })
            })
            .await?
        };
        let (updated, credit, charged) = match step {
            ChangeStep::Made(updated, credit) => (updated, credit, Decimal::ZERO),
            ChangeStep::Charge(pending) => {
                let PendingChange {
                    payment,
                    sub,
                    new_plan,
                } = *pending;
                let outcome = without_action(
                    self.charge(&payment, false, &format!("Wasit {} plan", new_plan.code))
                        .await?,
                );
                if !matches!(outcome, ChargeOutcome::Succeeded { .. }) {
                    return Err(declined(
                        self.apply_outcome(payment.id, outcome, None).await?,
                    ));
                }
                let made = {
                    let actor = actor.clone();
                    run_blocking(&self.pool, move |conn| {
                        conn.transaction(|conn| {
                            let current: SubscriptionRow = subscriptions::table
                                .find(sub.id)
                                .for_no_key_update()
                                .select(SubscriptionRow::as_select())
                                .first(conn)?;
                            // Cancelled, renewed or gone past due while the card was charged.
                            let moved = current.plan_id != sub.plan_id
                                || current.status != sub.status
                                || current.current_period_start != sub.current_period_start;
                            if moved {
                                return Ok(None);
                            }
                            apply_change(conn, &current, &new_plan, now, &actor).map(Some)
                        })
                    })
                    .await?
                };
                self.apply_outcome(payment.id, outcome, Some(actor)).await?;
                let Some((updated, credit)) = made else {
                    let payment_id = payment.id;
                    let amount = payment.amount;
                    run_blocking(&self.pool, move |conn| {
                        conn.transaction(|conn| {
                            payments::lock_owner(conn, payment_id)?;
                            refunds::reserve(
                                conn,
                                payment_id,
                                amount,
                                "the plan change could not be made",
                                None,
                            )
                        })
                    })
                    .await?;
                    self.wake.notify_waiters();
                    return Err(ApiError::Conflict {
                        code: "subscription.changed",
                        detail: "the subscription changed while the new plan was being paid; \
                                 the charge is refunded"
                            .into(),
                    });
                };
                (updated, credit, payment.amount)
            }
        };
        self.wake.notify_waiters();
        let this = self.clone();
        run_blocking(&self.pool, move |conn| {
            this.subscription_view(conn, updated, Some(Proration { credit, charged }))
        })
        .await
    }

    /// Job: subscriptions whose period ended (renew, or end when cancelled at period end)
    /// and those whose next dunning retry is due. `now` is the clock (tests move it).
    pub async fn renew_due(&self, now: DateTime<Utc>) -> Result<usize, ApiError> {
        let due: Vec<SubscriptionRow> = run_blocking(&self.pool, move |conn| {
            Ok(subscriptions::table
                .filter(
                    subscriptions::status
                        .eq_any(["trialing", "active"])
                        .and(subscriptions::current_period_end.le(now))
                        .or(subscriptions::status
                            .eq("past_due")
                            .and(subscriptions::next_attempt_at.le(now))),
                )
                .order(subscriptions::current_period_end)
                .limit(200)
                .select(SubscriptionRow::as_select())
                .load(conn)?)
        })
        .await?;
        let mut handled = 0;
        for sub in due {
            match self.renew_one(sub, now).await {
                Ok(()) => handled += 1,
                Err(error) => tracing::warn!(error = %error.describe(),
                    "a renewal could not run; the next sweep retries"),
            }
        }
        Ok(handled)
    }

    async fn renew_one(&self, sub: SubscriptionRow, now: DateTime<Utc>) -> Result<(), ApiError> {
        let plan = {
            let plan_id = sub.plan_id;
            run_blocking(&self.pool, move |conn| Ok(plans::find(conn, plan_id)?)).await?
        };
        if sub.cancel_at_period_end && sub.status().in_good_standing() {
            return run_blocking(&self.pool, move |conn| {
                let ended = diesel::update(subscriptions::table.find(sub.id))
                    .filter(subscriptions::status.ne("canceled"))
                    .set((
                        subscriptions::status.eq(SubscriptionStatus::Canceled.as_str()),
                        subscriptions::canceled_at.eq(sub.current_period_end),
                    ))
                    .execute(conn)?;
                if ended > 0 {
                    enqueue_subscription_email(conn, sub.id, SubscriptionEmail::Canceled, None)?;
                }
                Ok(())
            })
            .await;
        }
        if plan.is_free() {
            return run_blocking(&self.pool, move |conn| {
                let mut end = sub.current_period_end;
                let mut start = sub.current_period_start;
                while end <= now {
                    start = end;
                    end = plan.interval().after(end);
                }
                diesel::update(subscriptions::table.find(sub.id))
                    .set((
                        subscriptions::current_period_start.eq(start),
                        subscriptions::current_period_end.eq(end),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await;
        }
        let line = plan_line(&plan, self.vat_rate);
        let gateway = self.gateway.name();
        let method_id = sub.payment_method_id;
        let payment = run_blocking(&self.pool, move |conn| {
            let Some(method_id) = method_id else {
                return Ok(None);
            };
            let method = crate::schema::payment_methods::table
                .find(method_id)
                .select(MethodRow::as_select())
                .first(conn)?;
            let inserted = payments::insert(
                conn,
                &NewPayment {
                    customer_id: sub.customer_id,
                    purpose: "subscription",
                    booking_id: None,
                    subscription_id: Some(sub.id),
                    period_start: Some(sub.current_period_end),
                    lines: vec![line],
                    method,
                    gateway,
                    created_by: None,
                },
            );
            match inserted {
                Ok(row) => Ok(Some(row)),
                // This period is already paid or being paid (another sweep, a crash).
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Ok(None),
                Err(other) => Err(other.into()),
            }
        })
        .await?;
        let Some(payment) = payment else {
            return Ok(());
        };
        let outcome = without_action(
            self.charge(&payment, true, &format!("Wasit {} plan renewal", plan.code))
                .await?,
        );
        self.apply_outcome(payment.id, outcome, None).await?;
        Ok(())
    }
}

/// Serialises one customer's sign-ups: taken before checking for a live subscription and
/// before making one.
fn lock_customer(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<()> {
    crate::schema::customers::table
        .find(customer_id)
        .select(crate::schema::customers::id)
        .for_no_key_update()
        .execute(conn)
        .map(|_| ())
}

/// What a plan change decided under its subscription's lock.
enum ChangeStep {
    /// Nothing to charge: the change is made, with this credit.
    Made(SubscriptionRow, Decimal),
    /// The new plan's first period is to be charged.
    Charge(Box<PendingChange>),
}

struct PendingChange {
    /// Written, not yet sent to the gateway.
    payment: PaymentRow,
    /// As it was when the change was decided.
    sub: SubscriptionRow,
    new_plan: PlanRow,
}

/// Whether a payment for this subscription is still open (a plan change being charged, a
/// renewal under way, or one a crash left `processing` for the reconcile sweep).
fn payment_open(conn: &mut PgConnection, subscription_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        payment_table::table
            .filter(payment_table::subscription_id.eq(subscription_id))
            .filter(payment_table::status.eq_any([
                PaymentStatus::Processing.as_str(),
                PaymentStatus::RequiresAction.as_str(),
            ])),
    ))
    .get_result(conn)
}

/// Moves a locked subscription to `new_plan` as of `now`, and credits the unused share of
/// the period it paid for (refunded to the card). Returns it, and the credit.
fn apply_change(
    conn: &mut PgConnection,
    sub: &SubscriptionRow,
    new_plan: &PlanRow,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<(SubscriptionRow, Decimal), ApiError> {
    let old_plan = plans::find(conn, sub.plan_id)?;
    let paid: Option<PaymentRow> = payment_table::table
        .filter(payment_table::subscription_id.eq(sub.id))
        .filter(payment_table::period_start.eq(sub.current_period_start))
        .filter(payment_table::status.eq(PaymentStatus::Succeeded.as_str()))
        .select(PaymentRow::as_select())
        .first(conn)
        .optional()?;
    let credit = match (&paid, sub.status()) {
        (Some(paid), SubscriptionStatus::Active) => {
            proration_credit(paid, sub.current_period_start, sub.current_period_end, now)
        }
        _ => Decimal::ZERO,
    };
    // A new period starts now (a trial ends here: its plan was not paid for).
    let updated: SubscriptionRow = diesel::update(subscriptions::table.find(sub.id))
        .set((
            subscriptions::plan_id.eq(new_plan.id),
            subscriptions::status.eq(SubscriptionStatus::Active.as_str()),
            subscriptions::current_period_start.eq(now),
            subscriptions::current_period_end.eq(new_plan.interval().after(now)),
            subscriptions::cancel_at_period_end.eq(false),
        ))
        .returning(SubscriptionRow::as_returning())
        .get_result(conn)?;
    if let (Some(paid), true) = (&paid, credit > Decimal::ZERO) {
        refunds::reserve(
            conn,
            paid.id,
            credit,
            &format!("unused time on the {} plan", old_plan.name_en),
            actor.is_staff().then_some(actor.user_id),
        )?;
    }
    audit_staff(conn, actor, &updated, "subscription.change_plan")?;
    Ok((updated, credit))
}

/// Whether the customer has had their one trial.
fn trial_used(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<bool> {
    crate::schema::customers::table
        .find(customer_id)
        .select(crate::schema::customers::trial_used_at.is_not_null())
        .first(conn)
}

/// Takes the customer's one trial; false when it was already taken.
fn take_trial(conn: &mut PgConnection, customer_id: Uuid, now: DateTime<Utc>) -> QueryResult<bool> {
    use crate::schema::customers;
    diesel::update(customers::table.find(customer_id))
        .filter(customers::trial_used_at.is_null())
        .set(customers::trial_used_at.eq(now))
        .execute(conn)
        .map(|taken| taken == 1)
}

fn exists() -> ApiError {
    ApiError::Conflict {
        code: "subscription.exists",
        detail: "this customer already has a live subscription; change its plan instead".into(),
    }
}

/// Credit for the unused part of a period: what was paid for it (less refunds), in
/// proportion to the time left, rounded half-up.
pub fn proration_credit(
    paid: &PaymentRow,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Decimal {
    let total = (end - start).num_seconds();
    let left = (end - now).num_seconds().clamp(0, total.max(0));
    if total <= 0 {
        return Decimal::ZERO;
    }
    let refundable = paid.amount - paid.refunded;
    round_sar(refundable * Decimal::from(left) / Decimal::from(total)).min(refundable)
}

fn insert_subscription(
    conn: &mut PgConnection,
    customer_id: Uuid,
    plan: &PlanRow,
    status: SubscriptionStatus,
    method_id: Option<Uuid>,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    created_by: Option<Uuid>,
) -> Result<SubscriptionRow, ApiError> {
    Ok(diesel::insert_into(subscriptions::table)
        .values((
            subscriptions::customer_id.eq(customer_id),
            subscriptions::plan_id.eq(plan.id),
            subscriptions::status.eq(status.as_str()),
            subscriptions::payment_method_id.eq(method_id),
            subscriptions::current_period_start.eq(start),
            subscriptions::current_period_end.eq(end),
            subscriptions::created_by.eq(created_by),
        ))
        .returning(SubscriptionRow::as_returning())
        .get_result::<SubscriptionRow>(conn)
        .and_then(|sub| {
            enqueue_subscription_email(conn, sub.id, SubscriptionEmail::Started, None)?;
            Ok(sub)
        })?)
}

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
