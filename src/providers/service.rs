//! The rules for managing providers, their units and local availability. No actix here.

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::Connection;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::local::{self, CellRow, ClinicHours};
use super::model::{AdapterSettings, ProviderKind};
use super::store::{
    self, NewProviderRow, NewUnitRow, ProviderChanges, ProviderFilter, ProviderRow, UnitRow,
};
use crate::db::{PgPool, run_blocking};
use crate::error::{ApiError, FieldError};

/// A provider as admins see it: settings without credentials, never the webhook secret.
#[derive(Debug, Serialize)]
pub struct ProviderView {
    pub id: Uuid,
    pub kind: ProviderKind,
    pub name_ar: String,
    pub name_en: String,
    pub city: String,
    pub timezone: String,
    pub adapter: String,
    pub adapter_settings: serde_json::Value,
    pub webhook_url: Option<String>,
    /// Set when the webhook URL answered 410 Gone: nothing is sent until a new URL is saved.
    pub webhook_disabled_at: Option<DateTime<Utc>>,
    pub cancellation_policy: serde_json::Value,
    pub change_policy: serde_json::Value,
    /// Customers pay the provider's price through us (`true`) or at the provider.
    pub prepaid: bool,
    /// What it keeps of its price when the guest does not come: `none`, `first_night` (for
    /// an appointment, all of it) or `full`.
    pub no_show_fee: super::policy::NoShowFee,
    /// Where it is, in each language (empty: not given).
    pub address_ar: String,
    pub address_en: String,
    /// A hotel's check-in and check-out, `HH:MM` in its zone (null for a hospital).
    #[serde(serialize_with = "crate::domain::hh_mm")]
    pub check_in_time: Option<chrono::NaiveTime>,
    #[serde(serialize_with = "crate::domain::hh_mm")]
    pub check_out_time: Option<chrono::NaiveTime>,
    /// Where it is (degrees; null: not placed), for the distance a search shows.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Its photo (null: none uploaded; `PUT /v1/admin/providers/{id}/photo`).
    pub photo_url: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ProviderRow> for ProviderView {
    fn from(row: ProviderRow) -> Self {
        let adapter_settings = AdapterSettings::parse(&row.adapter, row.adapter_settings.clone())
            .map(|settings| settings.to_public_json())
            .unwrap_or_else(|_| serde_json::json!({ "error": "stored settings no longer parse" }));
        let photo_url = super::photos::photo_url(&row);
        Self {
            id: row.id,
            kind: row.kind,
            name_ar: row.name_ar,
            name_en: row.name_en,
            city: row.city,
            timezone: row.timezone,
            adapter: row.adapter,
            adapter_settings,
            webhook_url: row.webhook_url,
            webhook_disabled_at: row.webhook_disabled_at,
            cancellation_policy: row.cancellation_policy,
            change_policy: row.change_policy,
            prepaid: row.prepaid,
            no_show_fee: row.no_show_fee,
            address_ar: row.address_ar,
            address_en: row.address_en,
            check_in_time: row.check_in_time,
            check_out_time: row.check_out_time,
            latitude: row.latitude,
            longitude: row.longitude,
            photo_url,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The only answers that carry the webhook secret: creation and rotation.
#[derive(Debug, Serialize)]
pub struct ProviderWithSecret {
    #[serde(flatten)]
    pub provider: ProviderView,
    pub webhook_secret: String,
}

/// A Standard Webhooks secret: `whsec_` and 24 random bytes in base64.
pub fn new_webhook_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("no randomness: {e}")))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Checks that an adapter can serve a kind of provider (CalDAV is for hotels, FHIR for hospitals).
pub fn check_adapter_fits(kind: ProviderKind, adapter: &AdapterSettings) -> Result<(), FieldError> {
    match (kind, adapter) {
        (ProviderKind::Hospital, AdapterSettings::Caldav(_)) => Err(FieldError::new(
            "adapter",
            "caldav serves hotels; hospitals use fhir or local",
        )),
        (ProviderKind::Hotel, AdapterSettings::Fhir(_)) => Err(FieldError::new(
            "adapter",
            "fhir serves hospitals; hotels use caldav or local",
        )),
        _ => Ok(()),
    }
}

pub fn parse_timezone(raw: &str) -> Result<Tz, FieldError> {
    raw.parse::<Tz>()
        .map_err(|_| FieldError::new("timezone", "is not an IANA time zone, e.g. Asia/Riyadh"))
}

pub async fn create_provider(
    pool: &PgPool,
    mut row: NewProviderRow,
) -> Result<ProviderWithSecret, ApiError> {
    row.webhook_secret = new_webhook_secret()?;
    run_blocking(pool, move |conn| {
        let created = store::insert_provider(conn, &row)?;
        Ok(ProviderWithSecret {
            webhook_secret: created.webhook_secret.clone(),
            provider: created.into(),
        })
    })
    .await
}

pub async fn list_providers(
    pool: &PgPool,
    filter: ProviderFilter,
) -> Result<Vec<ProviderView>, ApiError> {
    run_blocking(pool, move |conn| {
        Ok(store::list_providers(conn, &filter)?
            .into_iter()
            .map(Into::into)
            .collect())
    })
    .await
}

/// Each kind's cities with an active provider, and our own clinics' specialties.
/// What a search form offers, as `search/options` shows it.
pub struct SearchOptions {
    /// Each kind's cities with an active provider, by kind then city.
    pub cities: Vec<(ProviderKind, String)>,
    /// The cities that have names.
    pub named: Vec<super::places::CityRow>,
    /// Our own clinics' specialties, (city, specialty), by city then specialty.
    pub specialties: Vec<(String, String)>,
}

pub async fn search_options(pool: &PgPool) -> Result<SearchOptions, ApiError> {
    run_blocking(pool, |conn| {
        Ok(SearchOptions {
            cities: store::active_cities(conn)?,
            named: super::places::all_cities(conn)?,
            specialties: store::local_specialties(conn)?,
        })
    })
    .await
}

pub async fn get_provider(pool: &PgPool, id: Uuid) -> Result<ProviderRow, ApiError> {
    run_blocking(pool, move |conn| Ok(store::find_provider(conn, id)?)).await
}

pub async fn update_provider(
    pool: &PgPool,
    id: Uuid,
    changes: ProviderChanges,
) -> Result<ProviderView, ApiError> {
    run_blocking(pool, move |conn| {
        Ok(store::update_provider(conn, id, &changes)?.into())
    })
    .await
}

pub async fn rotate_webhook_secret(
    pool: &PgPool,
    id: Uuid,
) -> Result<ProviderWithSecret, ApiError> {
    let secret = new_webhook_secret()?;
    run_blocking(pool, move |conn| {
        let row = store::rotate_webhook_secret(conn, id, &secret)?;
        Ok(ProviderWithSecret {
            webhook_secret: row.webhook_secret.clone(),
            provider: row.into(),
        })
    })
    .await
}

#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UnitDetails {
    RoomType {
        max_guests: i32,
        rooms: i32,
        #[serde(with = "rust_decimal::serde::str")]
        nightly_price: Decimal,
        #[serde(skip_serializing_if = "Option::is_none")]
        occupancy_rates: Option<serde_json::Value>,
    },
    ClinicService {
        specialty: String,
        practitioner: Option<String>,
        slot_minutes: i32,
        #[serde(with = "rust_decimal::serde::str")]
        price: Decimal,
    },
}

#[derive(Debug, Serialize)]
pub struct UnitView {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub code: String,
    pub name_ar: String,
    pub name_en: String,
    #[serde(flatten)]
    pub details: UnitDetails,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<UnitRow> for UnitView {
    fn from(row: UnitRow) -> Self {
        let details = if row.kind == "room_type" {
            UnitDetails::RoomType {
                max_guests: row.max_guests.unwrap_or_default(),
                rooms: row.rooms.unwrap_or_default(),
                nightly_price: row.nightly_price.unwrap_or_default(),
                occupancy_rates: row.occupancy_rates,
            }
        } else {
            UnitDetails::ClinicService {
                specialty: row.specialty.unwrap_or_default(),
                practitioner: row.practitioner,
                slot_minutes: row.slot_minutes.unwrap_or_default(),
                price: row.price.unwrap_or_default(),
            }
        };
        Self {
            id: row.id,
            provider_id: row.provider_id,
            code: row.code,
            name_ar: row.name_ar,
            name_en: row.name_en,
            details,
            active: row.active,
            created_at: row.created_at,
        }
    }
}

/// Units belong to local providers only: external ones describe theirs in their settings.
fn require_local(provider: &ProviderRow) -> Result<(), ApiError> {
    if provider.adapter == "local" {
        Ok(())
    } else {
        Err(ApiError::Conflict {
            code: "provider.not_local",
            detail: format!(
                "this provider's inventory lives on its {} server",
                provider.adapter
            ),
        })
    }
}

/// How a new unit's `code` is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeChoice {
    /// The admin chose it: taken already is 409 `unit.code_taken`.
    Exactly,
    /// Made from the name: the first of `code`, `code-2`, `code-3`… that is free.
    OrNextFree,
}

pub async fn create_unit(
    pool: &PgPool,
    mut new: NewUnitRow,
    choice: CodeChoice,
) -> Result<UnitView, ApiError> {
    run_blocking(pool, move |conn| {
        let provider = store::find_provider(conn, new.provider_id)?;
        require_local(&provider)?;
        let expected = match provider.kind {
            ProviderKind::Hotel => "room_type",
            ProviderKind::Hospital => "clinic_service",
        };
        if new.kind != expected {
            return Err(ApiError::Validation(vec![FieldError::new(
                "kind",
                format!("a {} sells {expected} units", provider.kind),
            )]));
        }
        conn.transaction(|conn| {
            if choice == CodeChoice::OrNextFree {
                let taken = store::lock_codes_like(conn, new.provider_id, &new.code)?;
                new.code = crate::domain::slug::first_free_code(&new.code, &taken);
            }
            Ok(store::insert_unit(conn, &new)?.into())
        })
    })
    .await
}

pub async fn list_units(pool: &PgPool, provider_id: Uuid) -> Result<Vec<UnitView>, ApiError> {
    run_blocking(pool, move |conn| {
        store::find_provider(conn, provider_id)?;
        Ok(store::list_units(conn, provider_id)?
            .into_iter()
            .map(Into::into)
            .collect())
    })
    .await
}

/// What to open: nights with a room count, or slots within working hours.
#[derive(Debug, Clone)]
pub struct OpenAvailability {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rooms: Option<i32>,
    pub hours: ClinicHours,
}

pub async fn open_availability(
    pool: &PgPool,
    provider_id: Uuid,
    unit_id: Uuid,
    open: OpenAvailability,
) -> Result<usize, ApiError> {
    run_blocking(pool, move |conn| {
        let (provider, unit) = unit_of(conn, provider_id, unit_id)?;
        let timezone = provider_timezone(&provider)?;
        if unit.kind == "room_type" {
            if open.to <= open.from {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "to",
                    "must be after from (the last night's next morning)",
                )]));
            }
            let rooms = open.rooms.or(unit.rooms).unwrap_or(0);
            conn.transaction(|conn| {
                let opened =
                    local::open_nights(conn, unit.id, open.from, open.to, rooms, timezone)?;
                offer_opened(conn, unit.id)?;
                Ok(opened)
            })
        } else {
            if open.rooms.is_some() {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "rooms",
                    "applies to room types only",
                )]));
            }
            let minutes = unit.slot_minutes.unwrap_or(30);
            conn.transaction(|conn| {
                let opened = local::open_slots(
                    conn,
                    unit.id,
                    open.from,
                    open.to,
                    minutes,
                    &open.hours,
                    timezone,
                )?;
                offer_opened(conn, unit.id)?;
                Ok(opened)
            })
        }
    })
    .await
}

