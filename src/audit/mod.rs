//! Who did what, on whose behalf: every write by office staff leaves an `audit_log` row,
//! written in the same transaction as the change it records (so there is never a change
//! without its entry, nor an entry for a change that rolled back). Admins read it through
//! `GET /v1/audit`.

pub mod routes;
pub mod service;
pub mod store;

use diesel::PgConnection;
use uuid::Uuid;

use crate::auth::Role;
use crate::error::ApiError;

/// One thing a staff member did.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// The user who acted (an agent or admin).
    pub actor_id: Uuid,
    /// Their role at the time: roles change, the record should not.
    pub actor_role: Role,
    /// The customer the action was taken for, if any.
    pub on_behalf_of: Option<Uuid>,
    /// What was done, `<entity>.<verb>`: `customer.create`, `booking.create`, `booking.cancel`.
    pub action: &'a str,
    /// `customer`, `booking`, `provider`…
    pub entity_type: &'a str,
    pub entity_id: String,
    /// The request that did it (`x-request-id`), to find its log lines.
    pub request_id: Option<String>,
    /// Whatever else explains the action (a reason, the fields set); `{}` when nothing.
    pub details: serde_json::Value,
}

/// Writes `entry`. Call it inside the transaction that makes the change it records.
pub fn record(conn: &mut PgConnection, entry: &AuditEntry<'_>) -> Result<(), ApiError> {
    store::insert_entry(conn, &store::NewAuditRow::from(entry))?;
    Ok(())
}
