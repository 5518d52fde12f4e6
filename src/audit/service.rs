//! Reading the audit log: filters and keyset pagination with an opaque cursor. No actix here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::store::{self, AuditFilter, AuditPosition, AuditRow};
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// The office's calendar: `from`/`to` dates in a query mean days in Riyadh.
pub const OFFICE_TIMEZONE: Tz = chrono_tz::Asia::Riyadh;

/// The first instant of an office day.
pub fn office_day_start(date: NaiveDate) -> DateTime<Utc> {
    OFFICE_TIMEZONE
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|start| start.with_timezone(&Utc))
        .unwrap_or_else(|| date.and_time(NaiveTime::MIN).and_utc())
}

/// The cursor a client passes back for the next page: base64url of `<at>|<id>` of the last
/// entry shown. Opaque to clients; only the position in the order is in it, so a page
/// never repeats or skips an entry however many are written meanwhile.
pub fn encode_cursor(position: AuditPosition) -> String {
    let at = position.at.to_rfc3339_opts(SecondsFormat::Micros, true);
    URL_SAFE_NO_PAD.encode(format!("{at}|{}", position.id))
}

pub fn decode_cursor(cursor: &str) -> Option<AuditPosition> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (at, id) = text.split_once('|')?;
    Some(AuditPosition {
        at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
        id: id.parse().ok()?,
    })
}

#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    pub after: Option<AuditPosition>,
    /// 1 to [`MAX_PAGE_SIZE`].
    pub limit: i64,
}

#[derive(Debug, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditRow>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

pub async fn list_entries(pool: &PgPool, query: AuditQuery) -> Result<AuditPage, ApiError> {
    let limit = query.limit.clamp(1, MAX_PAGE_SIZE);
    run_blocking(pool, move |conn| {
        // One more than asked says whether another page exists.
        let mut entries = store::list_entries(conn, &query.filter, query.after, limit + 1)?;
        let more = entries.len() as i64 > limit;
        entries.truncate(limit as usize);
        let next_cursor = more.then(|| entries.last()).flatten().map(|last| {
            encode_cursor(AuditPosition {
                at: last.at,
                id: last.id,
            })
        });
        Ok(AuditPage {
            entries,
            next_cursor,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_microsecond() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T09:15:02.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let position = AuditPosition { at, id: 42 };
        let cursor = encode_cursor(position);
        assert!(!cursor.contains('|'), "opaque: {cursor}");
        assert_eq!(decode_cursor(&cursor), Some(position));
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for cursor in [
            "",
            "!!!",
            "bm90aGluZw",
            &URL_SAFE_NO_PAD.encode("yesterday|1"),
        ] {
            assert_eq!(decode_cursor(cursor), None, "{cursor}");
        }
        let no_id = URL_SAFE_NO_PAD.encode("2026-11-28T09:15:02Z|x");
        assert_eq!(decode_cursor(&no_id), None);
    }

    #[test]
    fn office_days_start_at_riyadh_midnight() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(
            office_day_start(date).to_rfc3339(),
            "2026-11-27T21:00:00+00:00"
        );
    }
}
