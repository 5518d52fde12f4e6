//! Changing plan: the old plan's unused time is credited back to the card, and a paid new
//! plan's first period is charged now. A plan change credits its period once: every change
//! of a subscription is decided under its row lock, and an open payment of the
//! subscription refuses the others until it is settled.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{
    Proration, SubscriptionRow, SubscriptionStatus, SubscriptionView, active_plan, audit_staff,
    customer_of, live, period_payment, plan_line, without_action,
};
use crate::billing::gateway::{ChargeOutcome, PaymentGateway};
use crate::billing::money::round_sar;
use crate::billing::payments::{self, Billing, PaymentRow, PaymentStatus};
use crate::billing::plans::{self, PlanRow};
use crate::billing::refunds;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::{ApiError, FieldError};
use crate::idempotency::IdempotencyClaim;
use crate::schema::{payments as payment_table, subscriptions};

impl Billing {
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
        claim: Option<IdempotencyClaim>,
    ) -> Result<SubscriptionView, ApiError> {
        let decided = {
            let (actor, claim) = (actor.clone(), claim.clone());
            let this = self.clone();
            run_blocking(&self.pool, move |conn| {
                conn.transaction(|conn| {
                    match this.decide_change(conn, &actor, customer_id, &plan_code, now)? {
                        ChangeStep::Made(updated, credit) => this
                            .answer_change(conn, claim.as_ref(), updated, credit, Decimal::ZERO)
                            .map(Ok),
                        ChangeStep::Charge(pending) => Ok(Err(pending)),
                    }
                })
            })
            .await?
        };
        let view = match decided {
            Ok(view) => view,
            Err(pending) => self.charge_change(*pending, actor, now, claim).await?,
        };
        self.wake.notify_waiters();
        Ok(view)
    }

    /// The changed subscription as the request answers it, saved under its Idempotency-Key
    /// in the transaction that made the change.
    fn answer_change(
        &self,
        conn: &mut PgConnection,
        claim: Option<&IdempotencyClaim>,
        updated: SubscriptionRow,
        credit: Decimal,
        charged: Decimal,
    ) -> Result<SubscriptionView, ApiError> {
        let view = self.subscription_view(conn, updated, Some(Proration { credit, charged }))?;
        if let Some(claim) = claim {
            claim.save_in(conn, actix_web::http::StatusCode::OK, &view)?;
        }
        Ok(view)
    }

    /// Under the subscription's lock (taken by `live`, held until the caller's transaction
    /// ends): refuses the change, makes it when nothing is to be charged, or writes the new
    /// plan's charge.
    fn decide_change(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        customer_id: Option<Uuid>,
        plan_code: &str,
        now: DateTime<Utc>,
    ) -> Result<ChangeStep, ApiError> {
        let customer = customer_of(conn, actor, customer_id)?;
        // Locked until this transaction ends.
        let sub = live(conn, customer.id)?.ok_or(ApiError::NotFound)?;
        let new_plan = active_plan(conn, plan_code)?;
        refuse_change(conn, &sub, &new_plan)?;
        if new_plan.is_free() {
            let (updated, credit) = apply_change(conn, &sub, &new_plan, now, actor)?;
            return Ok(ChangeStep::Made(updated, credit));
        }
        // The new plan's charge, written under the lock: until it is settled,
        // other changes of this subscription are refused.
        let payment = period_payment(
            conn,
            &sub,
            sub.payment_method_id.unwrap_or_default(),
            (now, plan_line(&new_plan, self.vat_rate)),
            self.gateway.name(),
            actor.is_staff().then_some(actor.user_id),
        )?;
        Ok(ChangeStep::Charge(Box::new(PendingChange {
            payment,
            sub,
            new_plan,
        })))
    }

    /// Charges the new plan's first period, then makes the change unless the subscription
    /// moved while the card was charged (then the charge is refunded). Returns the changed
    /// subscription, the credit, and what was charged.
    async fn charge_change(
        &self,
        pending: PendingChange,
        actor: Actor,
        now: DateTime<Utc>,
        claim: Option<IdempotencyClaim>,
    ) -> Result<SubscriptionView, ApiError> {
        let PendingChange {
            payment,
            sub,
            new_plan,
        } = pending;
        let outcome = without_action(
            self.charge(&payment, false, &format!("Wasit {} plan", new_plan.code))
                .await?,
        );
        if !matches!(outcome, ChargeOutcome::Succeeded { .. }) {
            return Err(self
                .apply_outcome(payment.id, outcome, None)
                .await?
                .declined());
        }
        let made = {
            let (actor, this, charged) = (actor.clone(), self.clone(), payment.amount);
            run_blocking(&self.pool, move |conn| {
                conn.transaction(
                    |conn| match finish_change(conn, &sub, &new_plan, now, &actor)? {
                        Some((updated, credit)) => this
                            .answer_change(conn, claim.as_ref(), updated, credit, charged)
                            .map(Some),
                        None => Ok(None),
                    },
                )
            })
            .await?
        };
        self.apply_outcome(payment.id, outcome, Some(actor)).await?;
        let Some(view) = made else {
            self.refund_lost_change(payment.id, payment.amount).await?;
            return Err(ApiError::Conflict {
                code: "subscription.changed",
                detail: "the subscription changed while the new plan was being paid; \
                         the charge is refunded"
                    .into(),
            });
        };
        Ok(view)
    }

    /// Refunds in full a new plan's charge whose change could not be made.
    async fn refund_lost_change(&self, payment_id: Uuid, amount: Decimal) -> Result<(), ApiError> {
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
        Ok(())
    }
}

/// Why this subscription cannot move to `new_plan` now, if it cannot.
fn refuse_change(
    conn: &mut PgConnection,
    sub: &SubscriptionRow,
    new_plan: &PlanRow,
) -> Result<(), ApiError> {
    if new_plan.id == sub.plan_id {
        return Err(ApiError::Conflict {
            code: "subscription.same_plan",
            detail: "the subscription is already on this plan".into(),
        });
    }
    if sub.status() == SubscriptionStatus::PastDue {
        return Err(ApiError::Conflict {
            code: "subscription.past_due",
            detail: "a renewal is overdue; the plan can change once it is paid".into(),
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
    Ok(())
}

/// Makes a paid change once its charge succeeded: under the subscription's lock again, and
/// only if it is still as it was when the change was decided (`None` otherwise).
fn finish_change(
    conn: &mut PgConnection,
    sub: &SubscriptionRow,
    new_plan: &PlanRow,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<Option<(SubscriptionRow, Decimal)>, ApiError> {
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
    apply_change(conn, &current, new_plan, now, actor).map(Some)
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
