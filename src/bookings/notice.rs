//! What a provider is told about a booking in a webhook.
//!
//! A hospital booking's patient is not in it: a webhook's payload is kept in the `jobs` and
//! `webhook_deliveries` tables for weeks, and the patient lives only in `booking_patients`
//! (`patients.rs`). The hospital reads the patient with its provider login from
//! `GET /v1/bookings/{reference}`, and a FHIR hospital has it on the Appointment already.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::store::BookingRow;

/// The booking as a provider is told about it: by our `id` (the key of
/// `/v1/provider/bookings/{b}/ack`) and the `reference` people read out.
#[derive(Debug, Serialize)]
pub struct BookingNotice {
    pub id: Uuid,
    pub reference: String,
    pub status: String,
    pub unit_code: String,
    pub slot_ref: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub quantity: i32,
    pub guests: Option<i32>,
    pub guest_name: String,
    pub guest_phone: Option<String>,
    pub provider_ref: Option<String>,
    /// On a no-show: the fee the provider keeps (from the payment when prepaid, else it
    /// collects it from the guest), and the waiver when staff granted one (nothing to keep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_show: Option<super::view::NoShowView>,
    /// A stay's rooms, each with its guests and lead guest (one line per room).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<super::hold::BookedRoom>,
}

impl From<&BookingRow> for BookingNotice {
    fn from(row: &BookingRow) -> Self {
        Self {
            id: row.id,
            reference: row.reference.clone(),
            status: row.status.as_str().to_owned(),
            unit_code: row.unit_code.clone(),
            slot_ref: row.slot_ref.clone(),
            start: row.starts_at,
            end: row.ends_at,
            quantity: row.quantity,
            guests: row.guests,
            guest_name: row.contact_name.clone(),
            guest_phone: row.contact_phone.clone(),
            provider_ref: row.provider_ref.clone(),
            no_show: None,
            rooms: Vec::new(),
        }
    }
}
