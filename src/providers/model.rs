//! What a provider is, how it is reached, and what an availability question looks like.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{AsExpression, FromSqlRow, sql_types::Text};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[serde(rename_all = "lowercase")]
#[diesel(sql_type = Text)]
pub enum ProviderKind {
    Hotel,
    Hospital,
}

crate::text_enum!(ProviderKind { Hotel => "hotel", Hospital => "hospital" });

/// How a provider is reached, with the settings that adapter needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "adapter", rename_all = "lowercase")]
pub enum AdapterSettings {
    /// Inventory the office manages in our own tables (units and cells).
    Local,
    Fhir(FhirSettings),
    Caldav(CaldavSettings),
}

/// A hospital's FHIR R4 server and the Schedules we book on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirSettings {
    /// e.g. `https://fhir.hospital.example/R4` (no trailing slash needed).
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default, skip_serializing)]
    pub bearer_token: Option<SecretString>,
    pub schedules: Vec<FhirSchedule>,
}

/// One bookable Schedule (a clinic's or practitioner's calendar) and what a visit costs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirSchedule {
    /// The Schedule's logical id on the FHIR server.
    pub schedule_id: String,
    /// Price of one appointment, SAR.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
}

/// A hotel's CalDAV server: one calendar collection per room type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaldavSettings {
    /// e.g. `https://dav.hotel.example` (calendar paths are relative to it).
    pub base_url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    pub room_types: Vec<CaldavRoomType>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaldavRoomType {
    /// Our stable code for the room type, unique within the provider (e.g. `deluxe-king`).
    pub code: String,
    /// Path of the calendar collection, e.g. `/hotel/deluxe-king/`.
    pub calendar_path: String,
    pub name_ar: String,
    pub name_en: String,
    /// How many rooms of this type exist: a night is free while fewer events cover it.
    pub rooms: u32,
    pub max_guests: u32,
    #[serde(with = "rust_decimal::serde::str")]
    pub nightly_price: Decimal,
}

/// "Which rooms are free for these nights?"
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StayQuery {
    pub check_in: NaiveDate,
    /// Exclusive: the morning the guest leaves.
    pub check_out: NaiveDate,
    pub guests: u32,
    pub rooms: u32,
}

impl StayQuery {
    pub fn nights(&self) -> u32 {
        u32::try_from((self.check_out - self.check_in).num_days()).unwrap_or(0)
    }
}

/// "Which appointment slots are free in this window?"
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotQuery {
    /// Matched case-insensitively against the specialty's code or display text.
    pub specialty: Option<String>,
    pub from: NaiveDate,
    /// Inclusive: the last day of the window.
    pub to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvailabilityQuery {
    Stay(StayQuery),
    Slots(SlotQuery),
}

/// What a provider can offer for a query, before our fee and VAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderOffer {
    /// The unit within the provider: a local unit id, a FHIR Schedule id, a CalDAV room-type code.
    pub unit_code: String,
    pub unit_name_ar: String,
    pub unit_name_en: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Rooms (hotels) or 1 (appointments).
    pub quantity: u32,
    /// For the whole stay and every room, or for the one appointment; SAR.
    #[serde(with = "rust_decimal::serde::str")]
    pub provider_price: Decimal,
    /// The provider's own id of what would be booked, e.g. a FHIR `Slot` id.
    pub slot_ref: Option<String>,
    pub specialty: Option<String>,
    pub practitioner: Option<String>,
    pub max_guests: Option<u32>,
}

/// A booking as an adapter sees it: our reference (stable across retries) and who comes.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    /// Our booking reference, e.g. `WS-7K3F9Q`: every adapter write is idempotent on it.
    pub reference: String,
    pub unit_code: String,
    pub slot_ref: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub quantity: u32,
    pub guest_name: String,
    pub guest_phone: Option<String>,
    pub guest_email: Option<String>,
}

/// The provider's handle on a booking, kept so we can cancel it: a FHIR `Appointment/<id>`,
/// or the CalDAV event hrefs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRef(pub String);
