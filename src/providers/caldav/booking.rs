//! Booking rooms where nothing is atomic: one write-then-check round per attempt (see
//! [`CaldavAdapter::book`](super::CaldavAdapter::book)), retried after a random pause when
//! racers collide.

use std::time::Duration;

use chrono::NaiveDate;

use super::dav::{Created, Dav};
use super::event::{OurEvent, booking_calendar};
use super::occupancy::{Night, Occupancy, rooms_taken};
use super::{invalid, over_capacity};
use crate::providers::adapter::AdapterError;
use crate::providers::model::{BookingRequest, CaldavRoomType};

/// Write-then-check rounds before a booking that keeps colliding gives up as sold out.
pub(super) const BOOKING_ATTEMPTS: u32 = 4;

/// A random pause before attempt `attempt + 1`, its window doubling each time, so that
/// racers who collided come back one after another.
pub(super) fn backoff(attempt: u32) -> Duration {
    let window_ms = 50u128 << attempt.min(6);
    let random = uuid::Uuid::new_v4().as_u128() % window_ms;
    Duration::from_millis(10 + u64::try_from(random).unwrap_or(0))
}

/// One booking as the attempts see it: where, which nights, and the events it writes.
pub(super) struct Booking<'a> {
    pub(super) request: &'a BookingRequest,
    pub(super) room_type: &'a CaldavRoomType,
    pub(super) check_in: NaiveDate,
    pub(super) check_out: NaiveDate,
    pub(super) nights: Vec<Night>,
    pub(super) events: Vec<OurEvent>,
    /// For a change: the reference of the booking whose current events these replace. Its
    /// rooms are ours while the new events go in (they are deleted once the change is made).
    pub(super) replaces: Option<&'a str>,
    /// The hotel's address for the events' LOCATION (empty: none).
    pub(super) location: &'a str,
}

impl Booking<'_> {
    fn is_new(&self, held: &Occupancy) -> bool {
        held.uid
            .as_deref()
            .is_some_and(|uid| self.events.iter().any(|event| event.uid == uid))
    }

    /// One of the events a change replaces (the booking's, not written by this attempt).
    fn is_replaced(&self, held: &Occupancy) -> bool {
        let (Some(base), Some(uid)) = (self.replaces, held.uid.as_deref()) else {
            return false;
        };
        !self.is_new(held)
            && uid.ends_with("@wasit")
            && (uid.starts_with(&format!("{base}-")) || uid.starts_with(&format!("{base}.")))
    }

    fn is_ours(&self, held: &Occupancy) -> bool {
        self.is_new(held) || self.is_replaced(held)
    }
}

pub(super) enum Attempt {
    Booked,
    /// Over capacity once our events were in: they are deleted again.
    Collided,
}

// The round is booking logic, not DAV: it lives here, beside the booking it checks.
impl Dav {
    /// One write-then-check round (see [`CaldavAdapter::book`](super::CaldavAdapter::book)).
    /// Over capacity before writing is `SoldOut`; over capacity after writing is a collision,
    /// and this booking's events are deleted, any left by an earlier unanswered call included
    /// (its caller never learnt of it).
    pub(super) async fn attempt(&self, booking: &Booking<'_>) -> Result<Attempt, AdapterError> {
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
                    // Everything but what this change replaces, which goes once it is made.
                    Ok(rooms_taken(&booking.nights, &held, |h| {
                        !booking.is_replaced(h)
                    }))
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
}
