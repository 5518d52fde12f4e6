//! The adapter interface: search, book, cancel. An enum rather than a trait object: async
//! fns in traits are not object-safe, and three known adapters do not need a plug-in system.

use std::time::Duration;

use super::caldav::CaldavAdapter;
use super::fhir::FhirAdapter;
use chrono_tz::Tz;

use super::model::{
    AdapterSettings, AvailabilityQuery, BookingRequest, ProviderOffer, ProviderRef,
};
use super::store::ProviderRow;

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

/// One HTTP client per kind of outside service, built once (connection pools, timeouts).
#[derive(Clone)]
pub struct HttpClients {
    pub fhir: reqwest::Client,
    pub caldav: reqwest::Client,
    /// For webhooks: redirects are not followed (a redirect is a failed delivery).
    pub webhooks: reqwest::Client,
}

impl HttpClients {
    /// `timeout` bounds a whole request; the search adds its own per-provider deadline.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        install_crypto_provider();
        let build = || {
            reqwest::Client::builder()
                .user_agent(concat!("wasit/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .timeout(timeout)
                .pool_idle_timeout(Duration::from_secs(60))
                .build()
        };
        let webhooks = reqwest::Client::builder()
            .user_agent(concat!("wasit-webhooks/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            fhir: build()?,
            caldav: build()?,
            webhooks,
        })
    }
}

/// reqwest is built with rustls on `ring` (no C toolchain for aws-lc): the provider must be
/// installed once per process before the first client is built.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub enum Adapter {
    Fhir(FhirAdapter),
    Caldav(CaldavAdapter),
}

impl Adapter {
    /// The adapter for an external provider; `Err` (a reason to show) when its stored
    /// settings or time zone no longer parse. Local providers are searched in SQL instead.
    pub fn for_provider(
        provider: &ProviderRow,
        clients: &HttpClients,
    ) -> Result<Self, AdapterError> {
        let timezone: Tz = provider.timezone.parse().map_err(|_| {
            AdapterError::Internal(format!("unknown time zone `{}`", provider.timezone))
        })?;
        match AdapterSettings::parse(&provider.adapter, provider.adapter_settings.clone()) {
            Ok(AdapterSettings::Fhir(settings)) => Ok(Adapter::Fhir(FhirAdapter::new(
                settings,
                timezone,
                clients.fhir.clone(),
            ))),
            Ok(AdapterSettings::Caldav(settings)) => Ok(Adapter::Caldav(CaldavAdapter::new(
                settings,
                timezone,
                clients.caldav.clone(),
            ))),
            Ok(AdapterSettings::Local) => Err(AdapterError::Internal(
                "local providers have no remote adapter".into(),
            )),
            Err(error) => Err(AdapterError::Internal(format!(
                "misconfigured: {}: {}",
                error.field, error.message
            ))),
        }
    }

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
