//! Diesel queries for providers and their units.

use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::ProviderKind;
use super::policy::NoShowFee;
use crate::schema::{providers, units};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = providers, check_for_backend(diesel::pg::Pg))]
pub struct ProviderRow {
    pub id: Uuid,
    pub kind: ProviderKind,
    pub name_ar: String,
    pub name_en: String,
    pub city: String,
    pub timezone: String,
    pub adapter: String,
    pub adapter_settings: serde_json::Value,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancellation_policy: serde_json::Value,
    /// Change fee tiers and the cut-off (`policy::ChangePolicy`).
    pub change_policy: serde_json::Value,
    /// Whether customers pay the provider's price through us (else at the provider).
    pub prepaid: bool,
    /// When the webhook URL answered 410 Gone; a new URL clears it.
    pub webhook_disabled_at: Option<DateTime<Utc>>,
    /// What it keeps of its price when the guest does not come.
    pub no_show_fee: NoShowFee,
    /// Where it is, one line in each language (empty: not given yet).
    pub address_ar: String,
    pub address_en: String,
    /// A hotel's check-in and check-out, local times in its zone (none for a hospital).
    pub check_in_time: Option<NaiveTime>,
    pub check_out_time: Option<NaiveTime>,
    /// Where it is (WGS 84 degrees), both or neither: a search measures its distance.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Names the current photo (`provider_photos`), so its URL changes with it.
    pub photo_etag: Option<String>,
}

/// Who a provider is, as offers and bookings show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProviderSummary {
    pub id: Uuid,
    pub kind: ProviderKind,
    pub name_ar: String,
    pub name_en: String,
    pub city: String,
    pub timezone: String,
    /// Customers pay the provider's price through us (else at the provider).
    pub prepaid: bool,
    /// What it keeps of its price when the guest does not come.
    pub no_show_fee: NoShowFee,
    pub address_ar: String,
    pub address_en: String,
    /// A hotel's check-in and check-out, `HH:MM` in its zone.
    #[serde(serialize_with = "crate::domain::hh_mm")]
    pub check_in_time: Option<NaiveTime>,
    #[serde(serialize_with = "crate::domain::hh_mm")]
    pub check_out_time: Option<NaiveTime>,
    /// Its photo, versioned by the photo's ETag (null: none uploaded).
    pub photo_url: Option<String>,
}

