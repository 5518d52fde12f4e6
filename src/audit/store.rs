//! Diesel queries for the audit log.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::AuditEntry;
use crate::auth::Role;
use crate::schema::audit_log;

/// An entry as stored, and as admins read it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditRow {
    pub id: i64,
    pub actor_id: Uuid,
    pub actor_role: Role,
    pub on_behalf_of: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditRow<'a> {
    pub actor_id: Uuid,
    pub actor_role: Role,
    pub on_behalf_of: Option<Uuid>,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub request_id: Option<&'a str>,
    pub details: &'a serde_json::Value,
}

impl<'a> From<&'a AuditEntry<'a>> for NewAuditRow<'a> {
    fn from(entry: &'a AuditEntry<'a>) -> Self {
        Self {
            actor_id: entry.actor_id,
            actor_role: entry.actor_role,
            on_behalf_of: entry.on_behalf_of,
            action: entry.action,
            entity_type: entry.entity_type,
            entity_id: &entry.entity_id,
            request_id: entry.request_id.as_deref(),
            details: &entry.details,
        }
    }
}

pub fn insert_entry(conn: &mut PgConnection, new: &NewAuditRow<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(new)
        .execute(conn)
        .map(|_| ())
}

/// Which entries to list; `None` matches everything.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub on_behalf_of: Option<Uuid>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
}

/// Where the previous page ended: the last entry it showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPosition {
    pub at: DateTime<Utc>,
    pub id: i64,
}

/// Up to `limit` entries newest first (`at`, then `id`, both descending: a total order, so
/// entries written in one transaction, which share `at`, are neither skipped nor repeated),
/// strictly after `after` in that order.
pub fn list_entries(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    after: Option<AuditPosition>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    let mut query = audit_log::table.select(AuditRow::as_select()).into_boxed();
    if let Some(actor_id) = filter.actor_id {
        query = query.filter(audit_log::actor_id.eq(actor_id));
    }
    if let Some(customer_id) = filter.on_behalf_of {
        query = query.filter(audit_log::on_behalf_of.eq(customer_id));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(entity_type) = &filter.entity_type {
        query = query.filter(audit_log::entity_type.eq(entity_type.clone()));
    }
    if let Some(entity_id) = &filter.entity_id {
        query = query.filter(audit_log::entity_id.eq(entity_id.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::at.ge(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_log::at.lt(until));
    }
    if let Some(after) = after {
        query = query.filter(
            audit_log::at
                .lt(after.at)
                .or(audit_log::at.eq(after.at).and(audit_log::id.lt(after.id))),
        );
    }
    query
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .load(conn)
}
