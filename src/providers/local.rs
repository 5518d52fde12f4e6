//! The `local` adapter: inventory the office manages in our own tables. A unit's cells are
//! its nights (room types) or its appointment slots (clinic services), each with a
//! `capacity` and how much of it is `reserved`.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Int4, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::{ProviderOffer, SlotQuery, StayQuery};
pub use crate::domain::local_midnight;
use crate::schema::inventory_cells;

#[derive(Debug, Insertable)]
#[diesel(table_name = inventory_cells)]
struct NewCell {
    unit_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    capacity: i32,
}

/// Opens `rooms` rooms for each night in `[from, to)`. Re-opening a night sets its capacity;
/// setting it below what is already reserved is refused by the database.
pub fn open_nights(
    conn: &mut PgConnection,
    unit_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    rooms: i32,
    timezone: Tz,
) -> QueryResult<usize> {
    let cells: Vec<NewCell> = from
        .iter_days()
        .take_while(|night| *night < to)
        .map(|night| NewCell {
            unit_id,
            starts_at: local_midnight(night, timezone),
            ends_at: local_midnight(night.succ_opt().unwrap_or(night), timezone),
            capacity: rooms,
        })
        .collect();
    upsert_cells(conn, &cells)
}

/// When a clinic works: the local hours and days in which slots are opened.
#[derive(Debug, Clone)]
pub struct ClinicHours {
    pub day_start: NaiveTime,
    pub day_end: NaiveTime,
    pub weekdays: Vec<Weekday>,
}

/// Opens one-patient slots of `slot_minutes` for each working day in `[from, to]`.
pub fn open_slots(
    conn: &mut PgConnection,
    unit_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    slot_minutes: i32,
    hours: &ClinicHours,
    timezone: Tz,
) -> QueryResult<usize> {
    let length = Duration::minutes(i64::from(slot_minutes));
    let mut cells = Vec::new();
    for day in from.iter_days().take_while(|day| *day <= to) {
        if !hours.weekdays.contains(&chrono::Datelike::weekday(&day)) {
            continue;
        }
        let mut start = day.and_time(hours.day_start);
        let close = day.and_time(hours.day_end);
        while start + length <= close {
            if let Some(at) = timezone.from_local_datetime(&start).earliest() {
                let starts_at = at.with_timezone(&Utc);
                cells.push(NewCell {
                    unit_id,
                    starts_at,
                    ends_at: starts_at + length,
                    capacity: 1,
                });
            }
            start += length;
        }
    }
    upsert_cells(conn, &cells)
}

fn upsert_cells(conn: &mut PgConnection, cells: &[NewCell]) -> QueryResult<usize> {
    use diesel::upsert::excluded;
    crate::providers::answer_cache::inventory_changed();
    conn.transaction(|conn| {
        let mut written = 0;
        // Postgres caps bind parameters per statement; 4 per row.
        for chunk in cells.chunks(5000) {
            written += diesel::insert_into(inventory_cells::table)
                .values(chunk)
                .on_conflict((inventory_cells::unit_id, inventory_cells::starts_at))
                .do_update()
                .set(inventory_cells::capacity.eq(excluded(inventory_cells::capacity)))
                .execute(conn)?;
        }
        Ok(written)
    })
}

/// Closes `[from, until)`: nothing more can be sold there; what is sold stays sold.
pub fn close_cells(
    conn: &mut PgConnection,
    unit_id: Uuid,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> QueryResult<usize> {
    crate::providers::answer_cache::inventory_changed();
    diesel::update(
        inventory_cells::table
            .filter(inventory_cells::unit_id.eq(unit_id))
            .filter(inventory_cells::starts_at.ge(from))
            .filter(inventory_cells::starts_at.lt(until)),
    )
    .set(inventory_cells::capacity.eq(inventory_cells::reserved))
    .execute(conn)
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = inventory_cells, check_for_backend(diesel::pg::Pg))]
pub struct CellRow {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i32,
    pub reserved: i32,
}

