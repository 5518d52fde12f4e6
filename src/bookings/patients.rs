//! The patient of a hospital booking, kept in `booking_patients` beside it: written with the
//! hold, read back for those who may see the booking (its customer, staff, that provider's
//! logins: the same `Visibility` that finds the booking), and left out of every copy that
//! outlives the request: the answer kept for an Idempotency-Key is stored without it and
//! gets it back on replay ([`PatientDetails`]), webhooks and emails never carry it.

use std::fmt;

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::patient::{IdType, Patient, masked};
use crate::idempotency::KeptSecrets;
use crate::schema::booking_patients;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = booking_patients, check_for_backend(diesel::pg::Pg))]
struct PatientRow {
    booking_id: Uuid,
    full_name: String,
    birth_date: NaiveDate,
    id_type: String,
    id_number: String,
    passport_country: Option<String>,
}

/// The patient as a booking shows it.
#[derive(Clone, Serialize)]
pub struct PatientView {
    pub full_name: String,
    pub birth_date: NaiveDate,
    pub id_type: IdType,
    /// Whole on the booking itself; in lists all but the last four characters are hidden.
    pub id_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passport_country: Option<String>,
}

impl fmt::Debug for PatientView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientView")
            .field("id_type", &self.id_type)
            .field("id_number", &masked(&self.id_number))
            .finish_non_exhaustive()
    }
}

impl From<&Patient> for PatientView {
    fn from(patient: &Patient) -> Self {
        Self {
            full_name: patient.full_name.clone(),
            birth_date: patient.birth_date,
            id_type: patient.id_type,
            id_number: patient.id_number.clone(),
            passport_country: patient.passport_country.clone(),
        }
    }
}

impl From<PatientRow> for PatientView {
    fn from(row: PatientRow) -> Self {
        Self {
            full_name: row.full_name,
            birth_date: row.birth_date,
            // The table's CHECK allows these three only.
            id_type: IdType::parse(&row.id_type).unwrap_or(IdType::Passport),
            id_number: row.id_number,
            passport_country: row.passport_country,
        }
    }
}

impl PatientView {
    fn masked(mut self) -> Self {
        self.id_number = masked(&self.id_number);
        self
    }
}

/// Writes the booking's patient (in the hold's transaction).
pub(super) fn insert(
    conn: &mut PgConnection,
    booking_id: Uuid,
    patient: &Patient,
) -> QueryResult<()> {
    diesel::insert_into(booking_patients::table)
        .values(PatientRow {
            booking_id,
            full_name: patient.full_name.clone(),
            birth_date: patient.birth_date,
            id_type: patient.id_type.as_str().to_owned(),
            id_number: patient.id_number.clone(),
            passport_country: patient.passport_country.clone(),
        })
        .execute(conn)
        .map(|_| ())
}

/// The booking's patient, whole; none for a hotel stay, or once retention removed it.
pub(super) fn of_booking(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> QueryResult<Option<PatientView>> {
    booking_patients::table
        .find(booking_id)
        .select(PatientRow::as_select())
        .first(conn)
        .optional()
        .map(|row| row.map(PatientView::from))
}

/// The patients of a page of bookings, their numbers masked.
pub(super) fn of_bookings(
    conn: &mut PgConnection,
    booking_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, PatientView)>> {
    let rows: Vec<PatientRow> = booking_patients::table
        .filter(booking_patients::booking_id.eq_any(booking_ids))
        .select(PatientRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| (row.booking_id, PatientView::from(row).masked()))
        .collect())
}

/// A booking answer kept for its Idempotency-Key holds no patient: `booking_patients` is the
/// one copy (and retention can remove it); a replay reads it back from there. The booking is
/// the answer itself (a hold, a cancel) or its `booking` member (a payment, a change).
pub struct PatientDetails;

/// The booking in an answer that carries one.
fn booking_in(body: &mut Value) -> Option<&mut Value> {
    if body.get("patient").is_some() {
        return Some(body);
    }
    body.get_mut("booking")
        .filter(|booking| booking.get("patient").is_some())
}

impl KeptSecrets for PatientDetails {
    fn strip(&self, body: &mut Value) -> bool {
        match booking_in(body).and_then(|booking| booking.get_mut("patient")) {
            Some(patient) if patient.is_object() => {
                *patient = Value::Null;
                true
            }
            _ => false,
        }
    }

    fn restore(&self, conn: &mut PgConnection, body: &mut Value) -> QueryResult<bool> {
        let Some(booking) = booking_in(body) else {
            return Ok(false);
        };
        if !booking["patient"].is_null() {
            return Ok(false);
        }
        let Some(id) = booking["id"]
            .as_str()
            .and_then(|id| id.parse::<Uuid>().ok())
        else {
            return Ok(false);
        };
        let patient = of_booking(conn, id)?;
        booking["patient"] = serde_json::to_value(patient).unwrap_or_default();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_patient_is_stripped_from_a_booking_or_its_booking_member() {
        let patient = json!({"full_name": "F", "id_number": "1000000008"});
        for mut body in [
            json!({"id": "b", "patient": patient}),
            json!({"payment": {}, "booking": {"id": "b", "patient": patient}}),
        ] {
            assert!(PatientDetails.strip(&mut body));
            assert!(!body.to_string().contains("1000000008"), "{body}");
            assert!(!PatientDetails.strip(&mut body), "stripped twice");
        }
        for mut other in [
            json!({"id": "b"}),
            json!({"booking": {"id": "b"}}),
            json!([1]),
        ] {
            assert!(!PatientDetails.strip(&mut other));
        }
    }
}
