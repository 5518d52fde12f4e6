//! CalDAV adapter (hotels). Each room type is one calendar collection on the hotel's server and
//! each booked room is one all-day VEVENT over the stay's nights: a room type with `rooms` rooms
//! is free on a night while fewer than `rooms` events cover it.
//!
//! - search: a `REPORT` calendar-query per room type for the events around the stay, then a
//!   night-by-night count (nights are local dates in the provider's timezone).
//! - book: one `PUT` per room with `If-None-Match: *` under names derived from our reference, so
//!   a retry finds its own events instead of adding more; then a re-count (see [`CaldavAdapter::book`]).
//! - cancel: `DELETE` of each event.
//!
//! `ProviderRef` format: the booking's event paths, relative to `base_url` like `calendar_path`,
//! separated by single spaces, e.g.
//! `/hotel/deluxe-king/WS-7K3F9Q-0.ics /hotel/deluxe-king/WS-7K3F9Q-1.ics`.
//! A path never contains a space: the reference is percent-encoded in the file name.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use icalendar::{
    Calendar, CalendarDateTime, Component, DatePerhapsTime, Event, EventLike, EventStatus,
};
use reqwest::{Method, RequestBuilder, StatusCode, header};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinSet;

use super::adapter::AdapterError;
use super::model::{
    AvailabilityQuery, BookingRequest, CaldavRoomType, CaldavSettings, ProviderOffer, ProviderRef,
    StayQuery,
};
use crate::domain::{local_instant, local_midnight};

const CALENDAR_CONTENT_TYPE: &str = "text/calendar; charset=utf-8";
const XML_CONTENT_TYPE: &str = "application/xml; charset=utf-8";
const PRODID: &str = "-//wasit//booking broker//EN";

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

    /// Offers every room type that fits the party and has `rooms` rooms free on every night.
    pub async fn search(
        &self,
        query: &AvailabilityQuery,
    ) -> Result<Vec<ProviderOffer>, AdapterError> {
        let AvailabilityQuery::Stay(stay) = query else {
            return Ok(Vec::new());
        };
        let nights = nights(self.timezone, stay.check_in, stay.check_out);
        if nights.is_empty() || stay.rooms == 0 {
            return Ok(Vec::new());
        }
        let fitting: Vec<&CaldavRoomType> = self
            .settings
            .room_types
            .iter()
            .filter(|room_type| fits(room_type, stay))
            .collect();

        // One calendar per room type: ask them all at once, each answer keyed by its index.
        let dav = Arc::new(self.dav());
        let nights = Arc::new(nights);
        let mut tasks = JoinSet::new();
        for (index, room_type) in fitting.iter().enumerate() {
            let (dav, nights) = (Arc::clone(&dav), Arc::clone(&nights));
            let path = room_type.calendar_path.clone();
            tasks.spawn(async move {
                let held = dav.occupancies(&path, &nights).await;
                (
                    index,
                    held.map(|held| rooms_taken(&nights, &held, |_| true)),
                )
            });
        }
        let mut taken: Vec<Option<Vec<u32>>> = vec![None; fitting.len()];
        while let Some(joined) = tasks.join_next().await {
            let (index, counts) = joined
                .map_err(|e| AdapterError::Internal(format!("CalDAV search task failed: {e}")))?;
            if let Some(slot) = taken.get_mut(index) {
                *slot = Some(counts?);
            }
        }

        let mut offers = Vec::new();
        for (room_type, counts) in fitting.into_iter().zip(taken) {
            let free =
                counts.is_some_and(|counts| !over_capacity(&counts, stay.rooms, room_type.rooms));
            if free {
                offers.push(self.offer(room_type, stay)?);
            }
        }
        Ok(offers)
    }

    /// Books `quantity` rooms: one event each, named `{calendar_path}/{reference}-{i}.ics` with
    /// UID `{reference}-{i}@wasit`.
    ///
    /// CalDAV cannot make "fewer than `rooms` events on each night" atomic: `If-None-Match: *`
    /// only guards one href. So each attempt checks before writing (to fail fast), writes, then
    /// re-counts every night with its events in place. Of two racers for the last room, at
    /// least the later writer sees both events and backs off, deleting its own: both may back
    /// off, never both stay. Racers that collided retry after a random pause, so a burst of
    /// demand still sells the room; a lost sale remains possible, an overbooking is not.
    pub async fn book(&self, request: &BookingRequest) -> Result<ProviderRef, AdapterError> {
        let room_type = self.room_type(&request.unit_code)?;
        let check_in = request.start.with_timezone(&self.timezone).date_naive();
        let check_out = request.end.with_timezone(&self.timezone).date_naive();
        let booking = Booking {
            request,
            room_type,
            check_in,
            check_out,
            nights: nights(self.timezone, check_in, check_out),
            events: our_events(room_type, request),
        };
        if booking.nights.is_empty() || request.quantity == 0 {
            return Err(AdapterError::Rejected(format!(
                "a stay needs at least one night and one room (got {check_in} to {check_out}, {} rooms)",
                request.quantity
            )));
        }
        if request.quantity > room_type.rooms {
            return Err(AdapterError::SoldOut);
        }
        let dav = self.dav();
        for attempt in 1..=BOOKING_ATTEMPTS {
            match dav.attempt(&booking).await? {
                Attempt::Booked => {
                    let paths: Vec<&str> = booking.events.iter().map(|e| e.path.as_str()).collect();
                    return Ok(ProviderRef(paths.join(" ")));
                }
                Attempt::Collided if attempt < BOOKING_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Attempt::Collided => {}
            }
        }
        Err(AdapterError::SoldOut)
    }

    /// Deletes the booking's events; one already gone counts as deleted.
    pub async fn cancel(&self, reference: &ProviderRef) -> Result<(), AdapterError> {
        let paths: Vec<&str> = reference.0.split_whitespace().collect();
        if paths.is_empty() {
            return Err(AdapterError::Internal(
                "empty CalDAV provider reference".into(),
            ));
        }
        let dav = self.dav();
        for path in paths {
            dav.delete(path).await?;
        }
        Ok(())
    }

    fn dav(&self) -> Dav {
        Dav {
            client: self.client.clone(),
            base_url: self.settings.base_url.clone(),
            username: self.settings.username.clone(),
            password: self.settings.password.clone(),
            timezone: self.timezone,
        }
    }

    fn room_type(&self, code: &str) -> Result<&CaldavRoomType, AdapterError> {
        self.settings
            .room_types
            .iter()
            .find(|room_type| room_type.code == code)
            .ok_or_else(|| AdapterError::Rejected(format!("unknown room type {code:?}")))
    }

    fn offer(
        &self,
        room_type: &CaldavRoomType,
        stay: &StayQuery,
    ) -> Result<ProviderOffer, AdapterError> {
        let provider_price = room_type
            .nightly_price
            .checked_mul(Decimal::from(stay.nights()))
            .and_then(|price| price.checked_mul(Decimal::from(stay.rooms)))
            .ok_or_else(|| AdapterError::Internal("stay price overflows".into()))?;
        Ok(ProviderOffer {
            unit_code: room_type.code.clone(),
            unit_name_ar: room_type.name_ar.clone(),
            unit_name_en: room_type.name_en.clone(),
            start: local_midnight(stay.check_in, self.timezone),
            end: local_midnight(stay.check_out, self.timezone),
            quantity: stay.rooms,
            provider_price,
            slot_ref: None,
            specialty: None,
            practitioner: None,
            max_guests: Some(room_type.max_guests),
        })
    }
}

