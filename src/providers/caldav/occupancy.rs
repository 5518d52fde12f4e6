//! What a hotel calendar says is taken: the iCalendar events a calendar-query returns, read as
//! intervals of instants, and counted night by night against a room type's rooms.
//!
//! The count is ours, not the server's: servers differ in how they place all-day and floating
//! events, and an event we cannot read fails the search rather than being skipped (a skipped
//! event could sell a taken room).
//!
//! Which nights an event takes:
//! - an all-day event (DTSTART is a date): the nights of its dates, DTEND's date excluded;
//! - a timed event (property-management systems write a stay as 14:00 to 12:00 the next day):
//!   every night whose stay window it overlaps, the window being the night's local check-in
//!   time (15:00) to the next morning's check-out time (11:00). A stay does not take the night
//!   of its check-out day; a late arrival still takes its night; a late check-out past 15:00
//!   takes the next night too (refusing a room is safe, selling a taken one is not);
//! - an instant (no DTEND nor DURATION): the night of its local date;
//! - a recurring event the server did not expand: every night from its first on.
//!
//! Cancelled and transparent events take nothing.

use std::str::FromStr;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, CalendarDateTime, Component, DatePerhapsTime, Event, EventStatus};

use super::{excerpt, invalid};
use crate::domain::{local_instant, local_midnight};
use crate::providers::adapter::AdapterError;

/// When a night's guest arrives and when they leave the next morning, local time.
const CHECK_IN: NaiveTime = NaiveTime::from_hms_opt(15, 0, 0).expect("15:00");
const CHECK_OUT: NaiveTime = NaiveTime::from_hms_opt(11, 0, 0).expect("11:00");

/// One night of a stay, as instants: its date (local midnight to the next) and its stay
/// window (check-in that afternoon to check-out the next morning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Night {
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
    check_in: DateTime<Utc>,
    check_out: DateTime<Utc>,
}

pub(super) fn nights(timezone: Tz, check_in: NaiveDate, check_out: NaiveDate) -> Vec<Night> {
    check_in
        .iter_days()
        .take_while(|day| *day < check_out)
        .map(|day| {
            let next = day.succ_opt().unwrap_or(day);
            Night {
                start: local_midnight(day, timezone),
                end: local_midnight(next, timezone),
                check_in: local_instant(timezone, day.and_time(CHECK_IN)),
                check_out: local_instant(timezone, next.and_time(CHECK_OUT)),
            }
        })
        .collect()
}

/// What one event holds: an interval of instants, or, for a recurring event the server did not
/// expand, everything from its first occurrence on (we cannot expand it: counting it on every
/// later night may refuse a free room, but never sells a taken one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Occupancy {
    pub(super) uid: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    recurring: bool,
    /// DTSTART is a date: the event's nights are its dates.
    all_day: bool,
}

impl Occupancy {
    fn covers(&self, night: &Night) -> bool {
        if self.recurring {
            night.end > self.start
        } else if self.end > self.start && self.all_day {
            self.start < night.end && self.end > night.start
        } else if self.end > self.start {
            self.start < night.check_out && self.end > night.check_in
        } else {
            // An instant (no DTEND nor DURATION) holds the night it falls in.
            night.start <= self.start && self.start < night.end
        }
    }
}

