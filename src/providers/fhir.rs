//! FHIR R4 adapter (hospitals): free `Slot`s of the configured `Schedule`s are offers; a
//! booking is a `Slot` marked busy plus an `Appointment`; cancelling undoes both.
//!
//! Every write is conditional (`If-Match` on the resource version), so two brokers racing for
//! one slot cannot both win, and every write carries our booking reference as an identifier
//! (`urn:wasit:booking|<reference>`), so a retry finds its own earlier work instead of
//! repeating it.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, HeaderValue, IF_MATCH};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::adapter::AdapterError;
use super::model::{
    AvailabilityQuery, BookingRequest, FhirSchedule, FhirSettings, ProviderOffer, ProviderRef,
    SlotQuery,
};

const FHIR_JSON: &str = "application/fhir+json";
/// Identifier system of our booking references on Slots and Appointments.
const BOOKING_SYSTEM: &str = "urn:wasit:booking";
const PAGE_SIZE: u32 = 100;
/// A server whose `next` links never end is broken; stop rather than loop forever.
const MAX_PAGES: usize = 50;
/// Appointment statuses that mean "this booking no longer holds its slot".
const ENDED: [&str; 2] = ["cancelled", "entered-in-error"];
/// Appointment statuses past the point where cancelling makes sense.
const ATTENDED: [&str; 4] = ["arrived", "checked-in", "fulfilled", "noshow"];

pub struct FhirAdapter {
    pub settings: FhirSettings,
    pub timezone: Tz,
    pub client: reqwest::Client,
    page_size: u32,
}

impl FhirAdapter {
    pub fn new(settings: FhirSettings, timezone: Tz, client: reqwest::Client) -> Self {
        Self {
            settings,
            timezone,
            client,
            page_size: PAGE_SIZE,
        }
    }

    /// Asks for `_count=page_size` Slots per search page (tests use it to force paging).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Free slots of every configured schedule (of the requested specialty) in the window,
    /// ordered by start. Hospitals have no stays: a stay query finds nothing here.
    pub async fn search(
        &self,
        query: &AvailabilityQuery,
    ) -> Result<Vec<ProviderOffer>, AdapterError> {
        let AvailabilityQuery::Slots(query) = query else {
            return Ok(Vec::new());
        };
        let Some(window) = Window::of(query, self.timezone) else {
            return Ok(Vec::new());
        };
        let wanted = query
            .specialty
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let mut offers = Vec::new();
        for schedule in &self.settings.schedules {
            let info = self.schedule_info(&schedule.schedule_id).await?;
            if !info.active || wanted.is_some_and(|wanted| !info.offers_specialty(wanted)) {
                continue;
            }
            let now = Utc::now();
            for slot in self.free_slots(&schedule.schedule_id, &window).await? {
                let (start, end) = slot.times()?;
                // The server was asked for exactly this; checking again costs nothing and
                // protects against servers that ignore a search parameter.
                if slot.status.as_deref() == Some("free") && start >= now && window.holds(start) {
                    offers.push(info.offer(schedule, slot.id()?, start, end));
                }
            }
        }
        offers.sort_by(|a, b| (a.start, &a.unit_code).cmp(&(b.start, &b.unit_code)));
        Ok(offers)
    }