/// Enough rooms of the type, and enough beds across the rooms asked for.
fn fits(room_type: &CaldavRoomType, stay: &StayQuery) -> bool {
    room_type.rooms >= stay.rooms
        && u64::from(room_type.max_guests) * u64::from(stay.rooms) >= u64::from(stay.guests)
}

fn over_capacity(taken: &[u32], adding: u32, rooms: u32) -> bool {
    taken
        .iter()
        .any(|&n| u64::from(n) + u64::from(adding) > u64::from(rooms))
}

// ---------------------------------------------------------------------------------------------
// Nights and the events that cover them

/// One night of a stay: from local midnight to the next, as instants.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Night {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn nights(timezone: Tz, check_in: NaiveDate, check_out: NaiveDate) -> Vec<Night> {
    check_in
        .iter_days()
        .take_while(|day| *day < check_out)
        .map(|day| Night {
            start: local_midnight(day, timezone),
            end: local_midnight(day.succ_opt().unwrap_or(day), timezone),
        })
        .collect()
}

/// What one event holds: an interval of instants, or, for a recurring event the server did not
/// expand, everything from its first occurrence on (we cannot expand it: counting it on every
/// later night may refuse a free room, but never sells a taken one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Occupancy {
    uid: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    recurring: bool,
}

impl Occupancy {
    fn covers(&self, night: &Night) -> bool {
        if self.recurring {
            night.end > self.start
        } else if self.end > self.start {
            self.start < night.end && self.end > night.start
        } else {
            // An instant (no DTEND nor DURATION) holds the night it falls in.
            night.start <= self.start && self.start < night.end
        }
    }
}

