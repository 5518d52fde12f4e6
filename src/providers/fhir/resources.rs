//! The parts of FHIR R4 resources we read, typed; everything else is kept as JSON so a write
//! sends the resource back whole.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::BOOKING_SYSTEM;
use crate::providers::adapter::AdapterError;
use crate::providers::model::ProviderRef;

/// Appointment statuses that mean "this booking no longer holds its slot".
pub(super) const ENDED: [&str; 2] = ["cancelled", "entered-in-error"];

/// A FHIR logical id: 1-64 of `[A-Za-z0-9.-]` (so it is safe in a URL path).
pub(super) fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Schedule {
    pub(super) active: Option<bool>,
    #[serde(default)]
    specialty: Vec<CodeableConcept>,
    #[serde(default)]
    service_type: Vec<CodeableConcept>,
    #[serde(default)]
    actor: Vec<Reference>,
}

impl Schedule {
    pub(super) fn specialty(&self) -> Option<&CodeableConcept> {
        self.specialty.first().or(self.service_type.first())
    }

    pub(super) fn specialty_terms(&self) -> Vec<String> {
        self.specialty
            .iter()
            .chain(&self.service_type)
            .flat_map(CodeableConcept::terms)
            .collect()
    }

    /// The Practitioner among the actors, else any actor with a display name.
    pub(super) fn practitioner(&self) -> Option<&Reference> {
        self.actor
            .iter()
            .find(|a| a.practitioner_id().is_some())
            .or_else(|| self.actor.iter().find(|a| a.display.is_some()))
    }
}

#[derive(Deserialize)]
pub(super) struct CodeableConcept {
    #[serde(default)]
    coding: Vec<Coding>,
    text: Option<String>,
}

impl CodeableConcept {
    pub(super) fn label(&self) -> Option<String> {
        self.text
            .clone()
            .or_else(|| self.coding.iter().find_map(|c| c.display.clone()))
            .or_else(|| self.coding.iter().find_map(|c| c.code.clone()))
    }

    fn terms(&self) -> Vec<String> {
        let codings = self
            .coding
            .iter()
            .flat_map(|c| [c.code.clone(), c.display.clone()]);
        codings.chain([self.text.clone()]).flatten().collect()
    }
}

#[derive(Deserialize)]
struct Coding {
    code: Option<String>,
    display: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Reference {
    reference: Option<String>,
    pub(super) display: Option<String>,
}

impl Reference {
    pub(super) fn practitioner_id(&self) -> Option<&str> {
        self.id_of("Practitioner")
    }

    /// `Slot/7`, `https://…/Slot/7` or `Slot/7/_history/2` → `7` (for `Slot`).
    fn id_of(&self, resource_type: &str) -> Option<&str> {
        let reference = self.reference.as_deref()?;
        let reference = reference.split("/_history/").next()?;
        let (kind, id) = reference.rsplit_once('/')?;
        let kind = kind.rsplit('/').next()?;
        (kind == resource_type && is_fhir_id(id)).then_some(id)
    }
}

#[derive(Deserialize)]
pub(super) struct Practitioner {
    #[serde(default)]
    name: Vec<HumanName>,
}

impl Practitioner {
    /// name[0].text, else "prefix given family".
    pub(super) fn display_name(&self) -> Option<String> {
        let name = self.name.first()?;
        if let Some(text) = name
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            return Some(text.to_owned());
        }
        let parts: Vec<&str> = name
            .prefix
            .iter()
            .chain(&name.given)
            .map(String::as_str)
            .chain(name.family.as_deref())
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

#[derive(Deserialize)]
struct HumanName {
    text: Option<String>,
    family: Option<String>,
    #[serde(default)]
    given: Vec<String>,
    #[serde(default)]
    prefix: Vec<String>,
}

#[derive(Deserialize)]
struct Identifier {
    system: Option<String>,
    value: Option<String>,
}

fn booking_reference(identifiers: &[Identifier]) -> Option<&str> {
    identifiers
        .iter()
        .find(|i| i.system.as_deref() == Some(BOOKING_SYSTEM))
        .and_then(|i| i.value.as_deref())
}

#[derive(Deserialize)]
pub(super) struct Slot {
    id: Option<String>,
    pub(super) status: Option<String>,
    pub(super) start: Option<String>,
    pub(super) end: Option<String>,
    schedule: Option<Reference>,
    #[serde(default)]
    identifier: Vec<Identifier>,
}

impl Slot {
    pub(super) fn id(&self) -> Result<&str, AdapterError> {
        self.id
            .as_deref()
            .filter(|id| is_fhir_id(id))
            .ok_or_else(|| AdapterError::InvalidResponse("a Slot without a valid id".into()))
    }

