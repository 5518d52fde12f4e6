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
//!
//! The adapter is here; `occupancy` reads what a calendar says is taken, `event` builds the
//! VEVENTs we write, `booking` is the write-then-check round, `dav` the HTTP client and
//! `multistatus` the XML of REPORT answers.

mod booking;
mod dav;
mod event;
mod multistatus;
mod occupancy;

use std::sync::Arc;

use chrono_tz::Tz;
use tokio::task::JoinSet;

use self::booking::{Attempt, BOOKING_ATTEMPTS, Booking, backoff};
use self::dav::Dav;
use self::event::our_events;
use self::occupancy::{nights, rooms_taken};
use super::adapter::AdapterError;
use super::model::{
    AvailabilityQuery, BookingRequest, CaldavRoomType, CaldavSettings, ProviderOffer, ProviderRef,
    StayQuery,
};
use crate::domain::local_midnight;
use crate::http::outbound::Outbound;

pub struct CaldavAdapter {
    pub settings: CaldavSettings,
    pub timezone: Tz,
    pub client: Outbound,
    /// The hotel's address, the LOCATION of the events we write (empty: none).
    pub location: String,
}

impl CaldavAdapter {
    pub fn new(settings: CaldavSettings, timezone: Tz, client: Outbound) -> Self {
        Self {
            settings,
            timezone,
            client,
            location: String::new(),
        }
    }

    /// The adapter writing `address` as its events' LOCATION.
    pub fn at(self, address: &str) -> Self {
        Self {
            location: address.to_owned(),
            ..self
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
            let Some(counts) = counts else { continue };
            if !over_capacity(&counts, stay.rooms, room_type.rooms) {
                // The fewest rooms free on any night of the stay.
                let busiest = counts.iter().copied().max().unwrap_or(0);
                let available = room_type.rooms.saturating_sub(busiest);
                offers.push(self.offer(room_type, stay, available)?);
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
        self.write_stay(request, None).await
    }

    /// A change's first step: the new stay's events go in beside the booking's current ones
    /// (which count as ours, not as someone else's rooms), under the reference
    /// `{reference}.{change_tag}` so their hrefs and UIDs are new.
    pub async fn claim_change(
        &self,
        request: &BookingRequest,
        change_tag: &str,
    ) -> Result<ProviderRef, AdapterError> {
        self.write_stay(&tagged(request, change_tag), Some(&request.reference))
            .await
    }

    /// A change whose claim got no answer: deletes whatever events it may have written.
    pub async fn abandon_unanswered_change(
        &self,
        request: &BookingRequest,
        change_tag: &str,
    ) -> Result<(), AdapterError> {
        self.release(&tagged(request, change_tag)).await
    }

    async fn write_stay(
        &self,
        request: &BookingRequest,
        replaces: Option<&str>,
    ) -> Result<ProviderRef, AdapterError> {
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
            replaces,
            location: &self.location,
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

    /// The booking's events, when every one is on the calendar under our UID: how a booking
    /// whose answer was lost learns whether it happened. One missing is no booking (a write
    /// cut short): `release` clears the rest.
    pub async fn find(
        &self,
        request: &BookingRequest,
    ) -> Result<Option<ProviderRef>, AdapterError> {
        let events = our_events(self.room_type(&request.unit_code)?, request);
        if events.is_empty() {
            return Ok(None);
        }
        let dav = self.dav();
        for event in &events {
            if !dav.holds_our_event(event).await? {
                return Ok(None);
            }
        }
        let paths: Vec<&str> = events.iter().map(|e| e.path.as_str()).collect();
        Ok(Some(ProviderRef(paths.join(" "))))
    }

    /// Deletes every event an attempt to book `request` may have written, each checked to be
    /// ours first (the href may be someone else's). Safe to repeat.
    pub async fn release(&self, request: &BookingRequest) -> Result<(), AdapterError> {
        let dav = self.dav();
        for event in our_events(self.room_type(&request.unit_code)?, request) {
            if dav.holds_our_event(&event).await? {
                dav.delete(&event.path).await?;
            }
        }
        Ok(())
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
        available: u32,
    ) -> Result<ProviderOffer, AdapterError> {
        // The hotel's nightly price a room, whoever stays in it.
        let (rooms, provider_price) = crate::providers::rates::room_lines(
            room_type.nightly_price,
            None,
            &stay.occupancy,
            stay.nights(),
        );
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
            rooms,
            available: Some(available),
        })
    }
}

/// A change's writes go under `{reference}.{change_tag}`, so their hrefs and UIDs are new.
fn tagged(request: &BookingRequest, change_tag: &str) -> BookingRequest {
    BookingRequest {
        reference: format!("{}.{change_tag}", request.reference),
        ..request.clone()
    }
}

/// Enough rooms of the type, and enough beds across the rooms asked for.
/// Enough rooms of the type, each taking its own guests.
fn fits(room_type: &CaldavRoomType, stay: &StayQuery) -> bool {
    room_type.rooms >= stay.rooms && room_type.max_guests >= stay.occupancy.fullest_room()
}

fn over_capacity(taken: &[u32], adding: u32, rooms: u32) -> bool {
    taken
        .iter()
        .any(|&n| u64::from(n) + u64::from(adding) > u64::from(rooms))
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
