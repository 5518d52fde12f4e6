//! The `offer_waitlist` job: inventory of one of our units was given back (or opened, or
//! someone joined), so walk its line first come first and hold what now fits for each
//! waiter in turn, until nothing more fits. Each offer is a real hold written by the hold's
//! own code (`hold::hold_for_waiter`, so `store::reserve_cells` alone decides who gets a
//! cell), announced by email and text, and paid to accept. An offer that lapses unpaid
//! expires through the lifecycle, which gives its cells back and queues this job again:
//! the next waiter is offered them.
//!
//! Safe twice and side by side: one matcher per unit at a time (a transaction-level
//! advisory lock), entries moved on only from `waiting` (conditional UPDATE), and the holds
//! themselves never take more than a cell has.

use diesel::prelude::*;
use uuid::Uuid;

use super::store::{self, EntryRow};
use crate::bookings::hold::{Waiter, hold_for_waiter};
use crate::bookings::service::Bookings;
use crate::db::run_blocking;
use crate::domain::money::FeePolicy;
use crate::domain::{IdType, Patient};
use crate::error::ApiError;
use crate::providers::offer::OfferClaims;
use crate::providers::store::UnitRow;
use crate::schema::units;

impl Bookings {
    /// Offers what is free of `unit_id` to its waiters in line; returns how many offers it made.
    #[tracing::instrument(skip(self))]
    pub async fn offer_waitlist(&self, unit_id: Uuid) -> Result<usize, ApiError> {
        let (fees, offer) = (self.searcher.fees, self.waitlist_offer);
        let offered = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| offer_in_line(conn, unit_id, fees, offer))
        })
        .await?;
        if offered > 0 {
            tracing::info!(offered, "waitlist offers made");
            self.wake.notify_waiters();
        }
        Ok(offered)
    }
}

fn offer_in_line(
    conn: &mut PgConnection,
    unit_id: Uuid,
    fees: FeePolicy,
    offer: chrono::Duration,
) -> Result<usize, ApiError> {
    // One matcher per unit: a second waits here, then walks the line as the first left it.
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('waitlist:' || $1, 0))")
        .bind::<diesel::sql_types::Text, _>(unit_id.to_string())
        .execute(conn)?;
    let Some(unit) = units::table
        .find(unit_id)
        .select(UnitRow::as_select())
        .first(conn)
        .optional()?
        .filter(|unit| unit.active)
    else {
        return Ok(0);
    };
    let mut offered = 0;
    for entry in store::line_of(conn, unit_id)? {
        let Some(claims) = wanted_now(conn, &unit, &entry)? else {
            continue;
        };
        let waiter = Waiter {
            customer_id: entry.customer_id,
            channel: &entry.channel,
            guests: entry.guests.and_then(|g| u32::try_from(g).ok()),
            patient: patient_of(&entry),
        };
        // In a savepoint of its own: whatever fails for one waiter leaves nothing behind and
        // the transaction usable for the next.
        match conn.transaction(|conn| hold_for_waiter(conn, fees, offer, &claims, waiter)) {
            Ok(held) => {
                store::mark_offered(conn, entry.id, held.id)?;
                offered += 1;
            }
            // The database is out of reach: the job is retried.
            Err(error @ ApiError::Unavailable(_)) => return Err(error),
            // Taken, no longer bookable as asked, or anything else about this one waiter:
            // the next in line may still fit, and this one keeps their place.
            Err(ApiError::SoldOut) => {}
            Err(error) => {
                tracing::warn!(entry_id = %entry.id, error = %error.describe(), "a waiter could not be offered");
            }
        }
    }
    Ok(offered)
}

/// What the entry would be offered now: its stay's nights, or its clinic's first free slot
/// (none: nothing to try).
fn wanted_now(
    conn: &mut PgConnection,
    unit: &UnitRow,
    entry: &EntryRow,
) -> Result<Option<OfferClaims>, ApiError> {
    let (start, end) = if entry.kind == "slot" {
        match store::first_free_slot(conn, unit.id, entry.starts_at, entry.ends_at)? {
            Some(slot) => slot,
            None => return Ok(None),
        }
    } else {
        (entry.starts_at, entry.ends_at)
    };
    Ok(Some(OfferClaims {
        provider_id: entry.provider_id,
        unit_code: unit.code.clone(),
        unit_name_ar: unit.name_ar.clone(),
        unit_name_en: unit.name_en.clone(),
        slot_ref: None,
        start,
        end,
        quantity: u32::try_from(entry.rooms).unwrap_or(1),
        guests: entry.guests.and_then(|g| u32::try_from(g).ok()),
        occupancy: None,
        // Priced now by the hold (`prepare`); the offer id's price is never read here.
        provider_price: rust_decimal::Decimal::ZERO,
        total: rust_decimal::Decimal::ZERO,
        fee_discount: 0,
        expires_at: 0,
    }))
}

/// A clinic entry's patient as it was checked when they joined.
fn patient_of(entry: &EntryRow) -> Option<Patient> {
    Some(Patient {
        full_name: entry.patient_name.clone()?,
        birth_date: entry.patient_birth_date?,
        id_type: IdType::parse(entry.patient_id_type.as_deref()?)?,
        id_number: entry.patient_id_number.clone()?,
        passport_country: entry.patient_passport_country.clone(),
    })
}