    /// Books `request.slot_ref`: first marks the Slot busy (conditional on its version,
    /// tagged with our reference), then creates the Appointment.
    ///
    /// Why this order: the `If-Match` write on the Slot is the one place where two bookers
    /// are told apart, so the loser learns it before it has written anything and there is
    /// never a second booked Appointment for one slot, not even briefly. A crash between the
    /// two writes leaves a busy Slot tagged with our reference; the retry with the same
    /// reference recognises its own hold and creates the missing Appointment.
    pub async fn book(&self, request: &BookingRequest) -> Result<ProviderRef, AdapterError> {
        let slot_id = request
            .slot_ref
            .as_deref()
            .filter(|id| is_fhir_id(id))
            .ok_or_else(|| AdapterError::Internal("a FHIR booking needs a Slot id".into()))?;
        let schedule = self.configured_schedule(&request.unit_code)?;

        if let Some(existing) = self.find_booking(&request.reference).await? {
            return if existing.is_for_slot(slot_id) {
                Ok(existing.provider_ref()?)
            } else {
                Err(AdapterError::Internal(format!(
                    "booking {} is already {} on another slot",
                    request.reference,
                    existing.provider_ref()?.0
                )))
            };
        }

        // A Slot the hospital deleted is as gone as a taken one.
        let Some(slot) = self.read_optional::<Slot>("Slot", slot_id).await? else {
            return Err(AdapterError::SoldOut);
        };
        // Moved since it was offered: the guest chose another time.
        if slot.view.times()? != (request.start, request.end) {
            return Err(AdapterError::SoldOut);
        }
        if !slot.view.is_in_schedule(&schedule.schedule_id) {
            return Err(AdapterError::Internal(format!(
                "Slot/{slot_id} is not in Schedule/{}",
                schedule.schedule_id
            )));
        }
        let info = self.schedule_info(&schedule.schedule_id).await?;
        if !self.acquire_slot(&slot, &request.reference).await? {
            return Err(AdapterError::SoldOut);
        }

        match self.create_appointment(request, &slot.view, &info).await {
            Ok(appointment) => appointment.provider_ref(),
            Err(error @ AdapterError::Rejected(_)) => {
                // Refused outright, so no Appointment exists: give the slot back. Other errors
                // (timeouts, 5xx) may hide a created Appointment, so the hold stays for the
                // retry to complete.
                let _ = self.release_slot(slot_id, &request.reference).await;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

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

    fn configured_schedule(&self, schedule_id: &str) -> Result<&FhirSchedule, AdapterError> {
        self.settings
            .schedules
            .iter()
            .find(|s| s.schedule_id == schedule_id)
            .ok_or_else(|| {
                AdapterError::Internal(format!("Schedule/{schedule_id} is not configured"))
            })
    }

    /// The Schedule with its specialty and practitioner's name resolved.
    async fn schedule_info(&self, schedule_id: &str) -> Result<ScheduleInfo, AdapterError> {
        if !is_fhir_id(schedule_id) {
            return Err(AdapterError::Internal(format!(
                "`{schedule_id}` is not a FHIR id"
            )));
        }
        let schedule = self.read::<Schedule>("Schedule", schedule_id).await?.view;
        let practitioner = schedule.practitioner();
        let mut practitioner_name = practitioner.and_then(|actor| actor.display.clone());
        if let Some(id) = practitioner.and_then(Reference::practitioner_id) {
            // A deleted Practitioner should not hide the whole schedule: keep the display.
            if let Some(found) = self
                .read_optional::<Practitioner>("Practitioner", id)
                .await?
            {
                practitioner_name = found.view.display_name().or(practitioner_name);
            }
        }
        Ok(ScheduleInfo {
            id: schedule_id.to_owned(),
            active: schedule.active != Some(false),
            specialty: schedule.specialty().and_then(CodeableConcept::label),
            specialty_terms: schedule.specialty_terms(),
            practitioner_ref: practitioner.and_then(|a| a.practitioner_id().map(str::to_owned)),
            practitioner: practitioner_name,
        })
    }

    /// Every free Slot of the schedule starting in the window, following `next` links.
    async fn free_slots(
        &self,
        schedule_id: &str,
        window: &Window,
    ) -> Result<Vec<Slot>, AdapterError> {
        let mut url = self.endpoint("Slot")?;
        url.query_pairs_mut()
            .append_pair("schedule", &format!("Schedule/{schedule_id}"))
            .append_pair("status", "free")
            .append_pair("start", &format!("ge{}", window.start_param()))
            .append_pair("start", &format!("lt{}", window.end_param()))
            .append_pair("_sort", "start")
            .append_pair("_count", &self.page_size.to_string());
        let mut slots = Vec::new();
        let mut seen = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            if seen.len() == MAX_PAGES || seen.contains(&url) {
                return Err(AdapterError::InvalidResponse(format!(
                    "Slot search paging did not end after {} pages",
                    seen.len()
                )));
            }
            let page = self.search_page::<Slot>(url.clone(), "Slot").await?;
            seen.push(url);
            slots.extend(page.resources);
            next = page.next;
        }
        Ok(slots)
    }

    /// The live (not cancelled) Appointment carrying our booking reference, if any.
    async fn find_booking(&self, reference: &str) -> Result<Option<Appointment>, AdapterError> {
        let mut url = self.endpoint("Appointment")?;
        url.query_pairs_mut()
            .append_pair("identifier", &format!("{BOOKING_SYSTEM}|{reference}"))
            .append_pair("_count", "20");
        let page = self.search_page::<Appointment>(url, "Appointment").await?;
        Ok(page
            .resources
            .into_iter()
            .find(|a| a.booking_reference() == Some(reference) && !a.has_ended()))
    }

    /// Whether our booking holds the Slot after this: it was free and our conditional write
    /// won, or it was held for us already (an earlier or concurrent attempt of this booking).
    async fn acquire_slot(
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
    async fn release_slot(&self, slot_id: &str, reference: &str) -> Result<(), AdapterError> {
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

    /// POSTs the Appointment, conditional on no booked one with our reference existing, so two
    /// concurrent retries of one booking still create only one.
    async fn create_appointment(
        &self,
        request: &BookingRequest,
        slot: &Slot,
        schedule: &ScheduleInfo,
    ) -> Result<Appointment, AdapterError> {
        let slot_id = slot.id()?;
        let mut participants = vec![json!({
            "actor": {"display": request.guest_name},
            "required": "required",
            "status": "accepted",
        })];
        if let Some(practitioner) = &schedule.practitioner_ref {
            let mut actor = json!({"reference": format!("Practitioner/{practitioner}")});
            if let Some(name) = &schedule.practitioner {
                actor["display"] = json!(name);
            }
            participants
                .push(json!({"actor": actor, "required": "required", "status": "accepted"}));
        }
        let mut appointment = json!({
            "resourceType": "Appointment",
            "status": "booked",
            "identifier": [{"system": BOOKING_SYSTEM, "value": request.reference}],
            "slot": [{"reference": format!("Slot/{slot_id}")}],
            "start": slot.start,
            "end": slot.end,
            "participant": participants,
            "comment": booking_comment(request),
        });
        if let Some(specialty) = &schedule.specialty {
            appointment["description"] = json!(specialty);
        }
        let condition = search_query(&[
            (
                "identifier",
                &format!("{BOOKING_SYSTEM}|{}", request.reference),
            ),
            ("status", "booked"),
        ]);
        let reply = self
            .send(
                self.request(Method::POST, self.endpoint("Appointment")?)
                    .header(CONTENT_TYPE, FHIR_JSON)
                    .header("If-None-Exist", condition)
                    .header("Prefer", "return=representation")
                    .body(appointment.to_string()),
            )
            .await?;
        if reply.status == StatusCode::PRECONDITION_FAILED {
            // Several booked Appointments match already: not a refusal (which would free the
            // slot), a state we must not make worse.
            return Err(AdapterError::InvalidResponse(format!(
                "several booked Appointments carry {}",
                request.reference
            )));
        }
        let resource = reply.json("Appointment")?;
        Ok(Versioned::parse(resource, None, "Appointment")?.view)
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

    // ---- HTTP -------------------------------------------------------------------------------

    /// `base_url` joined with a relative path, whether or not the base ends with '/'.
    fn endpoint(&self, path: &str) -> Result<Url, AdapterError> {
        let base = format!("{}/", self.settings.base_url.trim_end_matches('/'));
        Url::parse(&base)
            .and_then(|base| base.join(path))
            .map_err(|e| AdapterError::Internal(format!("bad FHIR base URL: {e}")))
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self
            .client
            .request(method, url)
            .header(ACCEPT, HeaderValue::from_static(FHIR_JSON));
        match &self.settings.bearer_token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    /// Sends and reads the whole body. Transport failures become Timeout/Unavailable; HTTP
    /// statuses are left to the caller.
    async fn send(&self, request: RequestBuilder) -> Result<Reply, AdapterError> {
        let started = Instant::now();
        let waited = || Duration::from_millis(started.elapsed().as_millis() as u64);
        let response = request
            .send()
            .await
            .map_err(|e| AdapterError::from_http(e, waited()))?;
        let status = response.status();
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(version_of_etag);
        let body = response
            .bytes()
            .await
            .map_err(|e| AdapterError::from_http(e, waited()))?
            .to_vec();
        Ok(Reply { status, etag, body })
    }

    /// GET `<type>/<id>`: the resource, its version and a typed view of it.
    async fn read<T: DeserializeOwned>(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Versioned<T>, AdapterError> {
        self.read_optional(resource_type, id)
            .await?
            .ok_or_else(|| AdapterError::Rejected(format!("{resource_type}/{id} does not exist")))
    }

    /// Like `read`, but a missing (404 or 410) resource is `None`.
    async fn read_optional<T: DeserializeOwned>(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, AdapterError> {
        let url = self.endpoint(&format!("{resource_type}/{id}"))?;
        let reply = self.send(self.request(Method::GET, url)).await?;
        if matches!(reply.status, StatusCode::NOT_FOUND | StatusCode::GONE) {
            return Ok(None);
        }
        let etag = reply.etag.clone();
        let resource = reply.json(&format!("{resource_type}/{id}"))?;
        Versioned::parse(resource, etag, resource_type).map(Some)
    }

    /// PUT `<type>/<id>` with `If-Match` on the version we read; 412 is `Write::Conflict`.
    async fn update(
        &self,
        resource_type: &str,
        id: &str,
        resource: &Value,
        version: Option<&str>,
    ) -> Result<Write, AdapterError> {
        // Without a version the write could not detect a concurrent booker: refuse it.
        let version = version.ok_or_else(|| {
            AdapterError::InvalidResponse(format!("{resource_type}/{id} has no version"))
        })?;
        let url = self.endpoint(&format!("{resource_type}/{id}"))?;
        let reply = self
            .send(
                self.request(Method::PUT, url)
                    .header(CONTENT_TYPE, FHIR_JSON)
                    .header(IF_MATCH, format!("W/\"{version}\""))
                    .header("Prefer", "return=minimal")
                    .body(resource.to_string()),
            )
            .await?;
        if reply.status == StatusCode::PRECONDITION_FAILED {
            return Ok(Write::Conflict);
        }
        reply.check(&format!("{resource_type}/{id}"))?;
        Ok(Write::Done)
    }

    /// One page of a search: its `resource_type` entries and the `next` page, if any.
    async fn search_page<T: DeserializeOwned>(
        &self,
        url: Url,
        resource_type: &str,
    ) -> Result<Page<T>, AdapterError> {
        let what = format!("{resource_type} search");
        let reply = self.send(self.request(Method::GET, url.clone())).await?;
        let bundle: Bundle = parse_resource(&reply.json(&what)?, "Bundle")?;
        let mut resources = Vec::new();
        for entry in bundle.entry {
            // Included resources and warnings are not results.
            if matches!(entry.search_mode(), Some("include" | "outcome")) {
                continue;
            }
            let resource = entry.resource.ok_or_else(|| {
                AdapterError::InvalidResponse(format!("{what}: an entry without a resource"))
            })?;
            resources.push(parse_resource(&resource, resource_type)?);
        }
        let next = match bundle.link.iter().find(|l| l.relation == "next") {
            Some(link) => Some(self.next_page_url(&url, &link.url)?),
            None => None,
        };
        Ok(Page { resources, next })
    }

    /// The `next` link, resolved against the page it came from. It must stay on our server:
    /// we would otherwise send the bearer token wherever a server points us.
    fn next_page_url(&self, current: &Url, link: &str) -> Result<Url, AdapterError> {
        let next = current
            .join(link)
            .map_err(|e| AdapterError::InvalidResponse(format!("bad next link `{link}`: {e}")))?;
        if next.origin() != self.endpoint("")?.origin() {
            return Err(AdapterError::InvalidResponse(format!(
                "next link `{link}` leaves the FHIR server"
            )));
        }
        Ok(next)
    }
}

/// The search window: local days in the provider's time zone, as instants.
struct Window {
    from: DateTime<Tz>,
    /// Exclusive: midnight after the last day.
    until: DateTime<Tz>,
}

impl Window {
    fn of(query: &SlotQuery, timezone: Tz) -> Option<Self> {
        if query.to < query.from {
            return None;
        }
        Some(Self {
            from: start_of_day(query.from, timezone)?,
            until: start_of_day(query.to.succ_opt()?, timezone)?,
        })
    }

    fn holds(&self, instant: DateTime<Utc>) -> bool {
        self.from <= instant && instant < self.until
    }

    fn start_param(&self) -> String {
        self.from.to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    fn end_param(&self) -> String {
        self.until.to_rfc3339_opts(SecondsFormat::Secs, false)
    }
}

/// The first instant of a local day (not always 00:00 where DST skips midnight).
fn start_of_day(day: NaiveDate, timezone: Tz) -> Option<DateTime<Tz>> {
    Some(crate::domain::local_midnight(day, timezone).with_timezone(&timezone))
}

/// Opaque text for the hospital's staff: who to call about this booking.
fn booking_comment(request: &BookingRequest) -> String {
    let mut comment = format!("Booked through Wasit, reference {}", request.reference);
    if let Some(phone) = &request.guest_phone {
        comment.push_str(&format!("; phone {phone}"));
    }
    if let Some(email) = &request.guest_email {
        comment.push_str(&format!("; email {email}"));
    }
    comment
}

/// `a=1&b=2`, percent-encoded.
fn search_query(pairs: &[(&str, &str)]) -> String {
    let mut scratch = Url::parse("http://localhost/").expect("a valid URL");
    scratch.query_pairs_mut().extend_pairs(pairs);
    scratch.query().unwrap_or_default().to_owned()
}

/// A FHIR logical id: 1-64 of `[A-Za-z0-9.-]` (so it is safe in a URL path).
fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `W/"3"` or `"3"` → `3`.
fn version_of_etag(etag: &str) -> Option<String> {
    let tag = etag.trim().trim_start_matches("W/");
    let version = tag.strip_prefix('"')?.strip_suffix('"')?;
    (!version.is_empty()).then(|| version.to_owned())
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

/// Checks `resourceType` and reads the fields we use; anything else is the server's garbage.
fn parse_resource<T: DeserializeOwned>(
    resource: &Value,
    expected: &str,
) -> Result<T, AdapterError> {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some(found) if found == expected => {}
        Some("OperationOutcome") => {
            return Err(AdapterError::InvalidResponse(format!(
                "expected a {expected}, got an OperationOutcome: {}",
                outcome_text(resource)
            )));
        }
        Some(found) => {
            return Err(AdapterError::InvalidResponse(format!(
                "expected a {expected}, got a {found}"
            )));
        }
        None => {
            return Err(AdapterError::InvalidResponse(format!(
                "expected a {expected}, got JSON without a resourceType"
            )));
        }
    }
    serde_path_to_error::deserialize(resource)
        .map_err(|e| AdapterError::InvalidResponse(format!("{expected}: {e}")))
}

/// The first issue of an OperationOutcome, for error messages.
fn outcome_text(outcome: &Value) -> String {
    let issue = &outcome["issue"][0];
    let text = issue["diagnostics"]
        .as_str()
        .or_else(|| issue["details"]["text"].as_str())
        .unwrap_or("no details");
    text.chars().take(200).collect()
}

struct Reply {
    status: StatusCode,
    /// The version from the `ETag` header.
    etag: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    /// The JSON body of a 2xx answer.
    fn json(&self, what: &str) -> Result<Value, AdapterError> {
        self.check(what)?;
        serde_json::from_slice(&self.body)
            .map_err(|e| AdapterError::InvalidResponse(format!("{what}: not JSON: {e}")))
    }

    /// A 4xx is Rejected, a 5xx Unavailable, anything else but 2xx garbage.
    fn check(&self, what: &str) -> Result<(), AdapterError> {
        if !self.status.is_success() {
            let detail = serde_json::from_slice::<Value>(&self.body)
                .map(|outcome| outcome_text(&outcome))
                .unwrap_or_default();
            let message = format!("{what}: HTTP {} {detail}", self.status.as_u16());
            return Err(if self.status.is_server_error() {
                AdapterError::Unavailable(message)
            } else if self.status.is_client_error() {
                AdapterError::Rejected(message)
            } else {
                AdapterError::InvalidResponse(message)
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Done,
    /// 412: the resource changed since we read it.
    Conflict,
}

/// A resource as read (to write it back whole), its version and the fields we use.
struct Versioned<T> {
    resource: Value,
    version: Option<String>,
    view: T,
}

impl<T: DeserializeOwned> Versioned<T> {
    fn parse(resource: Value, etag: Option<String>, expected: &str) -> Result<Self, AdapterError> {
        let view = parse_resource(&resource, expected)?;
        let version = resource["meta"]["versionId"]
            .as_str()
            .map(str::to_owned)
            .or(etag);
        Ok(Self {
            resource,
            version,
            view,
        })
    }
}

struct Page<T> {
    resources: Vec<T>,
    next: Option<Url>,
}

struct ScheduleInfo {
    id: String,
    active: bool,
    /// What to show: the specialty's text or display.
    specialty: Option<String>,
    /// Codes, displays and texts a specialty filter may match.
    specialty_terms: Vec<String>,
    practitioner_ref: Option<String>,
    practitioner: Option<String>,
}

impl ScheduleInfo {
    fn offers_specialty(&self, wanted: &str) -> bool {
        let wanted = wanted.to_lowercase();
        self.specialty_terms
            .iter()
            .any(|term| term.to_lowercase().contains(&wanted))
    }

    /// "Cardiology — Dr. Ahmed Ali". FHIR servers carry one language: both names get it.
    fn unit_name(&self) -> String {
        match (&self.specialty, &self.practitioner) {
            (Some(specialty), Some(practitioner)) => format!("{specialty} — {practitioner}"),
            (Some(name), None) | (None, Some(name)) => name.clone(),
            (None, None) => format!("Schedule {}", self.id),
        }
    }

    fn offer(
        &self,
        schedule: &FhirSchedule,
        slot_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> ProviderOffer {
        let name = self.unit_name();
        ProviderOffer {
            unit_code: schedule.schedule_id.clone(),
            unit_name_ar: name.clone(),
            unit_name_en: name,
            start,
            end,
            quantity: 1,
            provider_price: schedule.price,
            slot_ref: Some(slot_id.to_owned()),
            specialty: self.specialty.clone(),
            practitioner: self.practitioner.clone(),
            max_guests: None,
        }
    }
}

// ---- The parts of FHIR resources we read (everything else is kept as JSON) ----------------

#[derive(Deserialize)]
struct Bundle {
    #[serde(default)]
    entry: Vec<BundleEntry>,
    #[serde(default)]
    link: Vec<BundleLink>,
}

#[derive(Deserialize)]
struct BundleEntry {
    resource: Option<Value>,
    search: Option<Value>,
}

impl BundleEntry {
    fn search_mode(&self) -> Option<&str> {
        self.search.as_ref()?.get("mode")?.as_str()
    }
}

#[derive(Deserialize)]
struct BundleLink {
    relation: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Schedule {
    active: Option<bool>,
    #[serde(default)]
    specialty: Vec<CodeableConcept>,
    #[serde(default)]
    service_type: Vec<CodeableConcept>,
    #[serde(default)]
    actor: Vec<Reference>,
}

impl Schedule {
    fn specialty(&self) -> Option<&CodeableConcept> {
        self.specialty.first().or(self.service_type.first())
    }

    fn specialty_terms(&self) -> Vec<String> {
        self.specialty
            .iter()
            .chain(&self.service_type)
            .flat_map(CodeableConcept::terms)
            .collect()
    }

    /// The Practitioner among the actors, else any actor with a display name.
    fn practitioner(&self) -> Option<&Reference> {
        self.actor
            .iter()
            .find(|a| a.practitioner_id().is_some())
            .or_else(|| self.actor.iter().find(|a| a.display.is_some()))
    }
}

#[derive(Deserialize)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<Coding>,
    text: Option<String>,
}

impl CodeableConcept {
    fn label(&self) -> Option<String> {
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
struct Reference {
    reference: Option<String>,
    display: Option<String>,
}

impl Reference {
    fn practitioner_id(&self) -> Option<&str> {
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
struct Practitioner {
    #[serde(default)]
    name: Vec<HumanName>,
}

impl Practitioner {
    /// name[0].text, else "prefix given family".
    fn display_name(&self) -> Option<String> {
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
struct Slot {
    id: Option<String>,
    status: Option<String>,
    start: Option<String>,
    end: Option<String>,
    schedule: Option<Reference>,
    #[serde(default)]
    identifier: Vec<Identifier>,
}

impl Slot {
    fn id(&self) -> Result<&str, AdapterError> {
        self.id
            .as_deref()
            .filter(|id| is_fhir_id(id))
            .ok_or_else(|| AdapterError::InvalidResponse("a Slot without a valid id".into()))
    }

    /// Start and end, both required, end after start.
    fn times(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), AdapterError> {
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

    fn is_in_schedule(&self, schedule_id: &str) -> bool {
        self.schedule.as_ref().and_then(|s| s.id_of("Schedule")) == Some(schedule_id)
    }

    fn is_held_by(&self, reference: &str) -> bool {
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
struct Appointment {
    id: Option<String>,
    status: Option<String>,
    #[serde(default)]
    identifier: Vec<Identifier>,
    #[serde(default)]
    slot: Vec<Reference>,
}

impl Appointment {
    fn provider_ref(&self) -> Result<ProviderRef, AdapterError> {
        let id = self
            .id
            .as_deref()
            .filter(|id| is_fhir_id(id))
            .ok_or_else(|| AdapterError::InvalidResponse("an Appointment without an id".into()))?;
        Ok(ProviderRef(format!("Appointment/{id}")))
    }

    fn booking_reference(&self) -> Option<&str> {
        booking_reference(&self.identifier)
    }

    fn has_ended(&self) -> bool {
        ENDED.contains(&self.status.as_deref().unwrap_or_default())
    }

    fn slot_ids(&self) -> impl Iterator<Item = &str> {
        self.slot.iter().filter_map(|s| s.id_of("Slot"))
    }

    fn is_for_slot(&self, slot_id: &str) -> bool {
        self.slot_ids().any(|id| id == slot_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_versions() {
        assert_eq!(version_of_etag("W/\"3\"").as_deref(), Some("3"));
        assert_eq!(version_of_etag("\"abc\"").as_deref(), Some("abc"));
        assert_eq!(version_of_etag("W/\"\""), None);
        assert_eq!(version_of_etag("3"), None);
    }

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

    #[test]
    fn windows_are_local_days() {
        let query = SlotQuery {
            specialty: None,
            from: NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2030, 1, 2).unwrap(),
        };
        let window = Window::of(&query, chrono_tz::Asia::Riyadh).unwrap();
        assert_eq!(window.start_param(), "2030-01-01T00:00:00+03:00");
        assert_eq!(window.end_param(), "2030-01-03T00:00:00+03:00");
        let reversed = SlotQuery {
            from: query.to,
            to: query.from,
            ..query
        };
        assert!(Window::of(&reversed, chrono_tz::Asia::Riyadh).is_none());
    }
}
