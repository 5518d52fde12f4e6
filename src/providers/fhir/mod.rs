//! FHIR R4 adapter (hospitals): free `Slot`s of the configured `Schedule`s are offers; a
//! booking is a `Slot` marked busy plus an `Appointment`; cancelling undoes both.
//!
//! Every write is conditional (`If-Match` on the resource version), so two brokers racing for
//! one slot cannot both win, and every write carries our booking reference as an identifier
//! (`urn:wasit:booking|<reference>`), so a retry finds its own earlier work instead of
//! repeating it.
//!
//! The adapter and its settings are here; each use case has its file: `search` (free slots),
//! `book` (the Appointment), `patient` (the Patient it is for, by identifier), `hold`
//! (marking a Slot busy for a booking and freeing it), `cancel`, `change` (rescheduling the
//! Appointment onto a newly claimed Slot); `client` is the HTTP side (conditional reads and
//! writes, search bundles and their paging) and `resources` the parts of FHIR resources we
//! read.

mod book;
mod cancel;
mod change;
mod client;
mod hold;
mod patient;
mod resources;
mod search;

use chrono_tz::Tz;

use super::model::FhirSettings;
use crate::http::outbound::Outbound;

/// Identifier system of our booking references on Slots and Appointments.
const BOOKING_SYSTEM: &str = "urn:wasit:booking";
const PAGE_SIZE: u32 = 100;
/// Requests at once to one server within a search, unless told (`search.requests_per_provider`).
const REQUESTS_AT_ONCE: usize = 4;

pub struct FhirAdapter {
    pub settings: FhirSettings,
    pub timezone: Tz,
    pub client: Outbound,
    page_size: u32,
    /// How many schedules a search asks about at once (each asks one request at a time).
    concurrency: usize,
}

impl FhirAdapter {
    pub fn new(settings: FhirSettings, timezone: Tz, client: Outbound) -> Self {
        Self {
            settings,
            timezone,
            client,
            page_size: PAGE_SIZE,
            concurrency: REQUESTS_AT_ONCE,
        }
    }

    /// Sends a search's requests to this server at most `requests` at a time.
    pub fn with_concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests.max(1);
        self
    }

    /// Asks for `_count=page_size` Slots per search page (tests use it to force paging).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.max(1);
        self
    }
}