/// How many rooms each night holds, counting the occupancies `counted` keeps.
fn rooms_taken(
    nights: &[Night],
    held: &[Occupancy],
    counted: impl Fn(&Occupancy) -> bool,
) -> Vec<u32> {
    nights
        .iter()
        .map(|night| {
            let n = held
                .iter()
                .filter(|h| counted(h) && h.covers(night))
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// iCalendar

/// The rooms held by the events of one calendar object.
fn occupancies(ics: &str, timezone: Tz) -> Result<Vec<Occupancy>, AdapterError> {
    let calendar = parse_calendar(ics)?;
    calendar
        .events()
        .filter(|event| holds_a_room(event))
        .map(|event| occupancy(event, timezone))
        .collect()
}

fn parse_calendar(ics: &str) -> Result<Calendar, AdapterError> {
    let text = ics.trim_start_matches('\u{feff}').trim_start();
    let begins = text
        .get(..15)
        .is_some_and(|head| head.eq_ignore_ascii_case("BEGIN:VCALENDAR"));
    if !begins {
        return Err(invalid(format!("not iCalendar: {}", excerpt(text))));
    }
    Calendar::from_str(text).map_err(|e| invalid(format!("unreadable iCalendar: {}", excerpt(&e))))
}

/// Cancelled and transparent events do not take a room (free-busy semantics).
fn holds_a_room(event: &Event) -> bool {
    let transparent = event
        .property_value("TRANSP")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("TRANSPARENT"));
    event.get_status() != Some(EventStatus::Cancelled) && !transparent
}

fn occupancy(event: &Event, timezone: Tz) -> Result<Occupancy, AdapterError> {
    let uid = event.get_uid().map(str::to_owned);
    let start_value = event
        .get_start()
        .ok_or_else(|| invalid(format!("event {uid:?} has no readable DTSTART")))?;
    let start = instant(&start_value, timezone);
    let end = if event.properties().contains_key("DTEND") {
        let end = event
            .get_end()
            .ok_or_else(|| invalid(format!("event {uid:?} has an unreadable DTEND")))?;
        instant(&end, timezone)
    } else if let Some(duration) = event.property_value("DURATION") {
        let duration = parse_duration(duration)
            .ok_or_else(|| invalid(format!("event {uid:?} has an unreadable DURATION")))?;
        after(&start_value, duration, timezone)
    } else if let DatePerhapsTime::Date(date) = start_value {
        // RFC 5545: an all-day DTSTART alone lasts one day.
        local_midnight(date.succ_opt().unwrap_or(date), timezone)
    } else {
        start
    };
    let recurring = event.properties().contains_key("RRULE")
        || event.multi_properties().contains_key("RRULE")
        || event.properties().contains_key("RDATE")
        || event.multi_properties().contains_key("RDATE");
    Ok(Occupancy {
        uid,
        start,
        end,
        recurring,
    })
}

/// An iCalendar date or date-time as an instant: dates and floating times are the hotel's local
/// time; an unknown TZID (custom VTIMEZONE names) falls back to the hotel's zone as well.
fn instant(value: &DatePerhapsTime, timezone: Tz) -> DateTime<Utc> {
    match value {
        DatePerhapsTime::Date(date) => local_midnight(*date, timezone),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(instant)) => *instant,
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(local)) => {
            local_instant(timezone, *local)
        }
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            local_instant(zone_named(tzid).unwrap_or(timezone), *date_time)
        }
    }
}

/// `Europe/Berlin`, also inside prefixed ids like `/mozilla.org/20050126_1/Europe/Berlin`.
fn zone_named(tzid: &str) -> Option<Tz> {
    let tzid = tzid.trim().trim_matches('"');
    let parts: Vec<&str> = tzid.split('/').collect();
    (0..parts.len()).find_map(|from| parts[from..].join("/").parse::<Tz>().ok())
}

/// DTSTART + DURATION: whole days move the local date (a DST day is not 24 hours).
fn after(start: &DatePerhapsTime, duration: TimeDelta, timezone: Tz) -> DateTime<Utc> {
    if let DatePerhapsTime::Date(date) = start {
        let days = duration.num_days();
        let remainder = duration - TimeDelta::days(days);
        let end_date = u64::try_from(days)
            .ok()
            .and_then(|days| date.checked_add_days(Days::new(days)))
            .unwrap_or(*date);
        return local_midnight(end_date, timezone) + remainder;
    }
    let start = instant(start, timezone);
    start.checked_add_signed(duration).unwrap_or(start)
}

/// An RFC 5545 DURATION (`P1D`, `PT12H`, `P1DT2H30M`, `P2W`, `-PT1H`); `None` if unreadable.
fn parse_duration(text: &str) -> Option<TimeDelta> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let mut seconds: i64 = 0;
    let mut number: Option<i64> = None;
    let mut in_time = false;
    let mut any = false;
    for c in text.strip_prefix('P')?.chars() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(digit))?,
            );
            continue;
        }
        if c == 'T' && !in_time && number.is_none() {
            in_time = true;
            continue;
        }
        let unit = match (c, in_time) {
            ('W', false) => 7 * 86_400,
            ('D', false) => 86_400,
            ('H', true) => 3_600,
            ('M', true) => 60,
            ('S', true) => 1,
            _ => return None,
        };
        seconds = seconds.checked_add(number.take()?.checked_mul(unit)?)?;
        any = true;
    }
    if number.is_some() || !any {
        return None;
    }
    let duration = TimeDelta::try_seconds(seconds)?;
    Some(if negative { -duration } else { duration })
}

/// Write-then-check rounds before a booking that keeps colliding gives up as sold out.
const BOOKING_ATTEMPTS: u32 = 4;

/// A random pause before attempt `attempt + 1`, its window doubling each time, so that
/// racers who collided come back one after another.
fn backoff(attempt: u32) -> Duration {
    let window_ms = 50u128 << attempt.min(6);
    let random = uuid::Uuid::new_v4().as_u128() % window_ms;
    Duration::from_millis(10 + u64::try_from(random).unwrap_or(0))
}

