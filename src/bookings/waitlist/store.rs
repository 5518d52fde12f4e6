//! Diesel queries for `waitlist_entries`: joining, the line of one unit, offers made and
//! settled, leaving, and the pages a customer or staff read.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::{bookings, inventory_cells, waitlist_entries};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = waitlist_entries, check_for_backend(diesel::pg::Pg))]
pub struct EntryRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub provider_id: Uuid,
    pub unit_id: Uuid,
    pub kind: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub rooms: i32,
    pub guests: Option<i32>,
    pub patient_name: Option<String>,
    pub patient_birth_date: Option<NaiveDate>,
    pub patient_id_type: Option<String>,
    pub patient_id_number: Option<String>,
    pub patient_passport_country: Option<String>,
    pub status: String,
    pub booking_id: Option<Uuid>,
    pub channel: String,
    pub joined_at: DateTime<Utc>,
    pub offered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = waitlist_entries)]
pub struct NewEntry {
    pub customer_id: Uuid,
    pub provider_id: Uuid,
    pub unit_id: Uuid,
    pub kind: &'static str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub rooms: i32,
    pub guests: Option<i32>,
    pub patient_name: Option<String>,
    pub patient_birth_date: Option<NaiveDate>,
    pub patient_id_type: Option<String>,
    pub patient_id_number: Option<String>,
    pub patient_passport_country: Option<String>,
    pub channel: &'static str,
    pub created_by: Option<Uuid>,
}

/// An offer's hold as an entry shows it.
#[derive(Debug, Clone, Queryable)]
pub struct OfferBooking {
    pub id: Uuid,
    pub reference: String,
    pub status: super::super::state::BookingStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub total: rust_decimal::Decimal,
}

pub fn insert_entry(conn: &mut PgConnection, new: &NewEntry) -> QueryResult<EntryRow> {
    diesel::insert_into(waitlist_entries::table)
        .values(new)
        .returning(EntryRow::as_returning())
        .get_result(conn)
}

/// The entry locked for a change (leaving, or an offer made to it).
pub fn lock_entry(conn: &mut PgConnection, id: Uuid) -> QueryResult<EntryRow> {
    waitlist_entries::table
        .find(id)
        .for_update()
        .select(EntryRow::as_select())
        .first(conn)
}

/// A page of entries, newest first: one customer's, or (staff, `None`) everyone's;
/// `after` is the (joined_at, id) of the last one the previous page showed.
pub fn list_entries(
    conn: &mut PgConnection,
    customer_id: Option<Uuid>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<EntryRow>> {
    let mut query = waitlist_entries::table
        .select(EntryRow::as_select())
        .into_boxed();
    if let Some(customer_id) = customer_id {
        query = query.filter(waitlist_entries::customer_id.eq(customer_id));
    }
    if let Some((joined_at, id)) = after {
        query = query.filter(
            waitlist_entries::joined_at
                .lt(joined_at)
                .or(waitlist_entries::joined_at
                    .eq(joined_at)
                    .and(waitlist_entries::id.lt(id))),
        );
    }
    query
        .order((
            waitlist_entries::joined_at.desc(),
            waitlist_entries::id.desc(),
        ))
        .limit(limit)
        .load(conn)
}

/// The offers' holds of these entries, by booking id.
pub fn offer_bookings(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<OfferBooking>> {
    bookings::table
        .filter(bookings::id.eq_any(ids))
        .select((
            bookings::id,
            bookings::reference,
            bookings::status,
            bookings::hold_expires_at,
            bookings::total,
        ))
        .load(conn)
}

/// Who waits for `unit_id`, first come first: the line an offer walks. Requests already
/// begun are not offered anything.
pub fn line_of(conn: &mut PgConnection, unit_id: Uuid) -> QueryResult<Vec<EntryRow>> {
    waitlist_entries::table
        .filter(waitlist_entries::unit_id.eq(unit_id))
        .filter(waitlist_entries::status.eq("waiting"))
        .filter(waitlist_entries::ends_at.gt(Utc::now()))
        .order((waitlist_entries::joined_at, waitlist_entries::id))
        .select(EntryRow::as_select())
        .load(conn)
}

/// Whether anyone waits for `unit_id` (a freeing with nobody waiting queues no job).
pub fn anyone_waiting(conn: &mut PgConnection, unit_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        waitlist_entries::table
            .filter(waitlist_entries::unit_id.eq(unit_id))
            .filter(waitlist_entries::status.eq("waiting")),
    ))
    .get_result(conn)
}

