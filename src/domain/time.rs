//! Local days as instants: where a provider's night, or an office day, begins.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The office's calendar: dates in queries (`from`, `to`) are days in Riyadh.
pub const OFFICE_TIMEZONE: Tz = chrono_tz::Asia::Riyadh;

/// The instant a local date and time happens in `timezone`. A time a DST change skips
/// (some zones jump from 00:00 to 01:00) becomes the first local time after it that exists.
pub fn local_instant(timezone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match timezone.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        LocalResult::None => (1..=4)
            .filter_map(|hours| local.checked_add_signed(Duration::hours(hours)))
            .find_map(|later| timezone.from_local_datetime(&later).earliest())
            .map_or_else(
                || Utc.from_utc_datetime(&local),
                |at| at.with_timezone(&Utc),
            ),
    }
}

/// The instant a local date begins in `timezone` (Saudi time has no DST; providers abroad might).
pub fn local_midnight(date: NaiveDate, timezone: Tz) -> DateTime<Utc> {
    local_instant(timezone, date.and_time(NaiveTime::MIN))
}

/// The first instant of an office day.
pub fn office_day_start(date: NaiveDate) -> DateTime<Utc> {
    local_midnight(date, OFFICE_TIMEZONE)
}

/// A local time of day as people write it, `HH:MM` (24 hours).
pub fn parse_hh_mm(raw: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").ok()
}

/// Serializes a local time of day as `HH:MM`, or null.
pub fn hh_mm<S: serde::Serializer>(at: &Option<NaiveTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&at.format("%H:%M").to_string()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_read_and_write_as_hh_mm() {
        let at = parse_hh_mm(" 15:30 ").unwrap();
        assert_eq!(at, NaiveTime::from_hms_opt(15, 30, 0).unwrap());
        assert!(parse_hh_mm("25:00").is_none() && parse_hh_mm("3pm").is_none());
        let json = serde_json::to_value(Clock(Some(at))).unwrap();
        assert_eq!(json, "15:30");
    }

    #[derive(serde::Serialize)]
    struct Clock(#[serde(serialize_with = "hh_mm")] Option<NaiveTime>);

    #[test]
    fn local_midnight_in_riyadh_is_21_utc_the_day_before() {
        let at = office_day_start(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(at.to_rfc3339(), "2026-11-30T21:00:00+00:00");
    }

    #[test]
    fn local_midnight_survives_a_dst_gap() {
        // Santiago skips 00:00-01:00 on its spring-forward day.
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        let at = local_midnight(day, chrono_tz::America::Santiago);
        assert!(at > local_midnight(day.pred_opt().unwrap(), chrono_tz::America::Santiago));
    }
}
