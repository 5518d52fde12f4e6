//! Diesel queries for bookings, their events, their no-shows, and the inventory cells a
//! local booking holds.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::state::BookingStatus;
use crate::providers::local::cells_between;
use crate::providers::store::UnitRow;
use crate::schema::{
    booking_events, booking_no_shows, bookings, customers, inventory_cells, units, users,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bookings, check_for_backend(diesel::pg::Pg))]
pub struct BookingRow {
    pub id: Uuid,
    pub reference: String,
    pub customer_id: Uuid,
    pub provider_id: Uuid,
    pub unit_id: Option<Uuid>,
    pub unit_code: String,
    pub slot_ref: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub quantity: i32,
    pub guests: Option<i32>,
    pub status: BookingStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub channel: String,
    pub created_by: Option<Uuid>,
    pub provider_ref: Option<String>,
    pub currency: String,
    pub provider_price: Decimal,
    pub service_fee: Decimal,
    pub vat: Decimal,
    pub total: Decimal,
    pub refund_amount: Option<Decimal>,
    pub contact_name: String,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub provider_ack: Option<String>,
    pub provider_acked_at: Option<DateTime<Utc>>,
    pub flagged_at: Option<DateTime<Utc>>,
    pub unit_name_ar: String,
    pub unit_name_en: String,
}

/// `None` is written as NULL (each such column defaults to NULL anyway), so the INSERT's
/// SQL is the same whatever the values and diesel prepares it once per connection.
#[derive(Debug, Insertable)]
#[diesel(table_name = bookings, treat_none_as_default_value = false)]
pub struct NewBookingRow {
    pub reference: String,
    pub customer_id: Uuid,
    pub provider_id: Uuid,
    pub unit_id: Option<Uuid>,
    pub unit_code: String,
    pub slot_ref: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub quantity: i32,
    pub guests: Option<i32>,
    pub status: BookingStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub channel: String,
    pub created_by: Option<Uuid>,
    pub provider_ref: Option<String>,
    pub provider_price: Decimal,
    pub service_fee: Decimal,
    pub vat: Decimal,
    pub total: Decimal,
    pub contact_name: String,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub unit_name_ar: String,
    pub unit_name_en: String,
}

pub fn insert_booking(conn: &mut PgConnection, new: &NewBookingRow) -> QueryResult<BookingRow> {
    diesel::insert_into(bookings::table)
        .values(new)
        .returning(BookingRow::as_returning())
        .get_result(conn)
}

/// A local unit of `provider_id` with how many of its cells start in `[from, until)` and the
/// fewest rooms free among them, in one read and without a lock: `None` when the unit is not
/// the provider's or has no open cell there. It lets the many who lose a race for the last
/// rooms answer sold out before they write anything; only [`reserve_cells`] decides who gets
/// them.
pub fn unit_with_free_cells(
    conn: &mut PgConnection,
    provider_id: Uuid,
    unit_code: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> QueryResult<Option<(UnitRow, i64, Option<i32>)>> {
    use diesel::dsl::{count_star, min};
    units::table
        .inner_join(inventory_cells::table)
        .filter(units::provider_id.eq(provider_id))
        .filter(units::code.eq(unit_code))
        .filter(inventory_cells::starts_at.ge(from))
        .filter(inventory_cells::starts_at.lt(until))
        .group_by(units::id)
        .select((
            UnitRow::as_select(),
            count_star(),
            min(inventory_cells::capacity - inventory_cells::reserved),
        ))
        .first(conn)
        .optional()
}

/// Takes `quantity` of every cell of `unit_id` in `[from, until)`: all of them or none.
/// `expected` is how many cells the stay spans (its nights, or 1 slot); fewer updated rows
/// means one of them is full or was never opened, and the caller rolls the transaction back.
/// Rows are locked in start order first, so two stays that overlap cannot deadlock.
pub fn reserve_cells(
    conn: &mut PgConnection,
    unit_id: Uuid,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    quantity: i32,
    expected: usize,
) -> QueryResult<bool> {
    crate::providers::answer_cache::inventory_changed();
    let locked: Vec<DateTime<Utc>> = cells_between(unit_id, from, until)
        .order(inventory_cells::starts_at)
        .select(inventory_cells::starts_at)
        .for_update()
        .load(conn)?;
    if locked.len() != expected {
        return Ok(false);
    }
    let updated = diesel::update(
        cells_between(unit_id, from, until)
            .filter((inventory_cells::reserved + quantity).le(inventory_cells::capacity)),
    )
    .set(inventory_cells::reserved.eq(inventory_cells::reserved + quantity))
    .execute(conn)?;
    Ok(updated == expected)
}

/// Whether [`swap_cells`] keeps the swap or only tries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    Keep,
    /// Rolled back whatever the answer: would the new cells take the change now?
    Try,
}