/// How many rooms each night holds, counting the occupancies `counted` keeps.
pub(super) fn rooms_taken(
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

/// The rooms held by the events of one calendar object.
pub(super) fn occupancies(ics: &str, timezone: Tz) -> Result<Vec<Occupancy>, AdapterError> {
    let calendar = parse_calendar(ics)?;
    calendar
        .events()
        .filter(|event| holds_a_room(event))
        .map(|event| occupancy(event, timezone))
        .collect()
}

pub(super) fn parse_calendar(ics: &str) -> Result<Calendar, AdapterError> {
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
        all_day: matches!(start_value, DatePerhapsTime::Date(_)),
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
        // UTC 22:00 on the 10th is 01:00 on the 11th in Riyadh: within the night of the 10th.
        let utc = held("DTSTART:20270310T220000Z\r\nDURATION:PT2H\r\n");
        assert_eq!(
            covered(&utc, date(2027, 3, 9), date(2027, 3, 12)),
            [0, 1, 0]
        );
        let floating = held("DTSTART:20270310T230000\r\nDURATION:PT30M\r\n");
        assert_eq!(
            covered(&floating, date(2027, 3, 9), date(2027, 3, 12)),
            [0, 1, 0]
        );
    }

    /// Issue #15: a timed stay as property-management systems write it (14:00 to 12:00 the
    /// next day) was counted on every local day it touched, so it also took the night of its
    /// check-out day and rooms looked sold out when they were free.
    #[test]
    fn a_timed_stay_does_not_block_its_check_out_night() {
        let stay = held(
            "DTSTART;TZID=Asia/Riyadh:20261204T140000\r\nDTEND;TZID=Asia/Riyadh:20261205T120000\r\n",
        );
        assert_eq!(
            covered(&stay, date(2026, 12, 3), date(2026, 12, 7)),
            [0, 1, 0, 0]
        );
        // The same stay in UTC (11:00Z is 14:00 in Riyadh), over two nights.
        let utc = held("DTSTART:20261204T110000Z\r\nDTEND:20261206T090000Z\r\n");
        assert_eq!(
            covered(&utc, date(2026, 12, 3), date(2026, 12, 7)),
            [0, 1, 1, 0]
        );
    }

    #[test]
    fn late_arrivals_take_their_night_and_late_check_outs_the_next() {
        let late_arrival = held(
            "DTSTART;TZID=Asia/Riyadh:20261204T230000\r\nDTEND;TZID=Asia/Riyadh:20261205T100000\r\n",
        );
        assert_eq!(
            covered(&late_arrival, date(2026, 12, 3), date(2026, 12, 6)),
            [0, 1, 0]
        );
        // Leaving at 16:00 the room is not free for a 15:00 arrival: the next night is taken too.
        let late_check_out = held(
            "DTSTART;TZID=Asia/Riyadh:20261204T140000\r\nDTEND;TZID=Asia/Riyadh:20261205T160000\r\n",
        );
        assert_eq!(
            covered(&late_check_out, date(2026, 12, 3), date(2026, 12, 6)),
            [0, 1, 1]
        );
        // A room used for an afternoon between guests takes no night.
        let day_use = held(
            "DTSTART;TZID=Asia/Riyadh:20261204T113000\r\nDTEND;TZID=Asia/Riyadh:20261204T143000\r\n",
        );
        assert_eq!(
            covered(&day_use, date(2026, 12, 3), date(2026, 12, 6)),
            [0, 0, 0]
        );
    }

    #[test]
    fn an_instant_takes_the_night_of_its_date() {
        let instant = held("DTSTART;TZID=Asia/Riyadh:20261204T120000\r\n");
        assert_eq!(
            covered(&instant, date(2026, 12, 3), date(2026, 12, 6)),
            [0, 1, 0]
        );
    }

    #[test]
    fn caldav_cancelled_and_transparent_events_hold_nothing() {
        assert!(held("DTSTART;VALUE=DATE:20270310\r\nSTATUS:CANCELLED\r\n").is_empty());
        assert!(held("DTSTART;VALUE=DATE:20270310\r\nTRANSP:TRANSPARENT\r\n").is_empty());
        let timed = "DTSTART;TZID=Asia/Riyadh:20261204T140000\r\nDTEND;TZID=Asia/Riyadh:20261205T120000\r\n";
        assert!(held(&format!("{timed}STATUS:CANCELLED\r\n")).is_empty());
        assert!(held(&format!("{timed}TRANSP:TRANSPARENT\r\n")).is_empty());
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
    fn an_unexpanded_timed_recurrence_holds_every_night_from_its_first() {
        let h = held(
            "DTSTART;TZID=Asia/Riyadh:20270301T140000\r\nDTEND;TZID=Asia/Riyadh:20270302T120000\r\nRRULE:FREQ=WEEKLY\r\n",
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
    fn caldav_unreadable_icalendar_is_invalid_never_a_panic() {
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
}
