//! The adapter interface: search, book, cancel. An enum rather than a trait object: async
//! fns in traits are not object-safe, and three known adapters do not need a plug-in system.

use std::time::Duration;

use super::caldav::CaldavAdapter;
use super::fhir::FhirAdapter;
use crate::config::{OutboundSettings, SearchSettings};
use crate::http::outbound::{Outbound, OutboundError};
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
    /// Could not connect, or a 5xx: nothing was done, worth retrying later.
    #[error("the provider is unreachable: {0}")]
    Unavailable(String),
    /// The request was sent and the connection broke before the answer came: the provider
    /// may have done it. Like a timeout, an uncertain outcome ([`AdapterError::is_uncertain`]).
    #[error("the provider gave no answer: {0}")]
    NoAnswer(String),
    /// The provider answered something we cannot read (bad JSON, wrong resource, bad iCalendar).
    #[error("the provider answered garbage: {0}")]
    InvalidResponse(String),
    /// The provider refused the request (a 4xx other than a conflict).
    #[error("the provider refused the request: {0}")]
    Rejected(String),
    /// Its address is one we do not call (`outbound.allow_private`, link-local, metadata).
    #[error("the provider's address is refused: {0}")]
    Refused(String),
    /// Our side (database, configuration).
    #[error("{0}")]
    Internal(String),
}

impl AdapterError {
    /// Maps a failed outgoing call: timeouts, refused addresses, oversized answers and the rest.
    pub fn from_outbound(error: OutboundError, waited: Duration) -> Self {
        match error {
            OutboundError::Timeout(_) => AdapterError::Timeout(waited),
            OutboundError::Refused(refusal) => AdapterError::Refused(refusal.to_string()),
            OutboundError::TooLarge { .. } => AdapterError::InvalidResponse(error.to_string()),
            OutboundError::Connect(_) => AdapterError::Unavailable(error.to_string()),
            OutboundError::Transport(_) => AdapterError::NoAnswer(error.to_string()),
            OutboundError::BadUrl(_) => AdapterError::Internal(error.to_string()),
        }
    }

    /// Whether a write may have been done although it reported failure: the request went out
    /// and no answer came back (timed out, or the connection dropped). Only asking the
    /// provider tells (`Adapter::find`).
    pub fn is_uncertain(&self) -> bool {
        matches!(self, AdapterError::Timeout(_) | AdapterError::NoAnswer(_))
    }

    /// A short, stable word for answers anyone may read (a search's provider statuses): never
    /// a URL, never what the provider sent. The whole error goes to the logs.
    pub fn reason(&self) -> &'static str {
        match self {
            AdapterError::Timeout(_) => "timeout",
            AdapterError::SoldOut => "sold_out",
            AdapterError::Unavailable(_) => "unavailable",
            AdapterError::NoAnswer(_) => "no_answer",
            AdapterError::InvalidResponse(_) => "invalid_response",
            AdapterError::Rejected(_) => "rejected",
            AdapterError::Refused(_) => "refused",
            AdapterError::Internal(_) => "internal",
        }
    }
}

/// One outbound client per kind of outside service, built once (connection pools, timeouts),
/// and how many requests one provider is sent at once within a search.
#[derive(Clone)]
pub struct HttpClients {
    pub fhir: Outbound,
    pub caldav: Outbound,
    pub webhooks: Outbound,
    pub requests_per_provider: usize,
}

impl HttpClients {
    /// Provider calls end at `search.provider_timeout_ms` (the search adds its own deadline
    /// on top), webhooks at `outbound.timeout_ms`.
    pub fn new(settings: &OutboundSettings, search: &SearchSettings) -> anyhow::Result<Self> {
        install_crypto_provider();
        let provider_timeout = search.provider_timeout().min(settings.timeout());
        let agent = concat!("wasit/", env!("CARGO_PKG_VERSION"));
        Ok(Self {
            fhir: Outbound::new(settings, agent, provider_timeout)?,
            caldav: Outbound::new(settings, agent, provider_timeout)?,
            webhooks: Outbound::new(
                settings,
                concat!("wasit-webhooks/", env!("CARGO_PKG_VERSION")),
                settings.timeout(),
            )?,
            requests_per_provider: search.requests_per_provider.max(1) as usize,
        })
    }
}