impl From<&ProviderRow> for ProviderSummary {
    fn from(row: &ProviderRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            name_ar: row.name_ar.clone(),
            name_en: row.name_en.clone(),
            city: row.city.clone(),
            timezone: row.timezone.clone(),
            prepaid: row.prepaid,
            no_show_fee: row.no_show_fee,
            address_ar: row.address_ar.clone(),
            address_en: row.address_en.clone(),
            check_in_time: row.check_in_time,
            check_out_time: row.check_out_time,
            photo_url: super::photos::photo_url(row),
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = providers)]
pub struct NewProviderRow {
    pub kind: ProviderKind,
    pub name_ar: String,
    pub name_en: String,
    pub city: String,
    pub timezone: String,
    pub adapter: String,
    pub adapter_settings: serde_json::Value,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    /// `None`: the database default (72 h full refund, 24 h half).
    pub cancellation_policy: Option<serde_json::Value>,
    /// `None`: the database default (free until 48 h, 10 % until 24 h, then closed).
    pub change_policy: Option<serde_json::Value>,
    /// `None`: the database default (prepaid).
    pub prepaid: Option<bool>,
    /// `None`: the database default (`first_night`).
    pub no_show_fee: Option<NoShowFee>,
    pub address_ar: String,
    pub address_en: String,
    pub check_in_time: Option<NaiveTime>,
    pub check_out_time: Option<NaiveTime>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A partial update: `None` leaves a column as it is.
#[derive(Debug, Default, PartialEq, AsChangeset)]
#[diesel(table_name = providers)]
pub struct ProviderChanges {
    pub name_ar: Option<String>,
    pub name_en: Option<String>,
    pub city: Option<String>,
    pub timezone: Option<String>,
    pub adapter: Option<String>,
    pub adapter_settings: Option<serde_json::Value>,
    pub webhook_url: Option<Option<String>>,
    pub active: Option<bool>,
    pub cancellation_policy: Option<serde_json::Value>,
    pub change_policy: Option<serde_json::Value>,
    pub prepaid: Option<bool>,
    pub no_show_fee: Option<NoShowFee>,
    /// Cleared (`Some(None)`) when a new URL is set: a 410 from the old one says nothing about it.
    pub webhook_disabled_at: Option<Option<DateTime<Utc>>>,
    pub address_ar: Option<String>,
    pub address_en: Option<String>,
    pub check_in_time: Option<Option<NaiveTime>>,
    pub check_out_time: Option<Option<NaiveTime>>,
    pub latitude: Option<Option<f64>>,
    pub longitude: Option<Option<f64>>,
}

pub fn insert_provider(conn: &mut PgConnection, new: &NewProviderRow) -> QueryResult<ProviderRow> {
    crate::providers::answer_cache::inventory_changed();
    diesel::insert_into(providers::table)
        .values(new)
        .returning(ProviderRow::as_returning())
        .get_result(conn)
}

pub fn find_provider(conn: &mut PgConnection, id: Uuid) -> QueryResult<ProviderRow> {
    providers::table
        .find(id)
        .select(ProviderRow::as_select())
        .first(conn)
}

pub struct ProviderFilter {
    pub kind: Option<ProviderKind>,
    pub city: Option<String>,
    pub active: Option<bool>,
}

pub fn list_providers(
    conn: &mut PgConnection,
    filter: &ProviderFilter,
) -> QueryResult<Vec<ProviderRow>> {
    let mut query = providers::table
        .select(ProviderRow::as_select())
        .into_boxed();
    if let Some(kind) = filter.kind {
        query = query.filter(providers::kind.eq(kind));
    }
    if let Some(city) = &filter.city {
        query = query.filter(providers::city.eq(city.clone()));
    }
    if let Some(active) = filter.active {
        query = query.filter(providers::active.eq(active));
    }
    query
        .order((providers::city, providers::name_en, providers::id))
        .load(conn)
}

/// The active providers of a kind in a city, as a search asks for them (a fixed statement,
/// so PostgreSQL plans it once per connection).
pub fn active_providers(
    conn: &mut PgConnection,
    kind: ProviderKind,
    city: &str,
) -> QueryResult<Vec<ProviderRow>> {
    providers::table
        .filter(providers::kind.eq(kind))
        .filter(providers::city.eq(city))
        .filter(providers::active.eq(true))
        .order((providers::name_en, providers::id))
        .select(ProviderRow::as_select())
        .load(conn)
}

/// Each kind's cities with an active provider, by kind then city.
pub fn active_cities(conn: &mut PgConnection) -> QueryResult<Vec<(ProviderKind, String)>> {
    providers::table
        .filter(providers::active.eq(true))
        .select((providers::kind, providers::city))
        .distinct()
        .order((providers::kind, providers::city))
        .load(conn)
}

/// The specialties of the active clinic services of active providers, each with its city,
/// by city then specialty.
pub fn local_specialties(conn: &mut PgConnection) -> QueryResult<Vec<(String, String)>> {
    let specialties: Vec<(String, Option<String>)> = units::table
        .inner_join(providers::table)
        .filter(providers::active.eq(true))
        .filter(units::active.eq(true))
        .filter(units::kind.eq("clinic_service"))
        .filter(units::specialty.is_not_null())
        .select((providers::city, units::specialty))
        .distinct()
        .order((providers::city, units::specialty))
        .load(conn)?;
    Ok(specialties
        .into_iter()
        .filter_map(|(city, specialty)| Some((city, specialty?)))
        .collect())
}

pub fn update_provider(
    conn: &mut PgConnection,
    id: Uuid,
    changes: &ProviderChanges,
) -> QueryResult<ProviderRow> {
    if *changes == ProviderChanges::default() {
        // `PATCH {}` changes nothing (diesel refuses an empty SET): the provider as it is.
        return providers::table
            .find(id)
            .select(ProviderRow::as_select())
            .first(conn);
    }
    crate::providers::answer_cache::inventory_changed();
    diesel::update(providers::table.find(id))
        .set(changes)
        .returning(ProviderRow::as_returning())
        .get_result(conn)
}

/// Replaces the signing secret, keeping the old one for the overlap.
pub fn rotate_webhook_secret(
    conn: &mut PgConnection,
    id: Uuid,
    secret: &str,
) -> QueryResult<ProviderRow> {
    diesel::update(providers::table.find(id))
        .set((
            providers::previous_webhook_secret.eq(providers::webhook_secret.nullable()),
            providers::webhook_secret.eq(secret),
            providers::webhook_secret_rotated_at.eq(Some(Utc::now())),
        ))
        .returning(ProviderRow::as_returning())
        .get_result(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = units, check_for_backend(diesel::pg::Pg))]
pub struct UnitRow {
    pub id: Uuid,
    pub provider_id: Uuid,
    /// Readable and unique within the provider (`deluxe-double`): what offers show.
    pub code: String,
    pub kind: String,
    pub name_ar: String,
    pub name_en: String,
    pub max_guests: Option<i32>,
    pub rooms: Option<i32>,
    pub nightly_price: Option<Decimal>,
    pub specialty: Option<String>,
    pub practitioner: Option<String>,
    pub slot_minutes: Option<i32>,
    pub price: Option<Decimal>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// Prices by occupancy (`providers::rates::OccupancyRates`); none: the nightly price.
    pub occupancy_rates: Option<serde_json::Value>,
}

impl UnitRow {
    /// The unit's rates by occupancy, if it has readable ones (validated when written).
    pub fn rates(&self) -> Option<super::rates::OccupancyRates> {
        self.occupancy_rates
            .clone()
            .and_then(|value| serde_json::from_value(value).ok())
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = units)]
pub struct NewUnitRow {
    pub provider_id: Uuid,
    pub code: String,
    pub kind: String,
    pub name_ar: String,
    pub name_en: String,
    pub max_guests: Option<i32>,
    pub rooms: Option<i32>,
    pub nightly_price: Option<Decimal>,
    pub specialty: Option<String>,
    pub practitioner: Option<String>,
    pub slot_minutes: Option<i32>,
    pub price: Option<Decimal>,
    pub occupancy_rates: Option<serde_json::Value>,
}

pub fn insert_unit(conn: &mut PgConnection, new: &NewUnitRow) -> QueryResult<UnitRow> {
    crate::providers::answer_cache::inventory_changed();
    diesel::insert_into(units::table)
        .values(new)
        .returning(UnitRow::as_returning())
        .get_result(conn)
}

/// The codes of a provider's units that are `base` or start `base-`, under a lock on the
/// provider's row (held until commit), so two units made at once never pick the same one.
pub fn lock_codes_like(
    conn: &mut PgConnection,
    provider_id: Uuid,
    base: &str,
) -> QueryResult<Vec<String>> {
    providers::table
        .find(provider_id)
        .select(providers::id)
        .for_no_key_update()
        .first::<Uuid>(conn)?;
    units::table
        .filter(units::provider_id.eq(provider_id))
        .filter(
            units::code
                .eq(base)
                .or(units::code.like(format!("{base}-%"))),
        )
        .select(units::code)
        .load(conn)
}

pub fn list_units(conn: &mut PgConnection, provider_id: Uuid) -> QueryResult<Vec<UnitRow>> {
    units::table
        .filter(units::provider_id.eq(provider_id))
        .select(UnitRow::as_select())
        .order((units::name_en, units::id))
        .load(conn)
}

pub fn find_unit(
    conn: &mut PgConnection,
    provider_id: Uuid,
    unit_id: Uuid,
) -> QueryResult<UnitRow> {
    units::table
        .find(unit_id)
        .filter(units::provider_id.eq(provider_id))
        .select(UnitRow::as_select())
        .first(conn)
}