/// One booking as the attempts see it: where, which nights, and the events it writes.
struct Booking<'a> {
    request: &'a BookingRequest,
    room_type: &'a CaldavRoomType,
    check_in: NaiveDate,
    check_out: NaiveDate,
    nights: Vec<Night>,
    events: Vec<OurEvent>,
}

impl Booking<'_> {
    fn is_ours(&self, held: &Occupancy) -> bool {
        held.uid
            .as_deref()
            .is_some_and(|uid| self.events.iter().any(|event| event.uid == uid))
    }
}

enum Attempt {
    Booked,
    /// Over capacity once our events were in: they are deleted again.
    Collided,
}

/// One of the events a booking writes: where, and the UID that proves it is ours.
#[derive(Debug)]
struct OurEvent {
    path: String,
    uid: String,
}

fn our_events(room_type: &CaldavRoomType, request: &BookingRequest) -> Vec<OurEvent> {
    let calendar = room_type.calendar_path.trim_matches('/');
    let name = percent_encode(&request.reference);
    (0..request.quantity)
        .map(|i| OurEvent {
            path: format!("/{calendar}/{name}-{i}.ics"),
            uid: format!("{}-{i}@wasit", request.reference),
        })
        .collect()
}

/// Keeps unreserved URL characters; everything else (spaces included) becomes `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Room `index`'s event: all-day DATE values for the nights, guest and reference for the desk.
fn booking_calendar(booking: &Booking<'_>, event: &OurEvent, index: usize) -> String {
    let (request, rooms) = (booking.request, booking.events.len());
    let room = if rooms > 1 {
        format!(", room {} of {rooms}", index + 1)
    } else {
        String::new()
    };
    let contact: Vec<String> = [
        request
            .guest_phone
            .as_ref()
            .map(|phone| format!("Phone: {phone}")),
        request
            .guest_email
            .as_ref()
            .map(|email| format!("Email: {email}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut vevent = Event::new();
    vevent
        .uid(&event.uid)
        .timestamp(Utc::now())
        .starts(booking.check_in)
        .ends(booking.check_out)
        .summary(&format!(
            "{} ({}{room})",
            request.guest_name, request.reference
        ))
        .status(EventStatus::Confirmed)
        .add_property("TRANSP", "OPAQUE");
    if !contact.is_empty() {
        vevent.description(&contact.join("\n"));
    }
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", PRODID))
        .append_property(("CALSCALE", "GREGORIAN"))
        .push(vevent.done());
    calendar.to_string()
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// The server, its credentials and the hotel's zone: owned, so searches can run in tasks.
struct Dav {
    client: reqwest::Client,
    base_url: String,
    username: Option<String>,
    password: Option<SecretString>,
    timezone: Tz,
}

enum Created {
    New,
    /// A retry: the href already holds our event.
    AlreadyOurs,
    /// Someone else's event sits at our href.
    Foreign,
}

impl Dav {
    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match &self.username {
            Some(username) => builder.basic_auth(
                username,
                self.password.as_ref().map(|p| p.expose_secret().to_owned()),
            ),
            None => builder,
        }
    }

    /// Sends and reads the whole body. The client's own timeout applies; its length is not
    /// known here, so a timeout reports how long this request actually waited.
    async fn exchange(
        &self,
        builder: RequestBuilder,
    ) -> Result<(StatusCode, String), AdapterError> {
        let started = Instant::now();
        let waited = || {
            Duration::from_millis(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX))
        };
        let response = builder
            .send()
            .await
            .map_err(|e| AdapterError::from_http(e, waited()))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| AdapterError::from_http(e, waited()))?;
        Ok((status, body))
    }

    /// The occupancies of the events around these nights. The query window is a day wider on
    /// each side: servers place all-day and floating events in their own zone (Radicale: UTC),
    /// so a tight window in the hotel's zone could miss one. The exact count is ours.
    async fn occupancies(
        &self,
        calendar_path: &str,
        nights: &[Night],
    ) -> Result<Vec<Occupancy>, AdapterError> {
        let (Some(first), Some(last)) = (nights.first(), nights.last()) else {
            return Ok(Vec::new());
        };
        let start = first.start - TimeDelta::days(1);
        let end = last.end + TimeDelta::days(1);
        let path = format!("{}/", calendar_path.trim_end_matches('/'));
        let report =
            Method::from_bytes(b"REPORT").map_err(|e| AdapterError::Internal(e.to_string()))?;
        let builder = self
            .request(report, &path)
            .header("Depth", "1")
            .header(header::CONTENT_TYPE, XML_CONTENT_TYPE)
            .body(calendar_query(start, end));
        let (status, body) = self.exchange(builder).await?;
        if status != StatusCode::MULTI_STATUS {
            return Err(unexpected(status, &format!("REPORT {path}"), &body));
        }
        let mut held = Vec::new();
        for ics in multistatus_calendar_data(&body)? {
            held.extend(occupancies(&ics, self.timezone)?);
        }
        Ok(held)
    }

    /// One write-then-check round (see [`CaldavAdapter::book`]). Over capacity before writing is
    /// `SoldOut`; over capacity after writing is a collision, and this booking's events are
    /// deleted, any left by an earlier unanswered call included (its caller never learnt of it).
    async fn attempt(&self, booking: &Booking<'_>) -> Result<Attempt, AdapterError> {
        let calendar = &booking.room_type.calendar_path;
        let rooms = booking.room_type.rooms;
        let held = self.occupancies(calendar, &booking.nights).await?;
        let others = rooms_taken(&booking.nights, &held, |held| !booking.is_ours(held));
        if over_capacity(&others, booking.request.quantity, rooms) {
            return Err(AdapterError::SoldOut);
        }

        let mut written: Vec<&OurEvent> = Vec::new();
        for (index, event) in booking.events.iter().enumerate() {
            let ics = booking_calendar(booking, event, index);
            // An unanswered PUT may still have landed: count it as written for the roll-back.
            written.push(event);
            match self.create(event, &ics).await {
                Ok(Created::New | Created::AlreadyOurs) => {}
                Ok(Created::Foreign) => {
                    written.pop();
                    self.roll_back(&written).await;
                    return Err(AdapterError::SoldOut);
                }
                Err(error) => {
                    self.roll_back(&written).await;
                    return Err(error);
                }
            }
        }

        let recount = self
            .occupancies(calendar, &booking.nights)
            .await
            .and_then(|held| {
                let listed =
                    |event: &OurEvent| held.iter().any(|h| h.uid.as_deref() == Some(&event.uid));
                if booking.events.iter().all(listed) {
                    Ok(rooms_taken(&booking.nights, &held, |_| true))
                } else {
                    Err(invalid(
                        "the calendar-query does not list the events just written".into(),
                    ))
                }
            });
        match recount {
            Ok(taken) if !over_capacity(&taken, 0, rooms) => Ok(Attempt::Booked),
            Ok(_) => {
                self.roll_back(&written).await;
                Ok(Attempt::Collided)
            }
            Err(error) => {
                self.roll_back(&written).await;
                Err(error)
            }
        }
    }

    /// PUT only if the href is free; a taken href is ours (a retry) or someone else's.
    async fn create(&self, event: &OurEvent, ics: &str) -> Result<Created, AdapterError> {
        let builder = self
            .request(Method::PUT, &event.path)
            .header(header::IF_NONE_MATCH, "*")
            .header(header::CONTENT_TYPE, CALENDAR_CONTENT_TYPE)
            .body(ics.to_owned());
        let (status, body) = self.exchange(builder).await?;
        match status {
            s if s.is_success() => Ok(Created::New),
            StatusCode::PRECONDITION_FAILED if self.holds_our_event(event).await? => {
                Ok(Created::AlreadyOurs)
            }
            StatusCode::PRECONDITION_FAILED => Ok(Created::Foreign),
            s => Err(unexpected(s, &format!("PUT {}", event.path), &body)),
        }
    }

    async fn holds_our_event(&self, event: &OurEvent) -> Result<bool, AdapterError> {
        let (status, body) = self
            .exchange(self.request(Method::GET, &event.path))
            .await?;
        match status {
            StatusCode::NOT_FOUND | StatusCode::GONE => Ok(false),
            s if s.is_success() => {
                let calendar = parse_calendar(&body)?;
                Ok(calendar
                    .events()
                    .any(|e| e.get_uid() == Some(event.uid.as_str())))
            }
            s => Err(unexpected(s, &format!("GET {}", event.path), &body)),
        }
    }

    async fn delete(&self, path: &str) -> Result<(), AdapterError> {
        let (status, body) = self.exchange(self.request(Method::DELETE, path)).await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND | StatusCode::GONE => Ok(()),
            s => Err(unexpected(s, &format!("DELETE {path}"), &body)),
        }
    }

    /// Best effort: deletes what this booking wrote, checking each is ours first (an
    /// unanswered PUT may have met someone else's event). A failure leaves a room blocked,
    /// never sold twice, so it is logged rather than returned.
    async fn roll_back(&self, written: &[&OurEvent]) {
        for event in written {
            let outcome = match self.holds_our_event(event).await {
                Ok(true) => self.delete(&event.path).await,
                Ok(false) => Ok(()),
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                tracing::warn!(path = %event.path, %error, "CalDAV roll-back failed: the room stays blocked");
            }
        }
    }
}

