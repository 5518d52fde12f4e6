//! CalDAV adapter (hotels). To be implemented: see issue #3 point 5.

use chrono_tz::Tz;

use super::adapter::AdapterError;
use super::model::{AvailabilityQuery, BookingRequest, CaldavSettings, ProviderOffer, ProviderRef};

pub struct CaldavAdapter {
    pub settings: CaldavSettings,
    pub timezone: Tz,
    pub client: reqwest::Client,
}

impl CaldavAdapter {
    pub fn new(settings: CaldavSettings, timezone: Tz, client: reqwest::Client) -> Self {
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
            "CalDAV search is not implemented yet".into(),
        ))
    }

    pub async fn book(&self, _request: &BookingRequest) -> Result<ProviderRef, AdapterError> {
        Err(AdapterError::Internal(
            "CalDAV booking is not implemented yet".into(),
        ))
    }

    pub async fn cancel(&self, _reference: &ProviderRef) -> Result<(), AdapterError> {
        Err(AdapterError::Internal(
            "CalDAV cancel is not implemented yet".into(),
        ))
    }
}
