//! A booking as the customer's calendar entry: the same event whether it is attached to the
//! confirmation email or fetched from the booking page (`GET /v1/bookings/{id}/calendar.ics`).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

use super::text::one_line;
use super::time::local_instant;

/// When a booking happens, as a calendar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// An appointment, or a stay from its check-in time to its check-out time.
    Timed(DateTime<Utc>, DateTime<Utc>),
    /// A stay whose hotel gave no check-in and check-out times: all-day, check-in to check-out.
    Days(NaiveDate, NaiveDate),
}

impl Span {
    /// A hotel stay runs from the check-in time of its first day to the check-out time of
    /// its last (stored instants are the days' local midnights, never the time to show); an
    /// appointment is its own start and end.
    pub fn of_booking(
        hotel: bool,
        timezone: Tz,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        (check_in, check_out): (Option<NaiveTime>, Option<NaiveTime>),
    ) -> Self {
        if !hotel {
            return Self::Timed(start, end);
        }
        let (first, last) = (
            start.with_timezone(&timezone).date_naive(),
            end.with_timezone(&timezone).date_naive(),
        );
        match (check_in, check_out) {
            (Some(check_in), Some(check_out)) => Self::Timed(
                local_instant(timezone, first.and_time(check_in)),
                local_instant(timezone, last.and_time(check_out)),
            ),
            _ => Self::Days(first, last),
        }
    }
}

/// What the entry says: `title` and `location` are one line each (names stored before the
/// text rules may hold a CR, which the writer does not escape).
pub struct Entry<'a> {
    pub reference: &'a str,
    pub title: &'a str,
    /// The provider's address (empty: none).
    pub location: &'a str,
    pub span: Span,
    /// `false` for a booking not (or no longer) confirmed: a tentative or cancelled entry.
    pub confirmed: Option<bool>,
}

/// The entry as an iCalendar document (UID stable per booking, so a second import updates it).
pub fn booking_entry(entry: &Entry<'_>) -> String {
    let mut event = Event::new();
    event
        .uid(&format!("{}@wasit", entry.reference))
        .summary(&format!("{} ({})", one_line(entry.title), entry.reference))
        .status(match entry.confirmed {
            Some(true) => EventStatus::Confirmed,
            Some(false) => EventStatus::Cancelled,
            None => EventStatus::Tentative,
        });
    if !entry.location.is_empty() {
        event.location(&one_line(entry.location));
    }
    match entry.span {
        Span::Timed(start, end) => event.starts(start).ends(end),
        Span::Days(first, last) => event.starts(first).ends(last),
    };
    Calendar::new().push(event.done()).done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use icalendar::DatePerhapsTime;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    #[test]
    fn a_stay_runs_from_check_in_to_check_out_time_in_the_hotels_zone() {
        let riyadh = chrono_tz::Asia::Riyadh;
        let stay = (
            "2026-12-05T21:00:00Z".parse().unwrap(),
            "2026-12-07T21:00:00Z".parse().unwrap(),
        );
        let times = (
            NaiveTime::from_hms_opt(15, 0, 0),
            NaiveTime::from_hms_opt(12, 0, 0),
        );
        let Span::Timed(start, end) = Span::of_booking(true, riyadh, stay, times) else {
            panic!("a stay with times is timed");
        };
        assert_eq!(start.to_rfc3339(), "2026-12-06T12:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-08T09:00:00+00:00");
        assert_eq!(
            Span::of_booking(true, riyadh, stay, (None, None)),
            Span::Days(day(6), day(8))
        );
        assert_eq!(
            Span::of_booking(false, riyadh, stay, times),
            Span::Timed(stay.0, stay.1)
        );
    }

    #[test]
    fn the_entry_names_the_booking_and_its_address() {
        let ics = booking_entry(&Entry {
            reference: "WS-7K3F9Q",
            title: "Olaya Suites\r\nX-EVIL:1",
            location: "Olaya Road, Riyadh",
            span: Span::Days(day(6), day(8)),
            confirmed: Some(true),
        });
        let parsed: Calendar = ics.parse().unwrap();
        let event = parsed.components.iter().find_map(|c| c.as_event()).unwrap();
        assert_eq!(event.get_uid(), Some("WS-7K3F9Q@wasit"));
        assert_eq!(event.get_location(), Some("Olaya Road, Riyadh"));
        assert_eq!(event.get_start(), Some(DatePerhapsTime::Date(day(6))));
        assert!(!ics.contains("\r\nX-EVIL"), "{ics}");
    }
}
