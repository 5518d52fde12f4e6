//! The `local` adapter: inventory the office manages in our own tables. A unit's cells are
//! its nights (room types) or its appointment slots (clinic services), each with a
//! `capacity` and how much of it is `reserved`.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::{ProviderOffer, SlotQuery, StayQuery};
use super::rates::{OccupancyRates, room_lines};
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

/// The cells of `unit_id` starting in `[from, until)`: a stay's nights, a slot, a range an
/// admin opens or closes.
#[diesel::dsl::auto_type(no_type_alias)]
pub fn cells_between(unit_id: Uuid, from: DateTime<Utc>, until: DateTime<Utc>) -> _ {
    inventory_cells::table
        .filter(inventory_cells::unit_id.eq(unit_id))
        .filter(inventory_cells::starts_at.ge(from))
        .filter(inventory_cells::starts_at.lt(until))
}

/// Closes `[from, until)`: nothing more can be sold there; what is sold stays sold.
pub fn close_cells(
    conn: &mut PgConnection,
    unit_id: Uuid,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> QueryResult<usize> {
    crate::providers::answer_cache::inventory_changed();
    diesel::update(cells_between(unit_id, from, until))
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
    cells_between(unit_id, from, until)
        .order(inventory_cells::starts_at)
        .select(CellRow::as_select())
        .load(conn)
}

/// A room type with every night of a stay free, as [`search_stays`] reads it: its provider,
/// code, names, most guests a room, nightly price, rates by occupancy, the stay's first and
/// last instants, and the fewest rooms free on any of its nights.
type FreeRoomType = (
    Uuid,
    String,
    String,
    String,
    Option<i32>,
    Option<Decimal>,
    Option<serde_json::Value>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<i32>,
);

/// Room types of these providers with `rooms` free on every night of the stay. Nights are
/// local dates, so providers are asked a query per time zone (one, in practice); each is a
/// fixed statement that PostgreSQL plans once per connection.
pub fn search_stays(
    conn: &mut PgConnection,
    providers: &[(Uuid, Tz)],
    query: &StayQuery,
) -> QueryResult<Vec<(Uuid, ProviderOffer)>> {
    use crate::schema::units;
    use diesel::dsl::{count_star, max, min};

    let rooms = i32::try_from(query.rooms).unwrap_or(i32::MAX);
    // Every room must take its own guests: the fullest one bounds the column.
    let fullest_room = i32::try_from(query.occupancy.fullest_room()).unwrap_or(i32::MAX);
    let nights = i64::from(query.nights());
    let mut offers = Vec::new();
    for zone in time_zones(providers) {
        let ids = providers_in(providers, zone);
        // `= ANY($1)` as `eq_any` sends it, but through `any`, whose query id is static:
        // diesel then finds the prepared statement by the query's type instead of building
        // its SQL text again on every search (`eq_any`'s list has no static id).
        #[allow(deprecated)]
        let rows: Vec<FreeRoomType> = units::table
            .inner_join(inventory_cells::table)
            .filter(units::provider_id.eq(diesel::dsl::any(&ids)))
            .filter(units::kind.eq("room_type"))
            .filter(units::active.eq(true))
            .filter(units::max_guests.ge(fullest_room))
            .filter(inventory_cells::starts_at.ge(local_midnight(query.check_in, zone)))
            .filter(inventory_cells::starts_at.lt(local_midnight(query.check_out, zone)))
            .filter((inventory_cells::capacity - inventory_cells::reserved).ge(rooms))
            .group_by(units::id)
            .having(count_star().eq(nights))
            .select((
                units::provider_id,
                units::code,
                units::name_ar,
                units::name_en,
                units::max_guests,
                units::nightly_price,
                units::occupancy_rates,
                min(inventory_cells::starts_at),
                max(inventory_cells::ends_at),
                min(inventory_cells::capacity - inventory_cells::reserved),
            ))
            .load(conn)?;
        offers.extend(rows.into_iter().filter_map(
            |(
                provider_id,
                code,
                name_ar,
                name_en,
                max_guests,
                nightly_price,
                rates,
                start,
                end,
                free,
            )| {
                let rates: Option<OccupancyRates> =
                    rates.and_then(|r| serde_json::from_value(r).ok());
                let (lines, provider_price) = room_lines(
                    nightly_price?,
                    rates.as_ref(),
                    &query.occupancy,
                    query.nights(),
                );
                let offer = ProviderOffer {
                    unit_code: code,
                    unit_name_ar: name_ar,
                    unit_name_en: name_en,
                    start: start?,
                    end: end?,
                    quantity: query.rooms,
                    provider_price,
                    slot_ref: None,
                    specialty: None,
                    practitioner: None,
                    max_guests: max_guests.and_then(|g| u32::try_from(g).ok()),
                    rooms: lines,
                    available: free.and_then(|n| u32::try_from(n).ok()),
                };
                Some((provider_id, offer))
            },
        ));
    }
    Ok(offers)
}

/// Free future slots of these providers' clinic services in the window, earliest first, at
/// most `limit`: a fixed statement per time zone, as for stays.
pub fn search_slots(
    conn: &mut PgConnection,
    providers: &[(Uuid, Tz)],
    query: &SlotQuery,
    limit: i64,
) -> QueryResult<Vec<(Uuid, ProviderOffer)>> {
    let now = Utc::now();
    let mut offers = Vec::new();
    for zone in time_zones(providers) {
        let ids = providers_in(providers, zone);
        let rows = free_slots(conn, &ids, query, zone, now, limit)?;
        offers.extend(rows.into_iter().filter_map(slot_offer));
    }
    offers.sort_by(|(_, a), (_, b)| a.start.cmp(&b.start).then(a.unit_code.cmp(&b.unit_code)));
    offers.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(offers)
}

/// The free slots after `now` of providers in one time zone, whose local dates bound the
/// window.
fn free_slots(
    conn: &mut PgConnection,
    ids: &[Uuid],
    query: &SlotQuery,
    zone: Tz,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<FreeSlot>> {
    use crate::schema::units;
    use diesel::sql_types::Bool;

    let any_specialty = query.specialty.is_none();
    let specialty = query
        .specialty
        .as_deref()
        .map(str::to_lowercase)
        .unwrap_or_default();
    let from = local_midnight(query.from, zone);
    let until = local_midnight(query.to.succ_opt().unwrap_or(query.to), zone);
    // `any`, not `eq_any`: a statement diesel finds by its type (see `search_stays`).
    #[allow(deprecated)]
    let provider_among = units::provider_id.eq(diesel::dsl::any(ids));
    units::table
        .inner_join(inventory_cells::table)
        .filter(provider_among)
        .filter(units::kind.eq("clinic_service"))
        .filter(units::active.eq(true))
        .filter(
            units::specialty
                .eq(&specialty)
                .or(any_specialty.into_sql::<Bool>().nullable()),
        )
        .filter(inventory_cells::starts_at.ge(from))
        .filter(inventory_cells::starts_at.gt(now))
        .filter(inventory_cells::starts_at.lt(until))
        .filter(inventory_cells::reserved.lt(inventory_cells::capacity))
        .order((inventory_cells::starts_at, units::code))
        .limit(limit)
        .select((
            units::provider_id,
            units::code,
            units::name_ar,
            units::name_en,
            units::specialty,
            units::practitioner,
            units::price,
            inventory_cells::starts_at,
            inventory_cells::ends_at,
        ))
        .load(conn)
}

/// A free slot as an offer of its provider; a service without a price offers nothing.
fn slot_offer(
    (provider_id, code, name_ar, name_en, specialty, practitioner, price, start, end): FreeSlot,
) -> Option<(Uuid, ProviderOffer)> {
    let offer = ProviderOffer {
        unit_code: code,
        unit_name_ar: name_ar,
        unit_name_en: name_en,
        start,
        end,
        quantity: 1,
        provider_price: price?,
        slot_ref: None,
        specialty,
        practitioner,
        max_guests: None,
        rooms: Vec::new(),
        available: Some(1),
    };
    Some((provider_id, offer))
}

/// A free slot, as [`search_slots`] reads it.
type FreeSlot = (
    Uuid,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<Decimal>,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// The distinct time zones of `providers`.
fn time_zones(providers: &[(Uuid, Tz)]) -> Vec<Tz> {
    let mut zones: Vec<Tz> = providers.iter().map(|(_, tz)| *tz).collect();
    zones.sort_by_key(|tz| tz.name());
    zones.dedup();
    zones
}

fn providers_in(providers: &[(Uuid, Tz)], zone: Tz) -> Vec<Uuid> {
    providers
        .iter()
        .filter(|(_, tz)| *tz == zone)
        .map(|(id, _)| *id)
        .collect()
}
