//! What billing tells customers by email: the jobs it queues in the transaction that causes
//! them (notify renders and sends them later, in the customer's language).

use chrono::Utc;
use diesel::prelude::*;
use uuid::Uuid;

use super::invoices::InvoiceRow;
use crate::jobs::{Job, SubscriptionEmail, queue};
use crate::schema::customers;

/// Queues a subscription email. `payment_id` names the charge for `Renewed` and
/// `PaymentFailed` (each renewal or failure is its own mail).
pub fn enqueue_subscription_email(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    event: SubscriptionEmail,
    payment_id: Option<Uuid>,
) -> QueryResult<()> {
    let job = Job::SendSubscriptionEmail {
        subscription_id,
        event,
        payment_id,
    };
    let entity = payment_id.unwrap_or(subscription_id);
    let key = format!("email:subscription-{}:{entity}", event.as_str());
    queue::enqueue(conn, &job, Some(&key), Utc::now()).map(|_| ())
}

/// Queues the email of an invoice or credit note (when its customer has an address).
pub fn enqueue_invoice_email(conn: &mut PgConnection, invoice: &InvoiceRow) -> QueryResult<()> {
    let email: Option<String> = customers::table
        .find(invoice.customer_id)
        .select(customers::email)
        .first(conn)?;
    if email.is_none() {
        return Ok(());
    }
    let job = Job::SendInvoiceEmail {
        invoice_id: invoice.id,
    };
    queue::enqueue(
        conn,
        &job,
        Some(&format!("email:invoice:{}", invoice.id)),
        Utc::now(),
    )
    .map(|_| ())
}