/// A change's swap of our own cells, in a savepoint: the booking's cells given back, then the
/// new terms' taken, all or none. `false` (and nothing changed) when they are not all free.
pub fn swap_cells(
    conn: &mut PgConnection,
    booking: &BookingRow,
    terms: &super::change_store::Terms,
    swap: Swap,
) -> QueryResult<bool> {
    use diesel::result::Error::RollbackTransaction;
    let Some(unit_id) = terms.unit_id else {
        return Ok(true);
    };
    let mut taken = false;
    let outcome = conn.transaction(|conn| {
        if let Some(old_unit) = booking.unit_id {
            release_cells(
                conn,
                old_unit,
                booking.starts_at,
                booking.ends_at,
                booking.quantity,
            )?;
        }
        taken = reserve_cells(
            conn,
            unit_id,
            terms.starts_at,
            terms.ends_at,
            terms.quantity,
            terms.cells,
        )?;
        if taken && swap == Swap::Keep {
            Ok(())
        } else {
            Err(RollbackTransaction)
        }
    });
    match outcome {
        Ok(()) | Err(RollbackTransaction) => Ok(taken),
        Err(error) => Err(error),
    }
}

/// Gives back what a booking held.
pub fn release_cells(
    conn: &mut PgConnection,
    unit_id: Uuid,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    quantity: i32,
) -> QueryResult<usize> {
    crate::providers::answer_cache::inventory_changed();
    diesel::update(cells_between(unit_id, from, until))
        .set(inventory_cells::reserved.eq(inventory_cells::reserved - quantity))
        .execute(conn)
}

/// A new booking's rooms with their guests and lead guests, numbered from 1 in the offer's
/// order (written with the hold).
pub fn insert_rooms(
    conn: &mut PgConnection,
    booking_id: Uuid,
    rooms: &[super::hold::BookedRoom],
) -> QueryResult<()> {
    use crate::schema::booking_rooms as r;
    if rooms.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = rooms
        .iter()
        .enumerate()
        .map(|(i, room)| {
            (
                r::booking_id.eq(booking_id),
                r::room_no.eq(i32::try_from(i + 1).unwrap_or(i32::MAX)),
                r::adults.eq(i32::try_from(room.guests.adults).unwrap_or(i32::MAX)),
                r::children.eq(room
                    .guests
                    .children
                    .iter()
                    .map(|age| i32::try_from(*age).unwrap_or(i32::MAX))
                    .collect::<Vec<i32>>()),
                r::lead_guest.eq(&room.lead_guest),
            )
        })
        .collect();
    diesel::insert_into(r::table).values(rows).execute(conn)?;
    Ok(())
}

/// A stay's rooms as booked, in order (none for an appointment).
pub fn rooms_of(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> QueryResult<Vec<super::hold::BookedRoom>> {
    use crate::schema::booking_rooms as r;
    let rows: Vec<(i32, Vec<i32>, String)> = r::table
        .filter(r::booking_id.eq(booking_id))
        .order(r::room_no)
        .select((r::adults, r::children, r::lead_guest))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(adults, children, lead_guest)| super::hold::BookedRoom {
            lead_guest,
            guests: crate::domain::occupancy::RoomGuests {
                adults: u32::try_from(adults).unwrap_or(0),
                children: children
                    .into_iter()
                    .map(|age| u32::try_from(age).unwrap_or(0))
                    .collect(),
            },
        })
        .collect())
}

/// A change's new terms, written onto the booking (`lifecycle::change_terms`).
/// Keeps what a plan took off a booking's fee (`0` keeps nothing, and forgets an earlier one).
pub fn keep_fee_discount(conn: &mut PgConnection, id: Uuid, amount: Decimal) -> QueryResult<()> {
    use crate::schema::booking_fee_discounts as discounts;
    if amount > Decimal::ZERO {
        diesel::insert_into(discounts::table)
            .values((discounts::booking_id.eq(id), discounts::amount.eq(amount)))
            .on_conflict(discounts::booking_id)
            .do_update()
            .set(discounts::amount.eq(amount))
            .execute(conn)?;
    } else {
        diesel::delete(discounts::table.find(id)).execute(conn)?;
    }
    Ok(())
}

