//! Cancelling: the Appointment is set cancelled first, then the Slot our booking held is
//! freed.

use serde_json::json;

use super::FhirAdapter;
use super::client::Write;
use super::resources::{Appointment, ENDED, is_fhir_id};
use crate::providers::adapter::AdapterError;
use crate::providers::model::ProviderRef;

/// Appointment statuses past the point where cancelling makes sense.
const ATTENDED: [&str; 4] = ["arrived", "checked-in", "fulfilled", "noshow"];

impl FhirAdapter {
    /// Cancels the Appointment, then frees its Slot (only if our booking still holds it).
    /// In that order so a crash in between never leaves a booked Appointment on a free slot;
    /// cancelling again finishes the job.
    pub async fn cancel(&self, reference: &ProviderRef) -> Result<(), AdapterError> {
        let id = reference
            .0
            .strip_prefix("Appointment/")
            .filter(|id| is_fhir_id(id))
            .ok_or_else(|| {
                AdapterError::Internal(format!("`{}` is not an Appointment reference", reference.0))
            })?;
        let appointment = self.cancel_appointment(id).await?;
        let Some(booking) = appointment.booking_reference() else {
            return Ok(()); // Not made by us: we cannot tell whether its slot is ours to free.
        };
        for slot_id in appointment.slot_ids() {
            self.release_slot(slot_id, booking).await?;
        }
        Ok(())
    }

    /// Sets the Appointment cancelled unless it is already; retries once on a version clash.
    async fn cancel_appointment(&self, id: &str) -> Result<Appointment, AdapterError> {
        for _ in 0..2 {
            let appointment = self.read::<Appointment>("Appointment", id).await?;
            let status = appointment.view.status.as_deref().unwrap_or_default();
            if ENDED.contains(&status) {
                return Ok(appointment.view);
            }
            if ATTENDED.contains(&status) {
                return Err(AdapterError::Rejected(format!(
                    "Appointment/{id} is {status}: too late to cancel"
                )));
            }
            let mut resource = appointment.resource.clone();
            resource["status"] = json!("cancelled");
            let version = appointment.version.as_deref();
            if self.update("Appointment", id, &resource, version).await? == Write::Done {
                return Ok(appointment.view);
            }
        }
        Err(AdapterError::Unavailable(format!(
            "Appointment/{id} kept changing while being cancelled"
        )))
    }
}
