//! The adapter interface: search, book, cancel. An enum rather than a trait object: async
//! fns in traits are not object-safe, and three known adapters do not need a plug-in system.

use std::time::Duration;

use super::caldav::CaldavAdapter;
use super::fhir::FhirAdapter;
use super::model::{AvailabilityQuery, BookingRequest, ProviderOffer, ProviderRef};

/// Why a provider could not answer. None of these fail a search: they mark the provider.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),
    /// Someone else took it first (FHIR 412 on the Slot, CalDAV 412 or over capacity).
    #[error("no longer available")]
    SoldOut,
    /// Network failure or a 5xx: worth retrying later.
    #[error("the provider is unreachable: {0}")]
    Unavailable(String),
    /// The provider answered something we cannot read (bad JSON, wrong resource, bad iCalendar).
    #[error("the provider answered garbage: {0}")]
    InvalidResponse(String),
    /// The provider refused the request (a 4xx other than a conflict).
    #[error("the provider refused the request: {0}")]
    Rejected(String),
    /// Our side (database, configuration).
    #[error("{0}")]
    Internal(String),
}

impl AdapterError {
    /// Maps a transport error: timeouts and connection failures vs. unreadable bodies.
    pub fn from_http(error: reqwest::Error, timeout: Duration) -> Self {
        if error.is_timeout() {
            AdapterError::Timeout(timeout)
        } else if error.is_decode() {
            AdapterError::InvalidResponse(error.to_string())
        } else {
            AdapterError::Unavailable(error.to_string())
        }
    }
}

pub enum Adapter {
    Fhir(FhirAdapter),
    Caldav(CaldavAdapter),
}

impl Adapter {
    pub async fn search(
        &self,
        query: &AvailabilityQuery,
    ) -> Result<Vec<ProviderOffer>, AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.search(query).await,
            Adapter::Caldav(adapter) => adapter.search(query).await,
        }
    }

    pub async fn book(&self, request: &BookingRequest) -> Result<ProviderRef, AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.book(request).await,
            Adapter::Caldav(adapter) => adapter.book(request).await,
        }
    }

    pub async fn cancel(&self, reference: &ProviderRef) -> Result<(), AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.cancel(reference).await,
            Adapter::Caldav(adapter) => adapter.cancel(reference).await,
        }
    }
}