/// What plans took off these bookings' fees (bookings without a discount are not listed).
pub fn fee_discounts(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<(Uuid, Decimal)>> {
    use crate::schema::booking_fee_discounts as discounts;
    discounts::table
        .filter(discounts::booking_id.eq_any(ids))
        .select((discounts::booking_id, discounts::amount))
        .load(conn)
}

pub fn apply_terms(
    conn: &mut PgConnection,
    id: Uuid,
    terms: &super::change_store::Terms,
    provider_ref: Option<&str>,
) -> QueryResult<BookingRow> {
    diesel::update(bookings::table.find(id))
        .set((
            bookings::unit_id.eq(terms.unit_id),
            bookings::unit_code.eq(&terms.unit_code),
            bookings::unit_name_ar.eq(&terms.unit_name_ar),
            bookings::unit_name_en.eq(&terms.unit_name_en),
            bookings::slot_ref.eq(terms.slot_ref.as_deref()),
            bookings::starts_at.eq(terms.starts_at),
            bookings::ends_at.eq(terms.ends_at),
            bookings::quantity.eq(terms.quantity),
            bookings::guests.eq(terms.guests),
            bookings::provider_price.eq(terms.provider_price),
            bookings::service_fee.eq(terms.service_fee),
            bookings::vat.eq(terms.vat),
            bookings::total.eq(terms.total),
            bookings::provider_ref.eq(provider_ref),
        ))
        .returning(BookingRow::as_returning())
        .get_result(conn)
}

/// Applies a transition only if the booking is still in `from`: of two racing actors one
/// wins and the other gets `None`.
pub fn transition(
    conn: &mut PgConnection,
    id: Uuid,
    from: BookingStatus,
    to: BookingStatus,
    refund_amount: Option<Decimal>,
) -> QueryResult<Option<BookingRow>> {
    diesel::update(bookings::table.find(id).filter(bookings::status.eq(from)))
        .set((
            bookings::status.eq(to),
            bookings::refund_amount.eq(refund_amount),
        ))
        .returning(BookingRow::as_returning())
        .get_result(conn)
        .optional()
}

#[derive(Debug, Insertable)]
#[diesel(table_name = booking_events, treat_none_as_default_value = false)]
pub struct NewEvent<'a> {
    pub booking_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub reason: Option<&'a str>,
    pub request_id: Option<&'a str>,
    /// What changed besides the status (a change's before and after).
    pub details: Option<serde_json::Value>,
}

