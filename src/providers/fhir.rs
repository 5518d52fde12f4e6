//! FHIR R4 adapter (hospitals). To be implemented: see issue #3 point 4.

use chrono_tz::Tz;

use super::adapter::AdapterError;
use super::model::{AvailabilityQuery, BookingRequest, FhirSettings, ProviderOffer, ProviderRef};

pub struct FhirAdapter {
    pub settings: FhirSettings,
    pub timezone: Tz,
    pub client: reqwest::Client,
}

impl FhirAdapter {
    pub fn new(settings: FhirSettings, timezone: Tz, client: reqwest::Client) -> Self {
        Self {
            settings,
            timezone,
            client,
        }
    }

    pub async fn search(
        &self,
        _query: &AvailabilityQuery,
    ) -> Result<Vec<ProviderOffer>, AdapterError> {
        Err(AdapterError::Internal(
            "FHIR search is not implemented yet".into(),
        ))
    }

    pub async fn book(&self, _request: &BookingRequest) -> Result<ProviderRef, AdapterError> {
        Err(AdapterError::Internal(
            "FHIR booking is not implemented yet".into(),
        ))
    }

    pub async fn cancel(&self, _reference: &ProviderRef) -> Result<(), AdapterError> {
        Err(AdapterError::Internal(
            "FHIR cancel is not implemented yet".into(),
        ))
    }
}
