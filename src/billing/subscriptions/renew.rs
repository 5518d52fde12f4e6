//! Renewals and dunning: the sweep that charges each period as it ends (or ends a
//! subscription cancelled at its period's end), and what a renewal charge's answer does
//! to its subscription, called from `payments::apply_outcome` in the transaction that
//! settles the payment.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{SubscriptionRow, SubscriptionStatus, period_payment, plan_line, without_action};
use crate::billing::gateway::PaymentGateway;
use crate::billing::money::ChargeLine;
use crate::billing::notices::enqueue_subscription_email;
use crate::billing::payments::{Billing, PaymentRow};
use crate::billing::plans::{self, PlanRow};
use crate::billing::refunds;
use crate::db::run_blocking;
use crate::error::ApiError;
use crate::jobs::SubscriptionEmail;
use crate::schema::subscriptions;

/// Called when a subscription payment is captured: a renewal (its period starts where the
/// subscription's ends) moves the subscription into the next period. A sign-up charge
/// whose subscription was never made (a race lost) is refunded in full.
pub(in crate::billing) fn on_period_paid(
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
    let Some(sub) = renewed_by(conn, sub_id, payment)? else {
        return Ok(());
    };
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
pub(in crate::billing) fn on_period_declined(
    conn: &mut PgConnection,
    payment: &PaymentRow,
    dunning_days: &[u32],
) -> Result<(), ApiError> {
    let Some(sub_id) = payment.subscription_id else {
        return Ok(());
    };
    let Some(sub) = renewed_by(conn, sub_id, payment)? else {
        return Ok(());
    };
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

/// The subscription, locked, when `payment` is the charge for its next period; `None`
/// when the answer is stale (the subscription moved on, or ended, while it was charged)
/// and must not touch it.
fn renewed_by(
    conn: &mut PgConnection,
    sub_id: uuid::Uuid,
    payment: &PaymentRow,
) -> Result<Option<SubscriptionRow>, ApiError> {
    let sub: SubscriptionRow = subscriptions::table
        .find(sub_id)
        .for_no_key_update()
        .select(SubscriptionRow::as_select())
        .first(conn)?;
    if payment.period_start != Some(sub.current_period_end)
        || sub.status() == SubscriptionStatus::Canceled
    {
        return Ok(None);
    }
    Ok(Some(sub))
}

impl Billing {
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
            return run_blocking(&self.pool, move |conn| end_at_period_end(conn, &sub)).await;
        }
        if plan.is_free() {
            return run_blocking(&self.pool, move |conn| {
                roll_free_period(conn, &sub, &plan, now)
            })
            .await;
        }
        let line = plan_line(&plan, self.vat_rate);
        let gateway = self.gateway.name();
        let payment = run_blocking(&self.pool, move |conn| {
            renewal_payment(conn, &sub, line, gateway)
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

/// Ends a subscription cancelled at its period's end, as of that end (a sweep that finds it
/// already ended sends no second email).
fn end_at_period_end(conn: &mut PgConnection, sub: &SubscriptionRow) -> Result<(), ApiError> {
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
}

/// A free plan renews without a charge: its period moves on to the one holding `now`
/// (however many a stopped sweep missed).
fn roll_free_period(
    conn: &mut PgConnection,
    sub: &SubscriptionRow,
    plan: &PlanRow,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
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
}

/// Writes the renewal charge for the period after the current one, to the subscription's
/// card; `None` when there is no card, or that period is already paid or being paid.
fn renewal_payment(
    conn: &mut PgConnection,
    sub: &SubscriptionRow,
    line: ChargeLine,
    gateway: &'static str,
) -> Result<Option<PaymentRow>, ApiError> {
    let Some(method_id) = sub.payment_method_id else {
        return Ok(None);
    };
    let inserted = period_payment(
        conn,
        sub,
        method_id,
        (sub.current_period_end, line),
        gateway,
        None,
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
}