pub fn list_cells(
    conn: &mut PgConnection,
    unit_id: Uuid,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> QueryResult<Vec<CellRow>> {
    inventory_cells::table
        .filter(inventory_cells::unit_id.eq(unit_id))
        .filter(inventory_cells::starts_at.ge(from))
        .filter(inventory_cells::starts_at.lt(until))
        .order(inventory_cells::starts_at)
        .select(CellRow::as_select())
        .load(conn)
}

#[derive(QueryableByName)]
struct FreeRoomType {
    #[diesel(sql_type = SqlUuid)]
    provider_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    unit_id: Uuid,
    #[diesel(sql_type = Text)]
    name_ar: String,
    #[diesel(sql_type = Text)]
    name_en: String,
    #[diesel(sql_type = Int4)]
    max_guests: i32,
    #[diesel(sql_type = Numeric)]
    nightly_price: Decimal,
    #[diesel(sql_type = Timestamptz)]
    starts_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    ends_at: DateTime<Utc>,
}

/// Room types of these providers with `rooms` free on every night of the stay, in one query
/// for every local provider at once. Nights are local dates in each provider's time zone.
pub fn search_stays(
    conn: &mut PgConnection,
    provider_ids: &[Uuid],
    query: &StayQuery,
) -> QueryResult<Vec<(Uuid, ProviderOffer)>> {
    let rows: Vec<FreeRoomType> = diesel::sql_query(
        "SELECT u.provider_id, u.id AS unit_id, u.name_ar, u.name_en, u.max_guests, u.nightly_price,
                min(c.starts_at) AS starts_at, max(c.ends_at) AS ends_at
           FROM units u
           JOIN providers p ON p.id = u.provider_id
           JOIN inventory_cells c ON c.unit_id = u.id
          WHERE u.provider_id = ANY($1) AND u.kind = 'room_type' AND u.active
            AND u.max_guests * $4 >= $5
            AND c.starts_at >= ($2::date)::timestamp AT TIME ZONE p.timezone
            AND c.starts_at < ($3::date)::timestamp AT TIME ZONE p.timezone
            AND c.capacity - c.reserved >= $4
          GROUP BY u.id
         HAVING count(*) = $6",
    )
    .bind::<Array<SqlUuid>, _>(provider_ids)
    .bind::<Date, _>(query.check_in)
    .bind::<Date, _>(query.check_out)
    .bind::<Int4, _>(i32::try_from(query.rooms).unwrap_or(i32::MAX))
    .bind::<Int4, _>(i32::try_from(query.guests).unwrap_or(i32::MAX))
    .bind::<diesel::sql_types::BigInt, _>(i64::from(query.nights()))
    .load(conn)?;
    let nights = Decimal::from(query.nights());
    let rooms = Decimal::from(query.rooms);
    Ok(rows
        .into_iter()
        .map(|row| {
            let offer = ProviderOffer {
                unit_code: row.unit_id.to_string(),
                unit_name_ar: row.name_ar,
                unit_name_en: row.name_en,
                start: row.starts_at,
                end: row.ends_at,
                quantity: query.rooms,
                provider_price: row.nightly_price * nights * rooms,
                slot_ref: None,
                specialty: None,
                practitioner: None,
                max_guests: u32::try_from(row.max_guests).ok(),
            };
            (row.provider_id, offer)
        })
        .collect())
}

#[derive(QueryableByName)]
struct FreeSlot {
    #[diesel(sql_type = SqlUuid)]
    provider_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    unit_id: Uuid,
    #[diesel(sql_type = Text)]
    name_ar: String,
    #[diesel(sql_type = Text)]
    name_en: String,
    #[diesel(sql_type = Text)]
    specialty: String,
    #[diesel(sql_type = Nullable<Text>)]
    practitioner: Option<String>,
    #[diesel(sql_type = Numeric)]
    price: Decimal,
    #[diesel(sql_type = Timestamptz)]
    starts_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    ends_at: DateTime<Utc>,
}

/// Free future slots of these providers' clinic services in the window, earliest first.
pub fn search_slots(
    conn: &mut PgConnection,
    provider_ids: &[Uuid],
    query: &SlotQuery,
    limit: i64,
) -> QueryResult<Vec<(Uuid, ProviderOffer)>> {
    let rows: Vec<FreeSlot> = diesel::sql_query(
        "SELECT u.provider_id, u.id AS unit_id, u.name_ar, u.name_en, u.specialty, u.practitioner,
                u.price, c.starts_at, c.ends_at
           FROM units u
           JOIN providers p ON p.id = u.provider_id
           JOIN inventory_cells c ON c.unit_id = u.id
          WHERE u.provider_id = ANY($1) AND u.kind = 'clinic_service' AND u.active
            AND ($2::text IS NULL OR u.specialty = $2)
            AND c.starts_at >= ($3::date)::timestamp AT TIME ZONE p.timezone
            AND c.starts_at < (($4::date) + 1)::timestamp AT TIME ZONE p.timezone
            AND c.starts_at > now()
            AND c.reserved < c.capacity
          ORDER BY c.starts_at, u.id
          LIMIT $5",
    )
    .bind::<Array<SqlUuid>, _>(provider_ids)
    .bind::<Nullable<Text>, _>(query.specialty.as_deref().map(str::to_lowercase))
    .bind::<Date, _>(query.from)
    .bind::<Date, _>(query.to)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let offer = ProviderOffer {
                unit_code: row.unit_id.to_string(),
                unit_name_ar: row.name_ar,
                unit_name_en: row.name_en,
                start: row.starts_at,
                end: row.ends_at,
                quantity: 1,
                provider_price: row.price,
                slot_ref: None,
                specialty: Some(row.specialty),
                practitioner: row.practitioner,
                max_guests: None,
            };
            (row.provider_id, offer)
        })
        .collect())
}