/// Settles the offer whose hold `booking_id` just left `held`: paid (`booked`), or ended
/// unpaid (`lapsed`: the waiter's turn is spent and the rooms pass to the next).
pub fn settle_offer(conn: &mut PgConnection, booking_id: Uuid, paid: bool) -> QueryResult<usize> {
    diesel::update(
        waitlist_entries::table
            .filter(waitlist_entries::booking_id.eq(booking_id))
            .filter(waitlist_entries::status.eq("offered")),
    )
    .set((
        waitlist_entries::status.eq(if paid { "booked" } else { "lapsed" }),
        waitlist_entries::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
}

/// The patient columns emptied: an entry keeps a clinic's patient only while it waits (an
/// offer's booking has its own copy, `booking_patients`).
type ForgetPatient = (
    diesel::dsl::Eq<waitlist_entries::patient_name, Option<String>>,
    diesel::dsl::Eq<waitlist_entries::patient_birth_date, Option<NaiveDate>>,
    diesel::dsl::Eq<waitlist_entries::patient_id_type, Option<String>>,
    diesel::dsl::Eq<waitlist_entries::patient_id_number, Option<String>>,
    diesel::dsl::Eq<waitlist_entries::patient_passport_country, Option<String>>,
);

fn forget_patient() -> ForgetPatient {
    (
        waitlist_entries::patient_name.eq(None),
        waitlist_entries::patient_birth_date.eq(None),
        waitlist_entries::patient_id_type.eq(None),
        waitlist_entries::patient_id_number.eq(None),
        waitlist_entries::patient_passport_country.eq(None),
    )
}

/// Records the offer `booking_id` made to a waiting entry (it stays one offer per entry).
pub fn mark_offered(conn: &mut PgConnection, id: Uuid, booking_id: Uuid) -> QueryResult<usize> {
    diesel::update(
        waitlist_entries::table
            .find(id)
            .filter(waitlist_entries::status.eq("waiting")),
    )
    .set((
        waitlist_entries::status.eq("offered"),
        waitlist_entries::booking_id.eq(Some(booking_id)),
        waitlist_entries::offered_at.eq(Some(Utc::now())),
        waitlist_entries::updated_at.eq(Utc::now()),
        forget_patient(),
    ))
    .execute(conn)
}

/// Takes a live entry off the list.
pub fn mark_left(conn: &mut PgConnection, id: Uuid) -> QueryResult<EntryRow> {
    diesel::update(
        waitlist_entries::table
            .find(id)
            .filter(waitlist_entries::status.eq_any(["waiting", "offered"])),
    )
    .set((
        waitlist_entries::status.eq("left"),
        waitlist_entries::updated_at.eq(Utc::now()),
        forget_patient(),
    ))
    .returning(EntryRow::as_returning())
    .get_result(conn)
}

/// The first open slot of `unit_id` starting in `[from, until)` with room for one more,
/// after now: what a clinic's waiter is offered.
pub fn first_free_slot(
    conn: &mut PgConnection,
    unit_id: Uuid,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> QueryResult<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    inventory_cells::table
        .filter(inventory_cells::unit_id.eq(unit_id))
        .filter(inventory_cells::starts_at.ge(from.max(Utc::now())))
        .filter(inventory_cells::starts_at.lt(until))
        .filter(inventory_cells::reserved.lt(inventory_cells::capacity))
        .order(inventory_cells::starts_at)
        .select((inventory_cells::starts_at, inventory_cells::ends_at))
        .first(conn)
        .optional()
}