/// reqwest is built with rustls on `ring` (no C toolchain for aws-lc): the provider must be
/// installed once per process before the first client is built.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The address a provider's desk reads in the calendar we write: English (the events'
/// other text is English), else Arabic.
fn provider_address(provider: &ProviderRow) -> &str {
    if provider.address_en.is_empty() {
        &provider.address_ar
    } else {
        &provider.address_en
    }
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
            Ok(AdapterSettings::Fhir(settings)) => Ok(Adapter::Fhir(
                FhirAdapter::new(settings, timezone, clients.fhir.clone())
                    .with_concurrency(clients.requests_per_provider),
            )),
            Ok(AdapterSettings::Caldav(settings)) => Ok(Adapter::Caldav(
                CaldavAdapter::new(settings, timezone, clients.caldav.clone())
                    .at(provider_address(provider)),
            )),
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

    /// What the provider holds under our booking reference, asked when a `book` went out and
    /// its answer was lost: `Some` handle when the booking is there whole (FHIR: a live
    /// Appointment with our identifier; CalDAV: every event at its href with our UID).
    pub async fn find(
        &self,
        request: &BookingRequest,
    ) -> Result<Option<ProviderRef>, AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.find(&request.reference).await,
            Adapter::Caldav(adapter) => adapter.find(request).await,
        }
    }

    /// Rolls back an attempt to `book` that was never recorded as done: gives back whatever
    /// carries our reference (FHIR: the Appointment and the Slot held for it; CalDAV: the
    /// events). Safe to repeat, and a no-op when nothing was written.
    pub async fn release(&self, request: &BookingRequest) -> Result<(), AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.release(request).await,
            Adapter::Caldav(adapter) => adapter.release(request).await,
        }
    }

    pub async fn cancel(&self, reference: &ProviderRef) -> Result<(), AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.cancel(reference).await,
            Adapter::Caldav(adapter) => adapter.cancel(reference).await,
        }
    }

    /// A change's first step: claims the new terms beside the booking's `current` copy and
    /// returns the handle the booking will have once the change is made (FHIR: the same
    /// Appointment, its new Slot held; CalDAV: new events, the old ones still in place).
    /// `change_tag` tells this change's writes apart from the booking's earlier ones.
    pub async fn claim_change(
        &self,
        current: &ProviderRef,
        request: &BookingRequest,
        change_tag: &str,
    ) -> Result<ProviderRef, AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.claim_change(current, request).await,
            Adapter::Caldav(adapter) => adapter.claim_change(request, change_tag).await,
        }
    }

    /// The change is made: moves the booking's copy onto what was claimed and gives back
    /// the old (FHIR: reschedules the Appointment, frees the old Slot; CalDAV: deletes the
    /// old events). Safe to repeat.
    pub async fn finish_change(
        &self,
        previous: &ProviderRef,
        request: &BookingRequest,
    ) -> Result<(), AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.finish_change(previous, request).await,
            Adapter::Caldav(adapter) => adapter.cancel(previous).await,
        }
    }

    /// The change did not happen and its claim got no answer (so no handle): gives back
    /// whatever the claim may have taken (FHIR: the new Slot, if held for our reference and
    /// the Appointment is not on it; CalDAV: the events under the change's tag). Safe to
    /// repeat.
    pub async fn abandon_unanswered_change(
        &self,
        current: &ProviderRef,
        request: &BookingRequest,
        change_tag: &str,
    ) -> Result<(), AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.abandon_change(current, request).await,
            Adapter::Caldav(adapter) => {
                adapter.abandon_unanswered_change(request, change_tag).await
            }
        }
    }

    /// The change did not happen: gives back what `claim_change` took. Safe to repeat.
    pub async fn abandon_change(
        &self,
        current: &ProviderRef,
        claimed: &ProviderRef,
        request: &BookingRequest,
    ) -> Result<(), AdapterError> {
        match self {
            Adapter::Fhir(adapter) => adapter.abandon_change(current, request).await,
            Adapter::Caldav(adapter) => adapter.cancel(claimed).await,
        }
    }
}
