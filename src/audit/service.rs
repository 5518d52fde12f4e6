//! Reading the audit log: filters and keyset pagination with an opaque cursor. No actix here.

#[cfg(test)]
use chrono::Utc;
use serde::Serialize;

use super::store::{self, AuditFilter, AuditPosition, AuditRow};
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;
use crate::http::cursor;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// The cursor a client passes back for the next page (see `http::cursor`).
pub fn encode_cursor(position: AuditPosition) -> String {
    cursor::encode(position.at, position.id)
}

pub fn decode_cursor(text: &str) -> Option<AuditPosition> {
    cursor::decode(text).map(|(at, id)| AuditPosition { at, id })
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
    fn audit_cursors_carry_the_position() {
        let position = AuditPosition {
            at: Utc::now(),
            id: 42,
        };
        let back = decode_cursor(&encode_cursor(position)).unwrap();
        assert_eq!(
            (back.id, back.at.timestamp_micros()),
            (42, position.at.timestamp_micros())
        );
        assert_eq!(decode_cursor("garbage"), None);
    }
}
