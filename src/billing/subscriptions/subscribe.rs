//! Starting a subscription. A free plan, or a plan's trial, starts at once; otherwise the
//! first period is charged and the subscription is made only once that succeeded. A
//! customer gets one trial ever, on any plan (`customers.trial_used_at`, taken by
//! `take_trial` in the transaction that makes the subscription).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::{
    SubscriptionRow, SubscriptionStatus, SubscriptionView, active_plan, customer_of, live,
    plan_line, without_action,
};
use crate::billing::gateway::{ChargeOutcome, PaymentGateway};
use crate::billing::methods::{self, Method, MethodRow};
use crate::billing::money::ChargeLine;
use crate::billing::notices::enqueue_subscription_email;
use crate::billing::payments::{self, Billing, NewPayment, PaymentRow};
use crate::billing::plans::PlanRow;
use crate::customers::store::CustomerRow;
use crate::customers::store::lock_customer;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::{ApiError, FieldError};
use crate::jobs::SubscriptionEmail;
use crate::schema::{payments as payment_table, subscriptions};

/// A sign-up once its card is known: whose, to which plan, as of when, and who made it
/// (staff acting for the customer).
#[derive(Clone)]
struct SignUp {
    customer_id: Uuid,
    plan: PlanRow,
    now: DateTime<Utc>,
    created_by: Option<Uuid>,
}

impl Billing {
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
                first_look(conn, &actor, customer_id, &plan_code)
            })
            .await?
        };
        let method = self.card_for(&customer, &plan, method).await?;
        let sign_up = SignUp {
            customer_id: customer.id,
            now: Utc::now(),
            created_by: actor.is_staff().then_some(actor.user_id),
            plan,
        };
        let plan = &sign_up.plan;
        let trial = !plan.is_free() && plan.trial_days > 0 && !trial_used;
        if (plan.is_free() || trial)
            && let Some(view) = self
                .start_unpaid(sign_up.clone(), method.clone(), trial)
                .await?
        {
            return Ok(view);
        }
        let method = method.expect("a paid plan has a card");
        self.start_paid(actor, sign_up, method).await
    }

    /// The card the sign-up gives, made ready to charge; a paid plan cannot do without.
    async fn card_for(
        &self,
        customer: &CustomerRow,
        plan: &PlanRow,
        method: Option<Method>,
    ) -> Result<Option<MethodRow>, ApiError> {
        match (method, plan.is_free()) {
            (Some(method), _) => Ok(Some(
                methods::resolve(&self.pool, &self.gateway, customer, method).await?,
            )),
            (None, true) => Ok(None),
            (None, false) => Err(ApiError::Validation(vec![FieldError::new(
                "payment_method_id",
                "a paid plan needs a card: give payment_method_id, card or token",
            )])),
        }
    }

    /// Starts a free plan, or the plan's trial, without a charge. `None` when the trial was
    /// taken by a racing sign-up since the first look: this one is then charged.
    async fn start_unpaid(
        &self,
        sign_up: SignUp,
        method: Option<MethodRow>,
        trial: bool,
    ) -> Result<Option<SubscriptionView>, ApiError> {
        let (status, end) = if sign_up.plan.is_free() {
            (
                SubscriptionStatus::Active,
                sign_up.plan.interval().after(sign_up.now),
            )
        } else {
            (
                SubscriptionStatus::Trialing,
                sign_up.now + chrono::Duration::days(i64::from(sign_up.plan.trial_days)),
            )
        };
        let this = self.clone();
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                // The customer's one trial, taken here: a sign-up racing this one that
                // took it first leaves this one to be charged below.
                if trial && !take_trial(conn, sign_up.customer_id, sign_up.now)? {
                    return Ok(None);
                }
                // Kept for the renewals: saved now, as a payment's card is once it paid.
                let method_id = methods::keep_card(conn, method.as_ref().map(|m| m.id))?;
                let sub = insert_subscription(conn, &sign_up, status, method_id, end)?;
                this.subscription_view(conn, sub, None).map(Some)
            })
        })
        .await
    }

    /// Charges the first period, and makes the subscription only if that succeeded.
    async fn start_paid(
        &self,
        actor: Actor,
        sign_up: SignUp,
        method: MethodRow,
    ) -> Result<SubscriptionView, ApiError> {
        let payment = {
            let line = plan_line(&sign_up.plan, self.vat_rate);
            let gateway = self.gateway.name();
            let (customer_id, created_by) = (sign_up.customer_id, sign_up.created_by);
            let method = method.clone();
            run_blocking(&self.pool, move |conn| {
                conn.transaction(|conn| {
                    signup_payment(conn, customer_id, line, method, gateway, created_by)
                })
            })
            .await?
        };
        let outcome = without_action(
            self.charge(
                &payment,
                false,
                &format!("Wasit {} plan", sign_up.plan.code),
            )
            .await?,
        );
        if !matches!(outcome, ChargeOutcome::Succeeded { .. }) {
            return Err(self
                .apply_outcome(payment.id, outcome, Some(actor))
                .await?
                .declined());
        }
        // Make the subscription first, so the captured payment belongs to it.
        let made = {
            let payment_id = payment.id;
            let method_id = method.id;
            run_blocking(&self.pool, move |conn| {
                conn.transaction(|conn| attach_signup(conn, &sign_up, method_id, payment_id))
            })
            .await
        };
        self.apply_outcome(payment.id, outcome, Some(actor)).await?;
        let sub_id = made?;
        let this = self.clone();
        run_blocking(&self.pool, move |conn| {
            let sub = subscriptions::table
                .find(sub_id)
                .select(SubscriptionRow::as_select())
                .first(conn)?;
            this.subscription_view(conn, sub, None)
        })
        .await
    }
}

