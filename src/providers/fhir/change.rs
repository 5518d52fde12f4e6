//! Changing a booked appointment in place: the new Slot is claimed first (marked busy for
//! our reference, like a booking), then the Appointment is rescheduled onto it (same id,
//! new slot and times), and only then is the old Slot freed. A change that does not happen
//! frees the claimed Slot and leaves the Appointment as it was.

use serde_json::json;

use super::FhirAdapter;
use super::client::Write;
use super::resources::{Appointment, is_fhir_id};
use crate::providers::adapter::AdapterError;
use crate::providers::model::{BookingRequest, ProviderRef};

impl FhirAdapter {
    /// Claims the request's Slot beside the booking's current one. The Appointment keeps its
    /// id, so the booking's handle stays `current`.
    pub async fn claim_change(
        &self,
        current: &ProviderRef,
        request: &BookingRequest,
    ) -> Result<ProviderRef, AdapterError> {
        let slot_id = new_slot(request)?;
        let schedule = self.configured_schedule(&request.unit_code)?;
        self.claim_slot(request, slot_id, &schedule.schedule_id)
            .await?;
        Ok(current.clone())
    }

    /// Moves the Appointment onto the claimed Slot (its times, and the new schedule's
    /// service and practitioner), then frees the Slots it held before. Safe to repeat.
    pub async fn finish_change(
        &self,
        current: &ProviderRef,
        request: &BookingRequest,
    ) -> Result<(), AdapterError> {
        let slot_id = new_slot(request)?;
        let id = appointment_id(current)?;
        let schedule = self.configured_schedule(&request.unit_code)?;
        let info = self.schedule_info(&schedule.schedule_id).await?;
        for _ in 0..2 {
            let appointment = self.read::<Appointment>("Appointment", id).await?;
            let before: Vec<String> = appointment
                .view
                .slot_ids()
                .filter(|old| *old != slot_id)
                .map(str::to_owned)
                .collect();
            if !appointment.view.is_for_slot(slot_id) || !before.is_empty() {
                let mut resource = appointment.resource.clone();
                resource["slot"] = json!([{ "reference": format!("Slot/{slot_id}") }]);
                resource["start"] = json!(request.start.to_rfc3339());
                resource["end"] = json!(request.end.to_rfc3339());
                match &info.specialty {
                    Some(specialty) => resource["description"] = json!(specialty),
                    None => {
                        if let Some(map) = resource.as_object_mut() {
                            map.remove("description");
                        }
                    }
                }
                let mut participants: Vec<serde_json::Value> = resource["participant"]
                    .as_array()
                    .map(|all| {
                        all.iter()
                            .filter(|p| {
                                !p["actor"]["reference"]
                                    .as_str()
                                    .is_some_and(|r| r.starts_with("Practitioner/"))
                            })
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(practitioner) = &info.practitioner_ref {
                    let mut actor = json!({"reference": format!("Practitioner/{practitioner}")});
                    if let Some(name) = &info.practitioner {
                        actor["display"] = json!(name);
                    }
                    participants.push(
                        json!({"actor": actor, "required": "required", "status": "accepted"}),
                    );
                }
                resource["participant"] = json!(participants);
                let version = appointment.version.as_deref();
                if self.update("Appointment", id, &resource, version).await? == Write::Conflict {
                    continue;
                }
            }
            for old in before {
                self.release_slot(&old, &request.reference).await?;
            }
            return Ok(());
        }
        Err(AdapterError::Unavailable(format!(
            "Appointment/{id} kept changing while being rescheduled"
        )))
    }

    /// Frees the Slot a change claimed, unless the Appointment is on it (the change went
    /// through after all: nothing to give back).
    pub async fn abandon_change(
        &self,
        current: &ProviderRef,
        request: &BookingRequest,
    ) -> Result<(), AdapterError> {
        let slot_id = new_slot(request)?;
        let id = appointment_id(current)?;
        let appointment = self.read::<Appointment>("Appointment", id).await?;
        if appointment.view.is_for_slot(slot_id) {
            return Ok(());
        }
        self.release_slot(slot_id, &request.reference).await
    }
}

fn new_slot(request: &BookingRequest) -> Result<&str, AdapterError> {
    request
        .slot_ref
        .as_deref()
        .filter(|id| is_fhir_id(id))
        .ok_or_else(|| AdapterError::Internal("a FHIR change needs a Slot id".into()))
}

fn appointment_id(reference: &ProviderRef) -> Result<&str, AdapterError> {
    reference
        .0
        .strip_prefix("Appointment/")
        .filter(|id| is_fhir_id(id))
        .ok_or_else(|| {
            AdapterError::Internal(format!("`{}` is not an Appointment reference", reference.0))
        })
}
