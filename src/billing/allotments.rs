//! One payment for several bookings (a package's): what of it pays for each booking, so a
//! booking's refund, by its policy or in full, comes out of its own share and never out of
//! another booking's (`payment_allotments`, a CHECK keeps `refunded <= amount`).

use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::payments::PaymentStatus;
use crate::schema::{payment_allotments as allot, payments, refund_shares};

/// Writes what of `payment_id` pays for each booking, in the payment's transaction.
pub fn insert(
    conn: &mut PgConnection,
    payment_id: Uuid,
    shares: &[(Uuid, Decimal)],
) -> QueryResult<()> {
    let rows: Vec<_> = shares
        .iter()
        .filter(|(_, amount)| *amount > Decimal::ZERO)
        .map(|(booking_id, amount)| {
            (
                allot::payment_id.eq(payment_id),
                allot::booking_id.eq(*booking_id),
                allot::amount.eq(*amount),
            )
        })
        .collect();
    diesel::insert_into(allot::table)
        .values(rows)
        .execute(conn)
        .map(drop)
}

/// The bookings a payment pays for, by id (the order every lock on them is taken in).
pub fn bookings_of(conn: &mut PgConnection, payment_id: Uuid) -> QueryResult<Vec<Uuid>> {
    allot::table
        .filter(allot::payment_id.eq(payment_id))
        .order(allot::booking_id)
        .select(allot::booking_id)
        .load(conn)
}

/// A booking's shares of captured payments: (payment, what of its share is still
/// refundable, when the payment was made), locked like the payments `refund_booking` reads.
pub fn captured_shares(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> QueryResult<Vec<(Uuid, Decimal, chrono::DateTime<chrono::Utc>)>> {
    let rows: Vec<(Uuid, Decimal, Decimal, chrono::DateTime<chrono::Utc>)> = allot::table
        .inner_join(payments::table)
        .filter(allot::booking_id.eq(booking_id))
        .filter(payments::status.eq(PaymentStatus::Succeeded.as_str()))
        .for_no_key_update()
        .select((
            allot::payment_id,
            allot::amount,
            allot::refunded,
            payments::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(payment, amount, refunded, at)| (payment, amount - refunded, at))
        .collect())
}

/// Takes `amount` off a booking's share of a payment, before the refund is reserved on the
/// payment itself; the CHECK refuses more than the share.
pub fn take(
    conn: &mut PgConnection,
    payment_id: Uuid,
    booking_id: Uuid,
    amount: Decimal,
) -> QueryResult<()> {
    diesel::update(allot::table.find((payment_id, booking_id)))
        .set(allot::refunded.eq(allot::refunded + amount))
        .execute(conn)
        .map(drop)
}

/// Notes that refund `refund_id` came out of `booking_id`'s share.
pub fn note_refund(conn: &mut PgConnection, refund_id: Uuid, booking_id: Uuid) -> QueryResult<()> {
    diesel::insert_into(refund_shares::table)
        .values((
            refund_shares::refund_id.eq(refund_id),
            refund_shares::booking_id.eq(booking_id),
        ))
        .execute(conn)
        .map(drop)
}

/// A refund the gateway refused for good: its amount goes back to the share it came out
/// of (nothing for a refund of a booking's own payment).
pub fn give_back(
    conn: &mut PgConnection,
    refund_id: Uuid,
    payment_id: Uuid,
    amount: Decimal,
) -> QueryResult<()> {
    let booking: Option<Uuid> = refund_shares::table
        .find(refund_id)
        .select(refund_shares::booking_id)
        .first(conn)
        .optional()?;
    if let Some(booking_id) = booking {
        diesel::update(allot::table.find((payment_id, booking_id)))
            .set(allot::refunded.eq(allot::refunded - amount))
            .execute(conn)?;
    }
    Ok(())
}