pub fn insert_event(conn: &mut PgConnection, event: &NewEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(booking_events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = booking_events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    #[serde(skip)]
    pub id: i64,
    pub actor_id: Option<Uuid>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
    /// A change's `{"before": …, "after": …}`; absent for status changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// An event with who made it (none for the system), for the booking's history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventView {
    #[serde(flatten)]
    pub event: EventRow,
    /// `customer`, `agent`, `admin` or `provider`; `null` for the system.
    pub actor_role: Option<String>,
    pub actor_name: Option<String>,
}

pub fn list_events(conn: &mut PgConnection, booking_id: Uuid) -> QueryResult<Vec<EventView>> {
    let rows: Vec<(EventRow, Option<(String, String)>)> = booking_events::table
        .left_join(users::table)
        .filter(booking_events::booking_id.eq(booking_id))
        .order(booking_events::id)
        .select((
            EventRow::as_select(),
            (users::role, users::full_name).nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(event, actor)| {
            let (actor_role, actor_name) = actor.unzip();
            EventView {
                event,
                actor_role,
                actor_name,
            }
        })
        .collect())
}

/// Who may see which bookings.
#[derive(Debug, Clone, Copy)]
pub enum Visibility {
    Everything,
    CustomerUser(Uuid),
    Provider(Uuid),
}

/// A booking by id or reference, if `visibility` allows it (otherwise it does not exist).
pub fn find_visible(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    reference: Option<&str>,
    visibility: Visibility,
) -> QueryResult<BookingRow> {
    let mut query = bookings::table.select(BookingRow::as_select()).into_boxed();
    query = match (id, reference) {
        (Some(id), _) => query.filter(bookings::id.eq(id)),
        (None, Some(reference)) => query.filter(bookings::reference.eq(reference.to_owned())),
        (None, None) => return Err(diesel::result::Error::NotFound),
    };
    scoped(query, visibility).first(conn)
}

type BoxedBookings<'a> =
    bookings::BoxedQuery<'a, diesel::pg::Pg, diesel::dsl::AsSelect<BookingRow, diesel::pg::Pg>>;

fn scoped(query: BoxedBookings<'_>, visibility: Visibility) -> BoxedBookings<'_> {
    match visibility {
        Visibility::Everything => query,
        Visibility::CustomerUser(user_id) => query.filter(
            bookings::customer_id.eq_any(
                customers::table
                    .filter(customers::user_id.eq(user_id))
                    .select(customers::id),
            ),
        ),
        Visibility::Provider(provider_id) => query.filter(bookings::provider_id.eq(provider_id)),
    }
}

#[derive(Debug, Default, Clone)]
pub struct BookingFilter {
    pub status: Option<BookingStatus>,
    pub starts_from: Option<DateTime<Utc>>,
    pub starts_before: Option<DateTime<Utc>>,
    pub provider_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    /// Only bookings flagged for an agent (no provider answer in time).
    pub flagged: Option<bool>,
    /// Keyset: only bookings created before this (created_at, id), newest first.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

pub fn list_visible(
    conn: &mut PgConnection,
    filter: &BookingFilter,
    visibility: Visibility,
) -> QueryResult<Vec<BookingRow>> {
    let mut query = scoped(
        bookings::table.select(BookingRow::as_select()).into_boxed(),
        visibility,
    );
    if let Some(status) = filter.status {
        query = query.filter(bookings::status.eq(status));
    }
    if let Some(from) = filter.starts_from {
        query = query.filter(bookings::starts_at.ge(from));
    }
    if let Some(before) = filter.starts_before {
        query = query.filter(bookings::starts_at.lt(before));
    }
    if let Some(provider_id) = filter.provider_id {
        query = query.filter(bookings::provider_id.eq(provider_id));
    }
    if let Some(customer_id) = filter.customer_id {
        query = query.filter(bookings::customer_id.eq(customer_id));
    }
    match filter.flagged {
        Some(true) => query = query.filter(bookings::flagged_at.is_not_null()),
        Some(false) => query = query.filter(bookings::flagged_at.is_null()),
        None => {}
    }
    if let Some((created_at, id)) = filter.after {
        query = query.filter(
            bookings::created_at
                .lt(created_at)
                .or(bookings::created_at.eq(created_at).and(bookings::id.lt(id))),
        );
    }
    query
        .order((bookings::created_at.desc(), bookings::id.desc()))
        .limit(filter.limit)
        .load(conn)
}

/// Records the provider's answer and clears any flag.
pub fn set_ack(conn: &mut PgConnection, id: Uuid, ack: &str) -> QueryResult<BookingRow> {
    diesel::update(bookings::table.find(id))
        .set((
            bookings::provider_ack.eq(Some(ack)),
            bookings::provider_acked_at.eq(Some(chrono::Utc::now())),
            bookings::flagged_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(BookingRow::as_returning())
        .get_result(conn)
}

/// A booking marked a no-show: the fee its provider's policy kept, and the one waiver.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = booking_no_shows, check_for_backend(diesel::pg::Pg))]
pub struct NoShowRow {
    pub booking_id: Uuid,
    pub fee: Decimal,
    pub marked_by: Option<Uuid>,
    pub marked_at: DateTime<Utc>,
    pub waived_at: Option<DateTime<Utc>>,
    pub waived_by: Option<Uuid>,
    pub waiver_reason: Option<String>,
}

pub fn insert_no_show(conn: &mut PgConnection, row: &NoShowRow) -> QueryResult<()> {
    diesel::insert_into(booking_no_shows::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_no_shows(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<NoShowRow>> {
    booking_no_shows::table
        .filter(booking_no_shows::booking_id.eq_any(ids))
        .select(NoShowRow::as_select())
        .load(conn)
}

/// Records the waiver, once: `None` when it was already waived.
pub fn waive_no_show(
    conn: &mut PgConnection,
    booking_id: Uuid,
    by: Uuid,
    reason: &str,
) -> QueryResult<Option<NoShowRow>> {
    diesel::update(
        booking_no_shows::table
            .find(booking_id)
            .filter(booking_no_shows::waived_at.is_null()),
    )
    .set((
        booking_no_shows::waived_at.eq(Some(Utc::now())),
        booking_no_shows::waived_by.eq(Some(by)),
        booking_no_shows::waiver_reason.eq(Some(reason)),
    ))
    .returning(NoShowRow::as_returning())
    .get_result(conn)
    .optional()
}

/// What the booking records as refunded, after a later refund (a waived no-show fee) of a
/// booking whose row the caller holds locked.
pub fn set_refund_amount(
    conn: &mut PgConnection,
    booking_id: Uuid,
    refund_amount: Decimal,
) -> QueryResult<BookingRow> {
    diesel::update(bookings::table.find(booking_id))
        .set(bookings::refund_amount.eq(Some(refund_amount)))
        .returning(BookingRow::as_returning())
        .get_result(conn)
}
