//! Waitlists (#16 point 2): a customer, or an agent for a client, waits for a sold-out stay
//! at one of our room types or for any slot of one of our clinics in a range of days. When
//! inventory frees up, the first waiter in line whose request fits is offered it: a hold of
//! their own for `waitlist.offer_minutes`, told by email and text, accepted by paying it;
//! unpaid, it expires and passes to the next (docs/ARCHITECTURE.md §3, after the callers
//! of `transition`).
//!
//! The lifecycle only queues the matching (`offer_freed`, in the transaction that gives the
//! cells back); the `offer_waitlist` job does it (`offer.rs`), so the freeing stays short.

mod offer;
pub mod routes;
pub mod service;
mod store;

use chrono::Utc;
use diesel::PgConnection;
use uuid::Uuid;

use crate::jobs::{Job, queue};

/// Queues `offer_waitlist` for `unit_id`, whose cells were just given back by `freed_by`
/// (a booking that ended, or a change of its terms), when anyone waits for the unit. One
/// job per freeing, not one per unit: a job already queued may read the line before this
/// transaction commits, so merging into it could miss these cells. A booking ends once and
/// a change applies once, so the key dedups a retried transaction only.
pub fn offer_freed(
    conn: &mut PgConnection,
    unit_id: Uuid,
    freed_by: Uuid,
) -> diesel::QueryResult<()> {
    if !store::anyone_waiting(conn, unit_id)? {
        return Ok(());
    }
    offer_free_now(conn, unit_id, freed_by)
}

/// A hold leaves `held` (to `to`, in the lifecycle's transaction): if it was a waitlist
/// offer, its entry is `booked` once paid, or `lapsed` once it ended unpaid.
pub fn settle_offer(
    conn: &mut PgConnection,
    booking_id: Uuid,
    to: crate::bookings::state::BookingStatus,
) -> diesel::QueryResult<()> {
    store::settle_offer(conn, booking_id, !to.is_called_off()).map(drop)
}

/// Queues `offer_waitlist` for `unit_id` because of `cause` (a new entry, cells opened):
/// whatever is free now goes to the line at once.
pub fn offer_free_now(
    conn: &mut PgConnection,
    unit_id: Uuid,
    cause: Uuid,
) -> diesel::QueryResult<()> {
    queue::enqueue(
        conn,
        &Job::OfferWaitlist { unit_id },
        Some(&format!("offer_waitlist:{unit_id}:{cause}")),
        Utc::now(),
    )
    .map(drop)
}
