//! The booking's patient as a FHIR `Patient`, found or made by identifier and birth date
//! (a conditional create, `If-None-Exist`), so a hospital that already knows the person
//! keeps one record of them, a later booking finds the record an earlier one made, and a
//! mistyped number whose birth date does not match never lands on somebody else's record.
//!
//! Identifier systems and types follow the NPHIES implementation guide (the Council of
//! Health Insurance's FHIR R4 IG, portal.nphies.sa/ig, profile "Nphies Patient": its
//! identifier slices use types NI, PRC and PPN of HL7 v2 table 0203 and these systems). A
//! passport whose issuing country is known uses HL7's per-country namespace instead
//! (`http://hl7.org/fhir/sid/passport-<ISO 3166-1 alpha-3>`, terminology.hl7.org
//! NamingSystem passportNumNS-…), since a passport number is unique only within its country.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::FhirAdapter;
use super::client::{FHIR_JSON, Versioned};
use super::resources::is_fhir_id;
use crate::domain::{IdType, Patient};
use crate::providers::adapter::AdapterError;

const NATIONAL_ID_SYSTEM: &str = "http://nphies.sa/identifier/nationalid";
const IQAMA_SYSTEM: &str = "http://nphies.sa/identifier/iqama";
const PASSPORT_SYSTEM: &str = "http://nphies.sa/identifier/passportnumber";
const IDENTIFIER_TYPES: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

/// The identifier's system and its v2-0203 type code.
pub(super) fn identifier_system(patient: &Patient) -> (String, &'static str) {
    match (patient.id_type, &patient.passport_country) {
        (IdType::NationalId, _) => (NATIONAL_ID_SYSTEM.to_owned(), "NI"),
        (IdType::Iqama, _) => (IQAMA_SYSTEM.to_owned(), "PRC"),
        (IdType::Passport, Some(country)) => {
            (format!("http://hl7.org/fhir/sid/passport-{country}"), "PPN")
        }
        (IdType::Passport, None) => (PASSPORT_SYSTEM.to_owned(), "PPN"),
    }
}

/// `Patient` as we send it: the identifier, the name (whole as `text`; the last word as
/// `family`, the others as `given`, which is how Arabic and most names split) and birthDate.
fn resource(patient: &Patient) -> Value {
    let (system, type_code) = identifier_system(patient);
    let mut words: Vec<&str> = patient.full_name.split_whitespace().collect();
    let mut name = json!({"use": "official", "text": patient.full_name});
    if words.len() > 1 {
        let family = words.pop().unwrap_or_default();
        name["family"] = json!(family);
        name["given"] = json!(words);
    }
    json!({
        "resourceType": "Patient",
        "identifier": [{
            "use": "official",
            "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": type_code}]},
            "system": system,
            "value": patient.id_number,
        }],
        "name": [name],
        "birthDate": patient.birth_date.format("%Y-%m-%d").to_string(),
    })
}

#[derive(Deserialize)]
struct PatientId {
    id: Option<String>,
}

impl PatientId {
    fn id(self) -> Result<String, AdapterError> {
        self.id
            .filter(|id| is_fhir_id(id))
            .ok_or_else(|| AdapterError::InvalidResponse("a Patient without a valid id".into()))
    }
}

impl FhirAdapter {
    /// The hospital's `Patient/<id>` for `patient`: the one it has with this identifier and
    /// birth date, else a new one.
    pub(super) async fn patient_reference(
        &self,
        patient: &Patient,
    ) -> Result<String, AdapterError> {
        let (system, _) = identifier_system(patient);
        let criteria = [
            ("identifier", format!("{system}|{}", patient.id_number)),
            (
                "birthdate",
                patient.birth_date.format("%Y-%m-%d").to_string(),
            ),
        ];
        let mut scratch = reqwest::Url::parse("http://localhost/").expect("a valid URL");
        scratch.query_pairs_mut().extend_pairs(&criteria);
        let condition = scratch.query().unwrap_or_default().to_owned();
        let reply = self
            .send(
                self.request(Method::POST, self.endpoint("Patient")?)
                    .header(CONTENT_TYPE, FHIR_JSON)
                    .header("If-None-Exist", condition)
                    .header("Prefer", "return=representation")
                    .body(resource(patient).to_string()),
            )
            .await?;
        let id = if reply.status == StatusCode::PRECONDITION_FAILED {
            // The hospital holds several records of this person: book on the first.
            let mut url = self.endpoint("Patient")?;
            url.query_pairs_mut()
                .extend_pairs(&criteria)
                .append_pair("_count", "1");
            let page = self.search_page::<PatientId>(url, "Patient").await?;
            page.resources
                .into_iter()
                .next()
                .ok_or_else(|| {
                    AdapterError::InvalidResponse("412 on a Patient no search finds".into())
                })?
                .id()?
        } else {
            let created = reply.json("Patient")?;
            Versioned::<PatientId>::parse(created, None, "Patient")?
                .view
                .id()?
        };
        Ok(format!("Patient/{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn patient(id_type: IdType, number: &str, country: Option<&str>) -> Patient {
        Patient {
            full_name: "Fatima Saad Al-Harbi".into(),
            birth_date: NaiveDate::from_ymd_opt(1990, 5, 17).unwrap(),
            id_type,
            id_number: number.into(),
            passport_country: country.map(str::to_owned),
        }
    }

    #[test]
    fn identifier_systems_follow_nphies_and_hl7() {
        let system = |p: &Patient| identifier_system(p);
        assert_eq!(
            system(&patient(IdType::NationalId, "1000000008", None)),
            (NATIONAL_ID_SYSTEM.to_owned(), "NI")
        );
        assert_eq!(
            system(&patient(IdType::Iqama, "2000000006", None)),
            (IQAMA_SYSTEM.to_owned(), "PRC")
        );
        assert_eq!(
            system(&patient(IdType::Passport, "A1234567", None)),
            (PASSPORT_SYSTEM.to_owned(), "PPN")
        );
        assert_eq!(
            system(&patient(IdType::Passport, "A1234567", Some("EGY"))).0,
            "http://hl7.org/fhir/sid/passport-EGY"
        );
    }

    #[test]
    fn the_resource_carries_name_birth_date_and_identifier() {
        let sent = resource(&patient(IdType::NationalId, "1000000008", None));
        assert_eq!(sent["birthDate"], "1990-05-17");
        assert_eq!(sent["name"][0]["text"], "Fatima Saad Al-Harbi");
        assert_eq!(sent["name"][0]["family"], "Al-Harbi");
        assert_eq!(sent["name"][0]["given"], json!(["Fatima", "Saad"]));
        assert_eq!(sent["identifier"][0]["value"], "1000000008");
        assert_eq!(sent["identifier"][0]["type"]["coding"][0]["code"], "NI");
        let mut single = patient(IdType::Iqama, "2000000006", None);
        single.full_name = "Cher".into();
        let sent = resource(&single);
        assert_eq!(sent["name"][0], json!({"use": "official", "text": "Cher"}));
    }
}
