//! Keyset-pagination cursors: base64url of `<timestamp>|<id>` of the last row a page showed.
//! Opaque to clients; holding only the position in the order, a page never repeats or skips
//! a row however many are written meanwhile.

use std::fmt::Display;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds: what PostgreSQL keeps, so the position compares exactly.
pub fn encode(at: DateTime<Utc>, id: impl Display) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{id}",
        at.to_rfc3339_opts(SecondsFormat::Micros, true)
    ))
}

/// `None` for anything this API did not hand out.
pub fn decode<T: FromStr>(cursor: &str) -> Option<(DateTime<Utc>, T)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (at, id) = text.split_once('|')?;
    Some((
        DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
        id.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_microsecond_and_stay_opaque() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T09:15:02.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let cursor = encode(at, 42);
        assert!(!cursor.contains('|'), "{cursor}");
        assert_eq!(decode::<i64>(&cursor), Some((at, 42)));
        let id = uuid::Uuid::new_v4();
        assert_eq!(decode::<uuid::Uuid>(&encode(at, id)), Some((at, id)));
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for cursor in [
            "",
            "!!!",
            "bm90aGluZw",
            &URL_SAFE_NO_PAD.encode("yesterday|1"),
        ] {
            assert_eq!(decode::<i64>(cursor), None, "{cursor}");
        }
        assert_eq!(
            decode::<i64>(&URL_SAFE_NO_PAD.encode("2026-11-28T09:15:02Z|x")),
            None
        );
    }
}
