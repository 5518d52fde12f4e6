//! The VEVENTs we write: one all-day event per booked room, at a path and with a UID derived
//! from our booking reference, so a retry finds its own events instead of adding more.

use chrono::Utc;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

use super::booking::Booking;
use crate::domain::text::one_line;
use crate::providers::model::{BookingRequest, CaldavRoomType};

const PRODID: &str = "-//wasit//booking broker//EN";

/// One of the events a booking writes: where, and the UID that proves it is ours.
#[derive(Debug)]
pub(super) struct OurEvent {
    pub(super) path: String,
    pub(super) uid: String,
}

pub(super) fn our_events(room_type: &CaldavRoomType, request: &BookingRequest) -> Vec<OurEvent> {
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
pub(super) fn booking_calendar(booking: &Booking<'_>, event: &OurEvent, index: usize) -> String {
    let (request, rooms) = (booking.request, booking.events.len());
    let room = if rooms > 1 {
        format!(", room {} of {rooms}", index + 1)
    } else {
        String::new()
    };
    // The iCalendar writer escapes line feeds but not carriage returns: a bare CR in a
    // TEXT value would start a property of the guest's choosing. Each value is one clean line.
    // Each room under its own lead guest, with who stays in it, when the booking says.
    let this_room = request.rooms.get(index);
    let guest = this_room.map_or(request.guest_name.as_str(), |r| r.lead_guest.as_str());
    let staying = this_room.map(|r| match r.children.as_slice() {
        [] => format!("Guests: {} adults", r.adults),
        ages => format!(
            "Guests: {} adults, children aged {}",
            r.adults,
            ages.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    let contact: Vec<String> = [
        staying,
        (guest != request.guest_name)
            .then(|| format!("Booked by: {}", one_line(&request.guest_name))),
        request
            .guest_phone
            .as_ref()
            .map(|phone| format!("Phone: {}", one_line(phone))),
        request
            .guest_email
            .as_ref()
            .map(|email| format!("Email: {}", one_line(email))),
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
            one_line(guest),
            request.reference
        ))
        .status(EventStatus::Confirmed)
        .add_property("TRANSP", "OPAQUE");
    if !contact.is_empty() {
        vevent.description(&contact.join("\n"));
    }
    if !booking.location.is_empty() {
        vevent.location(&one_line(booking.location));
    }
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", PRODID))
        .append_property(("CALSCALE", "GREGORIAN"))
        .push(vevent.done());
    calendar.to_string()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use icalendar::DatePerhapsTime;
    use rust_decimal::Decimal;

    use super::*;
    use crate::providers::caldav::occupancy::{nights, occupancies, parse_calendar, rooms_taken};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
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
            patient: None,
            rooms: Vec::new(),
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
            replaces: None,
            location: "Corniche Road, Ash Shati, Jeddah 23414",
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
        assert_eq!(
            event.get_location(),
            Some("Corniche Road, Ash Shati, Jeddah 23414")
        );
        let riyadh = chrono_tz::Asia::Riyadh;
        let held = occupancies(&ics, riyadh).expect("parses");
        let nights = nights(riyadh, date(2027, 3, 9), date(2027, 3, 13));
        assert_eq!(rooms_taken(&nights, &held, |_| true), [0, 1, 1, 0]);
    }

    /// Issue #14, point 9: the writer escapes LF but writes a bare CR raw, which ends a
    /// content line for a parser that reads CR as a line break: the guest's own properties.
    #[test]
    fn a_bare_cr_in_a_guest_name_writes_no_line_of_its_own() {
        let request = BookingRequest {
            reference: "WS-CR0001".into(),
            unit_code: "std".into(),
            slot_ref: None,
            start: Utc::now(),
            end: Utc::now(),
            quantity: 1,
            guest_name: "Eve\rX-INJECTED:yes\rEND:VEVENT\rBEGIN:VEVENT\rUID:ghost".into(),
            guest_phone: Some("+966500000000\rX-PHONE:1".into()),
            guest_email: None,
            patient: None,
            rooms: Vec::new(),
        };
        let room_type = CaldavRoomType {
            code: "std".into(),
            calendar_path: "/hotel/std/".into(),
            name_ar: "غرفة".into(),
            name_en: "Standard".into(),
            rooms: 1,
            max_guests: 2,
            nightly_price: Decimal::from(100),
        };
        let booking = Booking {
            request: &request,
            room_type: &room_type,
            check_in: date(2027, 3, 10),
            check_out: date(2027, 3, 11),
            nights: Vec::new(),
            events: our_events(&room_type, &request),
            replaces: None,
            location: "",
        };
        let ics = booking_calendar(&booking, &booking.events[0], 0);
        let lines: Vec<&str> = ics.split(['\r', '\n']).filter(|l| !l.is_empty()).collect();
        assert_eq!(
            ics.matches('\r').count(),
            ics.matches("\r\n").count(),
            "{ics:?}"
        );
        for injected in ["X-INJECTED", "X-PHONE", "UID:ghost"] {
            assert!(!lines.iter().any(|l| l.starts_with(injected)), "{ics:?}");
        }
        assert_eq!(lines.iter().filter(|l| **l == "BEGIN:VEVENT").count(), 1);
        assert!(
            ics.contains(
                "SUMMARY:Eve X-INJECTED:yes END:VEVENT BEGIN:VEVENT UID:ghost (WS-CR0001)"
            ),
            "{ics:?}"
        );
    }
}