    /// Start and end, both required, end after start.
    pub(super) fn times(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), AdapterError> {
        let start = instant(self.start.as_deref(), "start")?;
        let end = instant(self.end.as_deref(), "end")?;
        if end <= start {
            return Err(AdapterError::InvalidResponse(format!(
                "Slot/{} ends before it starts",
                self.id.as_deref().unwrap_or("?")
            )));
        }
        Ok((start, end))
    }

    pub(super) fn is_in_schedule(&self, schedule_id: &str) -> bool {
        self.schedule.as_ref().and_then(|s| s.id_of("Schedule")) == Some(schedule_id)
    }

    pub(super) fn is_held_by(&self, reference: &str) -> bool {
        booking_reference(&self.identifier) == Some(reference)
    }
}

fn instant(value: Option<&str>, field: &str) -> Result<DateTime<Utc>, AdapterError> {
    let value =
        value.ok_or_else(|| AdapterError::InvalidResponse(format!("a Slot without {field}")))?;
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| AdapterError::InvalidResponse(format!("Slot.{field} `{value}`: {e}")))
}

#[derive(Deserialize)]
pub(super) struct Appointment {
    id: Option<String>,
    pub(super) status: Option<String>,
    #[serde(default)]
    identifier: Vec<Identifier>,
    #[serde(default)]
    slot: Vec<Reference>,
}

impl Appointment {
    pub(super) fn provider_ref(&self) -> Result<ProviderRef, AdapterError> {
        let id = self
            .id
            .as_deref()
            .filter(|id| is_fhir_id(id))
            .ok_or_else(|| AdapterError::InvalidResponse("an Appointment without an id".into()))?;
        Ok(ProviderRef(format!("Appointment/{id}")))
    }

    pub(super) fn booking_reference(&self) -> Option<&str> {
        booking_reference(&self.identifier)
    }

    pub(super) fn has_ended(&self) -> bool {
        ENDED.contains(&self.status.as_deref().unwrap_or_default())
    }

    pub(super) fn slot_ids(&self) -> impl Iterator<Item = &str> {
        self.slot.iter().filter_map(|s| s.id_of("Slot"))
    }

    pub(super) fn is_for_slot(&self, slot_id: &str) -> bool {
        self.slot_ids().any(|id| id == slot_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn practitioner_references() {
        let reference = |r: &str| Reference {
            reference: Some(r.into()),
            display: None,
        };
        assert_eq!(reference("Practitioner/7").practitioner_id(), Some("7"));
        assert_eq!(
            reference("https://h.example/R4/Practitioner/7/_history/2").practitioner_id(),
            Some("7")
        );
        assert_eq!(reference("Location/7").practitioner_id(), None);
        assert_eq!(reference("Slot/a/b").id_of("Slot"), None);
        assert_eq!(reference("Slot/a").id_of("Slot"), Some("a"));
        assert_eq!(reference("XSlot/a").id_of("Slot"), None);
    }

    #[test]
    fn fhir_ids() {
        assert!(is_fhir_id("abc-1.2"));
        assert!(!is_fhir_id(""));
        assert!(!is_fhir_id("a/b"));
        assert!(!is_fhir_id("a?b"));
    }
}
