//! What a provider is, how it is reached, and what an availability question looks like.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{AsExpression, FromSqlRow, sql_types::Text};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::rates::RoomLine;
use crate::domain::occupancy::Occupancy;
use crate::domain::{Patient, text};

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

/// What answers show in place of a credential.
pub const REDACTED: &str = "[REDACTED]";

/// The settings that are credentials, in every adapter that has them.
const CREDENTIALS: [&str; 2] = ["bearer_token", "password"];

/// How a provider is reached, with the settings that adapter needs. Stored as the
/// `adapter` name plus its settings as JSON (credentials included: they are needed to call).
#[derive(Debug, Clone)]
pub enum AdapterSettings {
    /// Inventory the office manages in our own tables (units and cells).
    Local,
    Fhir(FhirSettings),
    Caldav(CaldavSettings),
}

impl AdapterSettings {
    pub const NAMES: [&'static str; 3] = ["local", "fhir", "caldav"];

    pub fn name(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Fhir(_) => "fhir",
            Self::Caldav(_) => "caldav",
        }
    }

    /// Reads `settings` for the adapter called `name`; the error names the offending path
    /// below `adapter_settings`.
    pub fn parse(
        name: &str,
        settings: serde_json::Value,
    ) -> Result<Self, crate::error::FieldError> {
        use crate::error::FieldError;
        let at = |e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            let field = if path == "." {
                "adapter_settings".to_owned()
            } else {
                format!("adapter_settings.{path}")
            };
            FieldError::new(field, e.into_inner().to_string())
        };
        let parsed = match name {
            "local" => Self::Local,
            "fhir" => Self::Fhir(serde_path_to_error::deserialize(settings).map_err(at)?),
            "caldav" => Self::Caldav(serde_path_to_error::deserialize(settings).map_err(at)?),
            other => {
                return Err(FieldError::new(
                    "adapter",
                    format!("`{other}` is not one of local, fhir, caldav"),
                ));
            }
        };
        parsed.check().map_err(|(path, message)| {
            FieldError::new(format!("adapter_settings.{path}"), message)
        })?;
        Ok(parsed)
    }

    fn check(&self) -> Result<(), (String, String)> {
        let fail = |path: String, message: &str| Err((path, message.to_owned()));
        let url_ok = |url: &str| {
            reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        };
        match self {
            Self::Local => Ok(()),
            Self::Fhir(fhir) => {
                if !url_ok(&fhir.base_url) {
                    return fail("base_url".into(), "must be an http(s) URL");
                }
                if fhir.schedules.is_empty() {
                    return fail("schedules".into(), "must list at least one schedule");
                }
                for (i, schedule) in fhir.schedules.iter().enumerate() {
                    if schedule.price.is_sign_negative() {
                        return fail(format!("schedules[{i}].price"), "must not be negative");
                    }
                }
                Ok(())
            }
            Self::Caldav(caldav) => {
                if !url_ok(&caldav.base_url) {
                    return fail("base_url".into(), "must be an http(s) URL");
                }
                if caldav.room_types.is_empty() {
                    return fail("room_types".into(), "must list at least one room type");
                }
                for (i, room) in caldav.room_types.iter().enumerate() {
                    if room.rooms == 0 || room.max_guests == 0 {
                        return fail(
                            format!("room_types[{i}]"),
                            "rooms and max_guests must be at least 1",
                        );
                    }
                    if room.nightly_price.is_sign_negative() {
                        return fail(
                            format!("room_types[{i}].nightly_price"),
                            "must not be negative",
                        );
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads settings an admin sends: [`parse`](Self::parse), and text that goes into URLs,
    /// headers and calendars without control characters (stored settings are read as they
    /// are, so a provider saved before this rule keeps working).
    pub fn parse_input(
        name: &str,
        settings: serde_json::Value,
    ) -> Result<Self, crate::error::FieldError> {
        let parsed = Self::parse(name, settings)?;
        parsed.check_text().map_err(|(path, message)| {
            crate::error::FieldError::new(format!("adapter_settings.{path}"), message)
        })?;
        Ok(parsed)
    }

    /// Settings sent back as a GET showed them: a credential given as [`REDACTED`] (a base
    /// URL with `[REDACTED]@`) keeps the one `stored` for the same adapter, so an admin
    /// editing a name never wipes a password.
    pub fn keep_stored_credentials(
        mut sent: serde_json::Value,
        stored: &serde_json::Value,
    ) -> serde_json::Value {
        if let Some(fields) = sent.as_object_mut() {
            for key in CREDENTIALS {
                let redacted = fields.get(key).and_then(|v| v.as_str()) == Some(REDACTED);
                if let Some(secret) = stored.get(key).filter(|s| redacted && !s.is_null()) {
                    fields.insert(key.to_owned(), secret.clone());
                }
            }
            if let Some(stored_url) = stored.get("base_url").and_then(|url| url.as_str())
                && let Some(shown) = redact_userinfo(stored_url)
                && fields.get("base_url").and_then(|v| v.as_str()) == Some(shown.as_str())
            {
                fields.insert("base_url".into(), stored_url.into());
            }
        }
        sent
    }

    fn check_text(&self) -> Result<(), (String, String)> {
        // A marker with nothing stored behind it (a new provider, another adapter) is not a
        // credential: saving it would lock the provider out.
        let stored = self.to_stored_json();
        for key in CREDENTIALS.into_iter().chain(["base_url"]) {
            let value = stored.get(key).and_then(|v| v.as_str()).unwrap_or_default();
            if value == REDACTED || (key == "base_url" && value.contains(REDACTED)) {
                return Err((
                    key.into(),
                    "is the placeholder answers show; send the credential itself".into(),
                ));
            }
        }
        match self {
            Self::Local => Ok(()),
            Self::Fhir(fhir) => {
                no_controls("base_url", &fhir.base_url)?;
                for (i, schedule) in fhir.schedules.iter().enumerate() {
                    no_controls(
                        &format!("schedules[{i}].schedule_id"),
                        &schedule.schedule_id,
                    )?;
                    if let Some(code) = &schedule.code {
                        unit_code(&format!("schedules[{i}].code"), code)?;
                    }
                }
                distinct_codes(
                    "schedules",
                    fhir.schedules.iter().map(FhirSchedule::unit_code),
                )
            }
            Self::Caldav(caldav) => {
                no_controls("base_url", &caldav.base_url)?;
                if let Some(username) = &caldav.username {
                    no_controls("username", username)?;
                }
                for (i, room) in caldav.room_types.iter().enumerate() {
                    unit_code(&format!("room_types[{i}].code"), &room.code)?;
                    no_controls(
                        &format!("room_types[{i}].calendar_path"),
                        &room.calendar_path,
                    )?;
                    for (field, value) in [("name_ar", &room.name_ar), ("name_en", &room.name_en)] {
                        text::name(value, 200)
                            .map_err(|reason| (format!("room_types[{i}].{field}"), reason))?;
                    }
                }
                distinct_codes(
                    "room_types",
                    caldav.room_types.iter().map(|room| room.code.as_str()),
                )
            }
        }
    }

    /// For storage: everything, credentials included.
    pub fn to_stored_json(&self) -> serde_json::Value {
        match self {
            Self::Local => serde_json::json!({}),
            Self::Fhir(fhir) => serde_json::to_value(fhir).unwrap_or_default(),
            Self::Caldav(caldav) => serde_json::to_value(caldav).unwrap_or_default(),
        }
    }

    /// The server an outside adapter calls.
    pub fn base_url(&self) -> Option<&str> {
        match self {
            Self::Local => None,
            Self::Fhir(fhir) => Some(&fhir.base_url),
            Self::Caldav(caldav) => Some(&caldav.base_url),
        }
    }

    /// For API answers: credentials replaced by a marker saying one is set, those written
    /// into the base URL (`https://user:pass@…`) too.
    pub fn to_public_json(&self) -> serde_json::Value {
        let mut value = self.to_stored_json();
        if let Some(object) = value.as_object_mut() {
            for key in CREDENTIALS {
                if let Some(secret) = object.get_mut(key).filter(|s| !s.is_null()) {
                    *secret = serde_json::Value::String(REDACTED.into());
                }
            }
            if let Some(url) = object.get_mut("base_url")
                && let Some(redacted) = url.as_str().and_then(redact_userinfo)
            {
                *url = serde_json::Value::String(redacted);
            }
        }
        value
    }
}

/// `https://user:pass@host/…` as `https://[REDACTED]@host/…` (a user name alone may be a
/// token too); `None` when the URL carries no credentials.
fn redact_userinfo(raw: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(raw).ok()?;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    url.set_username("").ok()?;
    url.set_password(None).ok()?;
    let scheme = url.scheme().len() + "://".len();
    let bare = url.as_str();
    Some(format!("{}{REDACTED}@{}", &bare[..scheme], &bare[scheme..]))
}

/// URLs, codes, paths and user names go into requests and headers: no control characters
/// (the URL parser would drop tabs and line breaks silently, not refuse them).
fn no_controls(path: &str, value: &str) -> Result<(), (String, String)> {
    if value.contains(char::is_control) {
        return Err((
            path.to_owned(),
            "must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// A room type's or schedule's code: readable, as our own units' are (`domain::slug`).
fn unit_code(path: &str, value: &str) -> Result<(), (String, String)> {
    if crate::domain::slug::is_unit_code(value) {
        Ok(())
    } else {
        Err((
            path.to_owned(),
            "must be lower-case latin letters and digits in words joined by dashes, such as `deluxe-double`".into(),
        ))
    }
}

/// Offers name a room type or schedule by its code, so two may not share one.
fn distinct_codes<'a>(
    path: &str,
    codes: impl Iterator<Item = &'a str>,
) -> Result<(), (String, String)> {
    let mut seen = std::collections::HashSet::new();
    for (i, code) in codes.enumerate() {
        if !seen.insert(code) {
            return Err((format!("{path}[{i}].code"), "is used twice".into()));
        }
    }
    Ok(())
}

fn expose_optional_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    match secret {
        Some(secret) => serializer.serialize_some(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

/// A hospital's FHIR R4 server and the Schedules we book on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirSettings {
    /// e.g. `https://fhir.hospital.example/R4` (no trailing slash needed).
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default, serialize_with = "expose_optional_secret")]
    pub bearer_token: Option<SecretString>,
    pub schedules: Vec<FhirSchedule>,
}

/// One bookable Schedule (a clinic's or practitioner's calendar) and what a visit costs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirSchedule {
    /// The Schedule's logical id on the FHIR server.
    pub schedule_id: String,
    /// Our readable code for it (`cardiology-ali`), unique within the provider: servers
    /// often give Schedules UUIDs, which offers and bookings should not show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Price of one appointment, SAR.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
}

impl FhirSchedule {
    /// What offers, bookings and webhooks call it: its code, or (saved before codes) its
    /// Schedule id.
    pub fn unit_code(&self) -> &str {
        self.code.as_deref().unwrap_or(&self.schedule_id)
    }
}

/// A hotel's CalDAV server: one calendar collection per room type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaldavSettings {
    /// e.g. `https://dav.hotel.example` (calendar paths are relative to it).
    pub base_url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, serialize_with = "expose_optional_secret")]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StayQuery {
    pub check_in: NaiveDate,
    /// Exclusive: the morning the guest leaves.
    pub check_out: NaiveDate,
    pub guests: u32,
    pub rooms: u32,
    /// Who stays in each room (as many as `rooms`; `guests` is everyone in them).
    pub occupancy: Occupancy,
}

impl StayQuery {
    pub fn nights(&self) -> u32 {
        u32::try_from((self.check_out - self.check_in).num_days()).unwrap_or(0)
    }
}

/// "Which appointment slots are free in this window?"
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotQuery {
    /// Matched case-insensitively against the specialty's code or display text.
    pub specialty: Option<String>,
    pub from: NaiveDate,
    /// Inclusive: the last day of the window.
    pub to: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AvailabilityQuery {
    Stay(StayQuery),
    Slots(SlotQuery),
}

/// What a provider can offer for a query, before our fee and VAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderOffer {
    /// The unit within the provider: a local unit's code, a FHIR Schedule id, a CalDAV
    /// room-type code.
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
    /// A stay's rooms, each with its guests and price (their sum is `provider_price`).
    pub rooms: Vec<RoomLine>,
    /// Rooms (or appointments) of this kind still free for every night asked, when known.
    pub available: Option<u32>,
}

/// A booked room as the provider is told of it: who stays, and who to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomRequest {
    pub lead_guest: String,
    pub adults: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<u32>,
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
    /// A hospital appointment's patient (the FHIR adapter sends it as the Appointment's
    /// Patient); none for a hotel stay.
    pub patient: Option<Patient>,
    /// A stay's rooms with their guests and lead guests (as many as `quantity`; empty when
    /// not known, e.g. a request made before rooms had guests).
    pub rooms: Vec<RoomRequest>,
}

/// The provider's handle on a booking, kept so we can cancel it: a FHIR `Appointment/<id>`,
/// or the CalDAV event hrefs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRef(pub String);

#[cfg(test)]
mod tests {
    use super::redact_userinfo;

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact_userinfo("https://hotel:s3cret@dav.example.com/cal").as_deref(),
            Some("https://[REDACTED]@dav.example.com/cal")
        );
        assert_eq!(
            redact_userinfo("http://token@10.0.0.1:8080").as_deref(),
            Some("http://[REDACTED]@10.0.0.1:8080/")
        );
        assert_eq!(
            redact_userinfo("https://:only-pass@fhir.example/R4").as_deref(),
            Some("https://[REDACTED]@fhir.example/R4")
        );
        assert_eq!(redact_userinfo("https://fhir.example/R4"), None);
    }
}
