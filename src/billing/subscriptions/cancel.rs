//! Cancelling a subscription: now, or at the end of the period already paid for (the
//! renewal sweep ends it then, in `renew`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::{
    SubscriptionRow, SubscriptionStatus, SubscriptionView, audit_staff, customer_of, live,
};
use crate::billing::notices::enqueue_subscription_email;
use crate::billing::payments::Billing;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::ApiError;
use crate::jobs::SubscriptionEmail;
use crate::schema::subscriptions;

impl Billing {
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
}