/// A calendar-query for VEVENTs over [start, end), recurring ones expanded into instances.
/// The values are our own UTC stamps (digits, `T`, `Z`): nothing to escape.
fn calendar_query(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let start = start.format("%Y%m%dT%H%M%SZ");
    let end = end.format("%Y%m%dT%H%M%SZ");
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <C:calendar-data>
      <C:expand start="{start}" end="{end}"/>
    </C:calendar-data>
  </D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VEVENT">
        <C:time-range start="{start}" end="{end}"/>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>
"#
    )
}

fn unexpected(status: StatusCode, what: &str, body: &str) -> AdapterError {
    let message = format!("{what}: HTTP {status}: {}", excerpt(body));
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        AdapterError::Unavailable(message)
    } else if status.is_client_error() {
        AdapterError::Rejected(message)
    } else {
        AdapterError::InvalidResponse(message)
    }
}

fn invalid(message: String) -> AdapterError {
    AdapterError::InvalidResponse(message)
}

/// The start of a server's text, for error messages.
fn excerpt(text: &str) -> String {
    let mut short: String = text.trim().chars().take(120).collect();
    if text.trim().chars().nth(120).is_some() {
        short.push('…');
    }
    short
}

// ---------------------------------------------------------------------------------------------
// Multistatus: just enough XML for `response`, `status` and `calendar-data`, whatever the prefixes

