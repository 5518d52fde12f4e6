//! Booking: a Slot marked busy for our reference, then the patient (`patient.rs`) and an
//! Appointment on the Slot for them; a retry with the same reference finds and finishes its
//! own earlier work.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use serde_json::json;

use super::client::{FHIR_JSON, Versioned};
use super::resources::{Appointment, Slot, is_fhir_id};
use super::search::ScheduleInfo;
use super::{BOOKING_SYSTEM, FhirAdapter};
use crate::providers::adapter::AdapterError;
use crate::providers::model::{BookingRequest, FhirSchedule, ProviderRef};

impl FhirAdapter {
    /// Books `request.slot_ref`: first marks the Slot busy (conditional on its version,
    /// tagged with our reference), then creates the Appointment.
    ///
    /// Why this order: the `If-Match` write on the Slot is the one place where two bookers
    /// are told apart, so the loser learns it before it has written anything and there is
    /// never a second booked Appointment for one slot, not even briefly. A crash between the
    /// two writes leaves a busy Slot tagged with our reference; the retry with the same
    /// reference recognises its own hold and creates the missing Appointment.
    pub async fn book(&self, request: &BookingRequest) -> Result<ProviderRef, AdapterError> {
        let slot_id = request
            .slot_ref
            .as_deref()
            .filter(|id| is_fhir_id(id))
            .ok_or_else(|| AdapterError::Internal("a FHIR booking needs a Slot id".into()))?;
        let schedule = self.configured_schedule(&request.unit_code)?;

        if let Some(existing) = self.find_booking(&request.reference).await? {
            return if existing.is_for_slot(slot_id) {
                Ok(existing.provider_ref()?)
            } else {
                Err(AdapterError::Internal(format!(
                    "booking {} is already {} on another slot",
                    request.reference,
                    existing.provider_ref()?.0
                )))
            };
        }

        let (slot, info) = self
            .claim_slot(request, slot_id, &schedule.schedule_id)
            .await?;
        match self.create_appointment(request, &slot.view, &info).await {
            Ok(appointment) => appointment.provider_ref(),
            Err(error @ AdapterError::Rejected(_)) => {
                // Refused outright, so no Appointment exists: give the slot back. Other errors
                // (timeouts, 5xx) may hide a created Appointment, so the hold stays for the
                // retry to complete.
                let _ = self.release_slot(slot_id, &request.reference).await;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// The live Appointment carrying our reference, if the hospital has one: how a booking
    /// whose answer was lost learns whether it happened.
    pub async fn find(&self, reference: &str) -> Result<Option<ProviderRef>, AdapterError> {
        match self.find_booking(reference).await? {
            Some(appointment) => Ok(Some(appointment.provider_ref()?)),
            None => Ok(None),
        }
    }

    /// Undoes whatever an attempt to book `request` left: its Appointment cancelled (which
    /// frees its Slot), and the Slot freed if it is still held for our reference without
    /// one (a lost answer between the two writes). Safe to repeat.
    pub async fn release(&self, request: &BookingRequest) -> Result<(), AdapterError> {
        if let Some(existing) = self.find_booking(&request.reference).await? {
            self.cancel(&existing.provider_ref()?).await?;
        }
        if let Some(slot_id) = request.slot_ref.as_deref().filter(|id| is_fhir_id(id)) {
            self.release_slot(slot_id, &request.reference).await?;
        }
        Ok(())
    }

    /// Marks the request's Slot busy for our reference, after checking it is still the one
    /// offered (same times, same Schedule): `SoldOut` when it is gone, moved or taken.
    pub(super) async fn claim_slot(
        &self,
        request: &BookingRequest,
        slot_id: &str,
        schedule_id: &str,
    ) -> Result<(Versioned<Slot>, ScheduleInfo), AdapterError> {
        // A Slot the hospital deleted is as gone as a taken one.
        let Some(slot) = self.read_optional::<Slot>("Slot", slot_id).await? else {
            return Err(AdapterError::SoldOut);
        };
        // Moved since it was offered: the guest chose another time.
        if slot.view.times()? != (request.start, request.end) {
            return Err(AdapterError::SoldOut);
        }
        if !slot.view.is_in_schedule(schedule_id) {
            return Err(AdapterError::Internal(format!(
                "Slot/{slot_id} is not in Schedule/{schedule_id}"
            )));
        }
        let info = self.schedule_info(schedule_id).await?;
        if !self.acquire_slot(&slot, &request.reference).await? {
            return Err(AdapterError::SoldOut);
        }
        Ok((slot, info))
    }

    /// The configured schedule an offer's `unit_code` names (its code, or its Schedule id).
    pub(super) fn configured_schedule(
        &self,
        unit_code: &str,
    ) -> Result<&FhirSchedule, AdapterError> {
        self.settings
            .schedules
            .iter()
            .find(|s| s.unit_code() == unit_code)
            .ok_or_else(|| {
                AdapterError::Internal(format!("no schedule is configured as `{unit_code}`"))
            })
    }

    /// The live (not cancelled) Appointment carrying our booking reference, if any.
    async fn find_booking(&self, reference: &str) -> Result<Option<Appointment>, AdapterError> {
        let mut url = self.endpoint("Appointment")?;
        url.query_pairs_mut()
            .append_pair("identifier", &format!("{BOOKING_SYSTEM}|{reference}"))
            .append_pair("_count", "20");
        let page = self.search_page::<Appointment>(url, "Appointment").await?;
        Ok(page
            .resources
            .into_iter()
            .find(|a| a.booking_reference() == Some(reference) && !a.has_ended()))
    }

    /// POSTs the Appointment, conditional on no booked one with our reference existing, so two
    /// concurrent retries of one booking still create only one.
    async fn create_appointment(
        &self,
        request: &BookingRequest,
        slot: &Slot,
        schedule: &ScheduleInfo,
    ) -> Result<Appointment, AdapterError> {
        let slot_id = slot.id()?;
        // The patient is who the hospital sees; without one (an adapter caller that has
        // none) the guest is named for its staff.
        let patient_actor = match &request.patient {
            Some(patient) => json!({
                "reference": self.patient_reference(patient).await?,
                "display": patient.full_name,
            }),
            None => json!({"display": request.guest_name}),
        };
        let mut participants = vec![json!({
            "actor": patient_actor,
            "required": "required",
            "status": "accepted",
        })];
        if let Some(practitioner) = &schedule.practitioner_ref {
            let mut actor = json!({"reference": format!("Practitioner/{practitioner}")});
            if let Some(name) = &schedule.practitioner {
                actor["display"] = json!(name);
            }
            participants
                .push(json!({"actor": actor, "required": "required", "status": "accepted"}));
        }
        let mut appointment = json!({
            "resourceType": "Appointment",
            "status": "booked",
            "identifier": [{"system": BOOKING_SYSTEM, "value": request.reference}],
            "slot": [{"reference": format!("Slot/{slot_id}")}],
            "start": slot.start,
            "end": slot.end,
            "participant": participants,
            "comment": booking_comment(request),
        });
        if let Some(specialty) = &schedule.specialty {
            appointment["description"] = json!(specialty);
        }
        let condition = search_query(&[
            (
                "identifier",
                &format!("{BOOKING_SYSTEM}|{}", request.reference),
            ),
            ("status", "booked"),
        ]);
        let reply = self
            .send(
                self.request(Method::POST, self.endpoint("Appointment")?)
                    .header(CONTENT_TYPE, FHIR_JSON)
                    .header("If-None-Exist", condition)
                    .header("Prefer", "return=representation")
                    .body(appointment.to_string()),
            )
            .await?;
        if reply.status == StatusCode::PRECONDITION_FAILED {
            // Several booked Appointments match already: not a refusal (which would free the
            // slot), a state we must not make worse.
            return Err(AdapterError::InvalidResponse(format!(
                "several booked Appointments carry {}",
                request.reference
            )));
        }
        let resource = reply.json("Appointment")?;
        Ok(Versioned::parse(resource, None, "Appointment")?.view)
    }
}

/// Opaque text for the hospital's staff: who to call about this booking.
fn booking_comment(request: &BookingRequest) -> String {
    let mut comment = format!("Booked through Wasit, reference {}", request.reference);
    // Someone may book for the patient (a parent, a son): say whom to call.
    if request
        .patient
        .as_ref()
        .is_some_and(|p| p.full_name != request.guest_name)
    {
        comment.push_str(&format!("; contact {}", request.guest_name));
    }
    if let Some(phone) = &request.guest_phone {
        comment.push_str(&format!("; phone {phone}"));
    }
    if let Some(email) = &request.guest_email {
        comment.push_str(&format!("; email {email}"));
    }
    comment
}

/// `a=1&b=2`, percent-encoded.
fn search_query(pairs: &[(&str, &str)]) -> String {
    let mut scratch = Url::parse("http://localhost/").expect("a valid URL");
    scratch.query_pairs_mut().extend_pairs(pairs);
    scratch.query().unwrap_or_default().to_owned()
}
