//! Holding a Slot for a booking and giving it back: conditional writes (`If-Match`) that tag
//! the Slot with our reference, so two bookers cannot both win it and a retry recognises its
//! own hold.

use serde_json::{Value, json};

use super::client::{Versioned, Write};
use super::resources::Slot;
use super::{BOOKING_SYSTEM, FhirAdapter};
use crate::providers::adapter::AdapterError;

impl FhirAdapter {
    /// Whether our booking holds the Slot after this: it was free and our conditional write
    /// won, or it was held for us already (an earlier or concurrent attempt of this booking).
    pub(super) async fn acquire_slot(
        &self,
        slot: &Versioned<Slot>,
        reference: &str,
    ) -> Result<bool, AdapterError> {
        match slot.view.status.as_deref() {
            Some("free") => {}
            Some("busy") => return Ok(slot.view.is_held_by(reference)),
            _ => return Ok(false),
        }
        if self.hold_slot(slot, reference).await? == Write::Done {
            return Ok(true);
        }
        let slot_id = slot.view.id()?;
        let now = self.read_optional::<Slot>("Slot", slot_id).await?;
        Ok(now.is_some_and(|s| {
            s.view.status.as_deref() == Some("busy") && s.view.is_held_by(reference)
        }))
    }

    /// Marks a free Slot busy and tags it with our reference, if nobody changed it since we
    /// read it.
    async fn hold_slot(
        &self,
        slot: &Versioned<Slot>,
        reference: &str,
    ) -> Result<Write, AdapterError> {
        let mut resource = slot.resource.clone();
        resource["status"] = json!("busy");
        let mut identifiers = without_our_identifiers(&resource);
        identifiers.push(json!({"system": BOOKING_SYSTEM, "value": reference}));
        resource["identifier"] = Value::Array(identifiers);
        self.update("Slot", slot.view.id()?, &resource, slot.version.as_deref())
            .await
    }

    /// Frees a Slot our booking holds; leaves it alone when it is free already or someone
    /// else's. Retries once when it changes under us.
    pub(super) async fn release_slot(
        &self,
        slot_id: &str,
        reference: &str,
    ) -> Result<(), AdapterError> {
        for _ in 0..2 {
            let Some(slot) = self.read_optional::<Slot>("Slot", slot_id).await? else {
                return Ok(());
            };
            if slot.view.status.as_deref() != Some("busy") || !slot.view.is_held_by(reference) {
                return Ok(());
            }
            let mut resource = slot.resource.clone();
            resource["status"] = json!("free");
            let identifiers = without_our_identifiers(&resource);
            if identifiers.is_empty() {
                if let Some(map) = resource.as_object_mut() {
                    map.remove("identifier");
                }
            } else {
                resource["identifier"] = Value::Array(identifiers);
            }
            if self
                .update("Slot", slot_id, &resource, slot.version.as_deref())
                .await?
                == Write::Done
            {
                return Ok(());
            }
        }
        Err(AdapterError::Unavailable(format!(
            "Slot/{slot_id} kept changing while being freed"
        )))
    }
}

/// The resource's identifiers minus our booking tags.
fn without_our_identifiers(resource: &Value) -> Vec<Value> {
    resource["identifier"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter(|id| id["system"] != BOOKING_SYSTEM)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}