/// The iCalendar text of every `response` in a 207 body. A response that says 2xx but carries
/// no calendar-data is an error (skipping it could hide a taken room); one that says 404 (an
/// event deleted meanwhile) is skipped.
fn multistatus_calendar_data(body: &str) -> Result<Vec<String>, AdapterError> {
    let tags = tags(body)?;
    match tags
        .iter()
        .find(|tag| matches!(tag.kind, TagKind::Open | TagKind::Empty))
    {
        Some(root) if local_name(root.name) == "multistatus" => {}
        _ => return Err(invalid(format!("not a multistatus: {}", excerpt(body)))),
    }
    let mut found = Vec::new();
    for response in elements(body, &tags, "response") {
        let data = elements(body, response.tags, "calendar-data");
        match data.first() {
            Some(data) if !data.text.trim().is_empty() => found.push(xml_text(data.text)?),
            _ => {
                let statuses = elements(body, response.tags, "status");
                let ok = statuses.is_empty()
                    || statuses.iter().any(|status| {
                        let code = status.text.split_whitespace().nth(1);
                        code.is_some_and(|code| code.starts_with('2'))
                    });
                if ok {
                    return Err(invalid(
                        "a multistatus response without calendar-data".into(),
                    ));
                }
            }
        }
    }
    Ok(found)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    Open,
    Close,
    Empty,
}

/// One tag: its name (with prefix) and where it starts and ends in the text.
#[derive(Debug, Clone, Copy)]
struct Tag<'a> {
    kind: TagKind,
    name: &'a str,
    start: usize,
    end: usize,
}

/// Every element tag in order; comments, CDATA, processing instructions and DOCTYPE skipped.
fn tags(xml: &str) -> Result<Vec<Tag<'_>>, AdapterError> {
    let unterminated = || invalid(format!("malformed XML: {}", excerpt(xml)));
    let mut tags = Vec::new();
    let mut at = 0;
    while let Some(offset) = xml[at..].find('<') {
        let start = at + offset;
        let rest = &xml[start..];
        let skip_to = |terminator: &str| {
            rest.find(terminator)
                .map(|i| start + i + terminator.len())
                .ok_or_else(unterminated)
        };
        if rest.starts_with("<!--") {
            at = skip_to("-->")?;
        } else if rest.starts_with("<![CDATA[") {
            at = skip_to("]]>")?;
        } else if rest.starts_with("<?") {
            at = skip_to("?>")?;
        } else if rest.starts_with("<!") {
            at = skip_to(">")?;
        } else {
            let end = start + tag_end(rest).ok_or_else(unterminated)?;
            let inside = &xml[start + 1..end - 1];
            let (kind, inside) = if let Some(name) = inside.strip_prefix('/') {
                (TagKind::Close, name)
            } else if let Some(open) = inside.strip_suffix('/') {
                (TagKind::Empty, open)
            } else {
                (TagKind::Open, inside)
            };
            let name = inside
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or_default();
            if name.is_empty() {
                return Err(unterminated());
            }
            tags.push(Tag {
                kind,
                name,
                start,
                end,
            });
            at = end;
        }
    }
    Ok(tags)
}

/// The offset just past the `>` that closes the tag at the start of `rest` (quotes respected).
fn tag_end(rest: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in rest.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i + 1),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// An element's raw inner text and the tags inside it.
struct Element<'t, 'a> {
    text: &'a str,
    tags: &'t [Tag<'a>],
}