/// What a sign-up needs to know before it asks for the card: the customer, the plan, and
/// whether they had their trial. Refused when they already have a live subscription.
fn first_look(
    conn: &mut PgConnection,
    actor: &Actor,
    customer_id: Option<Uuid>,
    plan_code: &str,
) -> Result<(CustomerRow, PlanRow, bool), ApiError> {
    let customer = customer_of(conn, actor, customer_id)?;
    let plan = active_plan(conn, plan_code)?;
    if live(conn, customer.id)?.is_some() {
        return Err(exists());
    }
    let trial_used = trial_used(conn, customer.id)?;
    Ok((customer, plan, trial_used))
}

/// Writes the first period's charge, with no subscription yet to own it.
fn signup_payment(
    conn: &mut PgConnection,
    customer_id: Uuid,
    line: ChargeLine,
    method: MethodRow,
    gateway: &'static str,
    created_by: Option<Uuid>,
) -> Result<PaymentRow, ApiError> {
    // Checked again under the customer's lock: a sign-up that finished since
    // the first look must not be paid for twice. (One still being paid is
    // kept out by the payments_one_signup_per_customer index.)
    // Serialises one customer's sign-ups: taken before checking for a live subscription.
    lock_customer(conn, customer_id)?;
    if live(conn, customer_id)?.is_some() {
        return Err(exists());
    }
    Ok(payments::insert(
        conn,
        &NewPayment {
            package_id: None,
            customer_id,
            purpose: "subscription",
            booking_id: None,
            booking_change_id: None,
            subscription_id: None,
            period_start: None,
            lines: vec![line],
            method,
            gateway,
            created_by,
        },
    )?)
}

/// Makes the subscription a captured first charge paid for, and gives the payment to it.
/// Returns its id.
fn attach_signup(
    conn: &mut PgConnection,
    sign_up: &SignUp,
    method_id: Uuid,
    payment_id: Uuid,
) -> Result<Uuid, ApiError> {
    lock_customer(conn, sign_up.customer_id)?;
    let sub = insert_subscription(
        conn,
        sign_up,
        SubscriptionStatus::Active,
        Some(method_id),
        sign_up.plan.interval().after(sign_up.now),
    )?;
    diesel::update(payment_table::table.find(payment_id))
        .set((
            payment_table::subscription_id.eq(sub.id),
            payment_table::period_start.eq(sign_up.now),
        ))
        .execute(conn)?;
    Ok(sub.id)
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

/// Makes the subscription, its period starting at the sign-up's `now`, with the email
/// saying it started in the same transaction.
fn insert_subscription(
    conn: &mut PgConnection,
    sign_up: &SignUp,
    status: SubscriptionStatus,
    method_id: Option<Uuid>,
    end: DateTime<Utc>,
) -> Result<SubscriptionRow, ApiError> {
    Ok(diesel::insert_into(subscriptions::table)
        .values((
            subscriptions::customer_id.eq(sign_up.customer_id),
            subscriptions::plan_id.eq(sign_up.plan.id),
            subscriptions::status.eq(status.as_str()),
            subscriptions::payment_method_id.eq(method_id),
            subscriptions::current_period_start.eq(sign_up.now),
            subscriptions::current_period_end.eq(end),
            subscriptions::created_by.eq(sign_up.created_by),
        ))
        .returning(SubscriptionRow::as_returning())
        .get_result::<SubscriptionRow>(conn)
        .and_then(|sub| {
            enqueue_subscription_email(conn, sub.id, SubscriptionEmail::Started, None)?;
            Ok(sub)
        })?)
}