/// Nights or slots opened (or their capacity raised) may be what a waitlist waits for: the
/// `offer_waitlist` job, queued with the opening when anyone waits for the unit, offers them
/// to the line. (The waitlist lives in `bookings`, above this layer: only its table is read.)
fn offer_opened(conn: &mut diesel::PgConnection, unit_id: Uuid) -> Result<(), ApiError> {
    use crate::jobs::{Job, queue};
    use crate::schema::waitlist_entries;
    use diesel::prelude::*;
    let waiting: bool = diesel::select(diesel::dsl::exists(
        waitlist_entries::table
            .filter(waitlist_entries::unit_id.eq(unit_id))
            .filter(waitlist_entries::status.eq("waiting")),
    ))
    .get_result(conn)?;
    if waiting {
        let opening = Uuid::new_v4();
        queue::enqueue(
            conn,
            &Job::OfferWaitlist { unit_id },
            Some(&format!("offer_waitlist:{unit_id}:{opening}")),
            chrono::Utc::now(),
        )?;
    }
    Ok(())
}

pub async fn close_availability(
    pool: &PgPool,
    provider_id: Uuid,
    unit_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<usize, ApiError> {
    run_blocking(pool, move |conn| {
        let (provider, unit) = unit_of(conn, provider_id, unit_id)?;
        let timezone = provider_timezone(&provider)?;
        let until = to.succ_opt().unwrap_or(to);
        Ok(local::close_cells(
            conn,
            unit.id,
            local::local_midnight(from, timezone),
            local::local_midnight(until, timezone),
        )?)
    })
    .await
}

pub async fn list_availability(
    pool: &PgPool,
    provider_id: Uuid,
    unit_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CellRow>, ApiError> {
    run_blocking(pool, move |conn| {
        let (provider, unit) = unit_of(conn, provider_id, unit_id)?;
        let timezone = provider_timezone(&provider)?;
        let until = to.succ_opt().unwrap_or(to);
        Ok(local::list_cells(
            conn,
            unit.id,
            local::local_midnight(from, timezone),
            local::local_midnight(until, timezone),
        )?)
    })
    .await
}

fn unit_of(
    conn: &mut diesel::PgConnection,
    provider_id: Uuid,
    unit_id: Uuid,
) -> Result<(ProviderRow, UnitRow), ApiError> {
    let provider = store::find_provider(conn, provider_id)?;
    require_local(&provider)?;
    let unit = store::find_unit(conn, provider_id, unit_id)?;
    Ok((provider, unit))
}

fn provider_timezone(provider: &ProviderRow) -> Result<Tz, ApiError> {
    provider.timezone.parse().map_err(|_| {
        ApiError::internal(anyhow::anyhow!(
            "provider {} has a bad time zone",
            provider.id
        ))
    })
}