/// Each element named `local` among `tags`, outermost first (nesting respected).
fn elements<'t, 'a>(xml: &'a str, tags: &'t [Tag<'a>], local: &str) -> Vec<Element<'t, 'a>> {
    let mut found = Vec::new();
    let mut index = 0;
    while let Some(tag) = tags.get(index) {
        if local_name(tag.name) == local {
            match tag.kind {
                TagKind::Empty => found.push(Element {
                    text: "",
                    tags: &[],
                }),
                TagKind::Open => {
                    if let Some(close) = matching_close(tags, index) {
                        found.push(Element {
                            text: &xml[tag.end..tags[close].start],
                            tags: &tags[index + 1..close],
                        });
                        index = close;
                    }
                }
                TagKind::Close => {}
            }
        }
        index += 1;
    }
    found
}

fn matching_close(tags: &[Tag<'_>], open: usize) -> Option<usize> {
    let name = tags[open].name;
    let mut depth = 0usize;
    for (i, tag) in tags.iter().enumerate().skip(open + 1) {
        if tag.name != name {
            continue;
        }
        match tag.kind {
            TagKind::Open => depth += 1,
            TagKind::Close if depth == 0 => return Some(i),
            TagKind::Close => depth -= 1,
            TagKind::Empty => {}
        }
    }
    None
}

/// Character data with entities and CDATA sections resolved; child elements are an error.
fn xml_text(raw: &str) -> Result<String, AdapterError> {
    let mut text = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['<', '&']) {
        text.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(cdata) = rest.strip_prefix("<![CDATA[") {
            let end = cdata
                .find("]]>")
                .ok_or_else(|| invalid("unterminated CDATA".into()))?;
            text.push_str(&cdata[..end]);
            rest = &cdata[end + 3..];
        } else if rest.starts_with('<') {
            return Err(invalid(format!(
                "markup inside calendar-data: {}",
                excerpt(rest)
            )));
        } else {
            let end = rest
                .find(';')
                .ok_or_else(|| invalid("unterminated XML entity".into()))?;
            text.push(entity(&rest[1..end])?);
            rest = &rest[end + 1..];
        }
    }
    text.push_str(rest);
    Ok(text)
}

fn entity(name: &str) -> Result<char, AdapterError> {
    let code = match name {
        "lt" => return Ok('<'),
        "gt" => return Ok('>'),
        "amp" => return Ok('&'),
        "quot" => return Ok('"'),
        "apos" => return Ok('\''),
        _ => match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => name.strip_prefix('#').and_then(|dec| dec.parse().ok()),
        },
    };
    code.and_then(char::from_u32)
        .ok_or_else(|| invalid(format!("unknown XML entity &{name};")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn riyadh() -> Tz {
        chrono_tz::Asia::Riyadh
    }

    fn held(ics_event: &str) -> Vec<Occupancy> {
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n{ics_event}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        occupancies(&ics, riyadh()).expect("parses")
    }

    fn covered(held: &[Occupancy], from: NaiveDate, to: NaiveDate) -> Vec<u32> {
        rooms_taken(&nights(riyadh(), from, to), held, |_| true)
    }

    #[test]
    fn caldav_all_day_event_covers_its_nights_only() {
        let h = held("DTSTART;VALUE=DATE:20270310\r\nDTEND;VALUE=DATE:20270312\r\n");
        assert_eq!(
            covered(&h, date(2027, 3, 9), date(2027, 3, 13)),
            [0, 1, 1, 0]
        );
    }

    #[test]
    fn caldav_all_day_event_without_end_lasts_a_day() {
        let h = held("DTSTART;VALUE=DATE:20270310\r\n");
        assert_eq!(covered(&h, date(2027, 3, 9), date(2027, 3, 12)), [0, 1, 0]);
    }

    #[test]
    fn caldav_timed_events_cover_the_nights_they_overlap() {
        // 14:00 to 12:00 next day, Riyadh: the night of the 10th only.
        let tz = held(
            "DTSTART;TZID=Asia/Riyadh:20270310T140000\r\nDTEND;TZID=Asia/Riyadh:20270311T120000\r\n",
        );
        assert_eq!(covered(&tz, date(2027, 3, 9), date(2027, 3, 12)), [0, 1, 1]);
        // UTC 22:00 on the 10th is 01:00 on the 11th in Riyadh.
        let utc = held("DTSTART:20270310T220000Z\r\nDURATION:PT2H\r\n");
        assert_eq!(
            covered(&utc, date(2027, 3, 9), date(2027, 3, 12)),
            [0, 0, 1]
        );
        let floating = held("DTSTART:20270310T230000\r\nDURATION:PT30M\r\n");
        assert_eq!(
            covered(&floating, date(2027, 3, 9), date(2027, 3, 12)),
            [0, 1, 0]
        );
    }

    #[test]
    fn caldav_cancelled_and_transparent_events_hold_nothing() {
        assert!(held("DTSTART;VALUE=DATE:20270310\r\nSTATUS:CANCELLED\r\n").is_empty());
        assert!(held("DTSTART;VALUE=DATE:20270310\r\nTRANSP:TRANSPARENT\r\n").is_empty());
    }

    #[test]
    fn caldav_unexpanded_recurrence_holds_every_later_night() {
        let h = held(
            "DTSTART;VALUE=DATE:20270301\r\nDTEND;VALUE=DATE:20270302\r\nRRULE:FREQ=WEEKLY\r\n",
        );
        assert_eq!(
            covered(&h, date(2027, 2, 27), date(2027, 3, 3)),
            [0, 0, 1, 1]
        );
    }

    #[test]
    fn caldav_durations() {
        assert_eq!(parse_duration("P1D"), Some(TimeDelta::days(1)));
        assert_eq!(parse_duration("P2W"), Some(TimeDelta::days(14)));
        assert_eq!(
            parse_duration("P1DT2H30M"),
            Some(TimeDelta::minutes(26 * 60 + 30))
        );
        assert_eq!(parse_duration("-PT15M"), Some(TimeDelta::minutes(-15)));
        for bad in ["", "P", "1D", "PT", "P1H", "PT1D", "P1", "P1DX"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn caldav_dst_gap_midnight_is_the_first_existing_time() {
        // Santiago skipped 00:00 to 01:00 on 2022-09-11.
        let start = local_midnight(date(2022, 9, 11), chrono_tz::America::Santiago);
        assert_eq!(start.to_rfc3339(), "2022-09-11T04:00:00+00:00");
    }

    #[test]
    fn caldav_zone_names_with_prefixes() {
        assert_eq!(
            zone_named("/mozilla.org/20050126_1/Europe/Berlin"),
            Some(chrono_tz::Europe::Berlin)
        );
        assert_eq!(zone_named("Asia/Riyadh"), Some(riyadh()));
        assert_eq!(zone_named("Custom Zone"), None);
    }

    #[test]
    fn caldav_multistatus_any_prefix_entities_and_cdata() {
        let body = r#"<?xml version="1.0"?>
<!-- a comment -->
<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
 <d:response><d:href>/a.ics</d:href><d:propstat><d:prop>
  <cal:calendar-data>BEGIN:VCALENDAR&#13;
SUMMARY:R&amp;D &lt;x&gt;
END:VCALENDAR</cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/b.ics</d:href><d:propstat><d:prop>
  <cal:calendar-data><![CDATA[BEGIN:VCALENDAR
END:VCALENDAR]]></cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/gone.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
</d:multistatus>"#;
        let data = multistatus_calendar_data(body).expect("parses");
        assert_eq!(
            data,
            [
                "BEGIN:VCALENDAR\r\nSUMMARY:R&D <x>\nEND:VCALENDAR",
                "BEGIN:VCALENDAR\nEND:VCALENDAR"
            ]
        );
        assert!(
            multistatus_calendar_data(r#"<multistatus xmlns="DAV:"/>"#)
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn caldav_garbage_is_invalid_never_a_panic() {
        for body in [
            "",
            "<html><body>hello</body></html>",
            "<multistatus><response><status>HTTP/1.1 200 OK</status></response></multistatus>",
            "<multistatus><response><calendar-data>BEGIN:VCALENDAR &bogus; </calendar-data></response></multistatus>",
            "<multistatus><response",
            "<<<>>>",
        ] {
            assert!(
                matches!(
                    multistatus_calendar_data(body),
                    Err(AdapterError::InvalidResponse(_))
                ),
                "{body}"
            );
        }
        for ics in [
            "hello",
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        ] {
            assert!(
                matches!(
                    occupancies(ics, riyadh()),
                    Err(AdapterError::InvalidResponse(_))
                ),
                "{ics}"
            );
        }
    }

    #[test]
    fn caldav_booking_event_is_all_day_over_the_nights() {
        let request = BookingRequest {
            reference: "WS-ABC 1".into(),
            unit_code: "deluxe".into(),
            slot_ref: None,
            start: Utc::now(),
            end: Utc::now(),
            quantity: 2,
            guest_name: "Sara, Al-Harbi; Jr".into(),
            guest_phone: Some("+966500000000".into()),
            guest_email: None,
        };
        let room_type = CaldavRoomType {
            code: "deluxe".into(),
            calendar_path: "/hotel/deluxe/".into(),
            name_ar: "ديلوكس".into(),
            name_en: "Deluxe".into(),
            rooms: 3,
            max_guests: 2,
            nightly_price: Decimal::from(100),
        };
        let booking = Booking {
            request: &request,
            room_type: &room_type,
            check_in: date(2027, 3, 10),
            check_out: date(2027, 3, 12),
            nights: Vec::new(),
            events: our_events(&room_type, &request),
        };
        assert_eq!(booking.events[1].path, "/hotel/deluxe/WS-ABC%201-1.ics");
        assert_eq!(booking.events[1].uid, "WS-ABC 1-1@wasit");
        let ics = booking_calendar(&booking, &booking.events[1], 1);
        assert!(ics.contains("room 2 of 2"), "{ics}");
        let calendar = parse_calendar(&ics).expect("our own iCalendar parses");
        let event = calendar.events().next().expect("one event");
        assert_eq!(event.get_uid(), Some("WS-ABC 1-1@wasit"));
        assert_eq!(
            event.get_start(),
            Some(DatePerhapsTime::Date(date(2027, 3, 10)))
        );
        assert_eq!(
            event.get_end(),
            Some(DatePerhapsTime::Date(date(2027, 3, 12)))
        );
        assert!(ics.contains("DTSTART;VALUE=DATE:20270310"), "{ics}");
        assert!(ics.contains("STATUS:CONFIRMED"), "{ics}");
        let held = occupancies(&ics, riyadh()).expect("parses");
        assert_eq!(
            covered(&held, date(2027, 3, 9), date(2027, 3, 13)),
            [0, 1, 1, 0]
        );
    }
}
