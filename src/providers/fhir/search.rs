//! Search: the free Slots of the configured Schedules in a window of local days, each one an
//! offer named after the Schedule's specialty and practitioner. The Schedules are asked about
//! side by side (at most the adapter's concurrency at once), so a hospital with many answers
//! in about the time of its slowest Schedule, not of all of them one after another.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::FhirAdapter;
use super::resources::{CodeableConcept, Practitioner, Reference, Schedule, Slot, is_fhir_id};
use crate::providers::adapter::AdapterError;
use crate::providers::model::{AvailabilityQuery, FhirSchedule, ProviderOffer, SlotQuery};

/// A server whose `next` links never end is broken; stop rather than loop forever.
const MAX_PAGES: usize = 50;

impl FhirAdapter {
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
        let now = Utc::now();
        // The futures are made first: a stream mapping with a borrowing closure would not be
        // `Send` for the search task (rustc cannot name the closure's lifetimes).
        let asks: Vec<_> = self
            .settings
            .schedules
            .iter()
            .map(|schedule| self.schedule_offers(schedule, &window, wanted, now))
            .collect();
        let mut offers: Vec<ProviderOffer> = stream::iter(asks)
            .buffer_unordered(self.concurrency)
            .try_concat()
            .await?;
        offers.sort_by(|a, b| (a.start, &a.unit_code).cmp(&(b.start, &b.unit_code)));
        Ok(offers)
    }

    /// One Schedule's free slots in the window as offers: none when it is inactive or of
    /// another specialty than `wanted`.
    async fn schedule_offers(
        &self,
        schedule: &FhirSchedule,
        window: &Window,
        wanted: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ProviderOffer>, AdapterError> {
        let info = self.schedule_info(&schedule.schedule_id).await?;
        if !info.active || wanted.is_some_and(|wanted| !info.offers_specialty(wanted)) {
            return Ok(Vec::new());
        }
        let mut offers = Vec::new();
        for slot in self.free_slots(&schedule.schedule_id, window).await? {
            let (start, end) = slot.times()?;
            // The server was asked for exactly this; checking again costs nothing and
            // protects against servers that ignore a search parameter.
            if slot.status.as_deref() == Some("free") && start >= now && window.holds(start) {
                offers.push(info.offer(schedule, slot.id()?, start, end));
            }
        }
        Ok(offers)
    }

    /// The Schedule with its specialty and practitioner's name resolved.
    pub(super) async fn schedule_info(
        &self,
        schedule_id: &str,
    ) -> Result<ScheduleInfo, AdapterError> {
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

pub(super) struct ScheduleInfo {
    id: String,
    active: bool,
    /// What to show: the specialty's text or display.
    pub(super) specialty: Option<String>,
    /// Codes, displays and texts a specialty filter may match.
    specialty_terms: Vec<String>,
    pub(super) practitioner_ref: Option<String>,
    pub(super) practitioner: Option<String>,
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
            unit_code: schedule.unit_code().to_owned(),
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
            rooms: Vec::new(),
            available: Some(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
