//! The `booking_changes` table: a change's claim while it runs (at most one open per booking,
//! a unique index), then its record (applied or failed), with the new terms it applies.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::state::BookingStatus;
use crate::schema::booking_changes;

/// A change claimed longer ago than this without an outcome belongs to a request that died;
/// the next change of the booking takes it over (marks it failed, gives back its claim).
pub const ABANDONED_AFTER_MINUTES: i64 = 30;

/// What the booking becomes when the change is applied: the signed offer's terms, priced
/// for the booking's customer, with the money the change moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    pub unit_id: Option<Uuid>,
    pub unit_code: String,
    pub unit_name_ar: String,
    pub unit_name_en: String,
    pub slot_ref: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub quantity: i32,
    pub guests: Option<i32>,
    #[serde(with = "rust_decimal::serde::str")]
    pub provider_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub service_fee: Decimal,
    /// Off our fee by the customer's plan (terms decided before it was kept read as none).
    #[serde(default, with = "rust_decimal::serde::str")]
    pub fee_discount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub vat: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// Local inventory cells the new terms span (0 at an outside provider).
    pub cells: usize,
    /// A stay's rooms with their guests (none for an appointment); lead guests carry over.
    #[serde(default)]
    pub rooms: Vec<crate::domain::occupancy::RoomGuests>,
    /// The booking's status when the change was decided; applied only in the same status.
    pub status: BookingStatus,
    /// Given back when the change is applied (the price fell), with VAT.
    #[serde(with = "rust_decimal::serde::str")]
    pub refund: Decimal,
    /// The booking's copy at its outside provider before the change.
    pub previous_ref: Option<String>,
    pub reason: Option<String>,
}

/// Why a claimed change could not be applied (nothing of it is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchangeable {
    /// Our own cells for the new terms went meanwhile.
    SoldOut,
    /// The booking ended or moved to another status.
    MovedOn,
    /// The change was closed already (applied, or failed).
    Closed,
}

impl Unchangeable {
    /// What the change row's `failure` and the refund's reason say.
    pub fn reason(self) -> &'static str {
        match self {
            Self::SoldOut => "the new dates or room are sold out",
            Self::MovedOn => "the booking moved on meanwhile",
            Self::Closed => "the change is closed already",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = booking_changes, check_for_backend(diesel::pg::Pg))]
pub struct ChangeRow {
    pub id: Uuid,
    pub booking_id: Uuid,
    pub status: String,
    pub decided_on: DateTime<Utc>,
    pub terms: serde_json::Value,
    pub provider_ref: Option<String>,
    pub change_fee: Decimal,
    pub difference: Decimal,
    pub requested_by: Option<Uuid>,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ChangeRow {
    pub fn terms(&self) -> QueryResult<Terms> {
        serde_json::from_value(self.terms.clone())
            .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))
    }

    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    /// A short tag that tells this change's writes at a provider apart from the booking's
    /// earlier ones.
    pub fn tag(&self) -> String {
        self.id.simple().to_string()[..8].to_owned()
    }
}

pub struct NewChange<'a> {
    pub booking_id: Uuid,
    pub decided_on: DateTime<Utc>,
    pub terms: &'a Terms,
    pub change_fee: Decimal,
    pub difference: Decimal,
    pub requested_by: Option<Uuid>,
}

/// Claims the booking for a change (the caller holds the booking's row lock). A claim left by
/// a request that died is failed first; a live one answers 409 `booking.change_in_progress`
/// through the unique index.
pub fn open(
    conn: &mut PgConnection,
    new: &NewChange<'_>,
) -> QueryResult<(ChangeRow, Vec<ChangeRow>)> {
    let abandoned: Vec<ChangeRow> = diesel::update(
        booking_changes::table
            .filter(booking_changes::booking_id.eq(new.booking_id))
            .filter(booking_changes::status.eq("open"))
            .filter(
                booking_changes::created_at
                    .lt(Utc::now() - chrono::Duration::minutes(ABANDONED_AFTER_MINUTES)),
            ),
    )
    .set((
        booking_changes::status.eq("failed"),
        booking_changes::failure.eq("abandoned: no outcome in time"),
    ))
    .returning(ChangeRow::as_returning())
    .get_results(conn)?;
    let row = diesel::insert_into(booking_changes::table)
        .values((
            booking_changes::booking_id.eq(new.booking_id),
            booking_changes::status.eq("open"),
            booking_changes::decided_on.eq(new.decided_on),
            booking_changes::terms.eq(serde_json::to_value(new.terms).unwrap_or_default()),
            booking_changes::change_fee.eq(new.change_fee),
            booking_changes::difference.eq(new.difference),
            booking_changes::requested_by.eq(new.requested_by),
        ))
        .returning(ChangeRow::as_returning())
        .get_result(conn)?;
    Ok((row, abandoned))
}

/// The change, locked (after its booking, as everywhere).
pub fn lock(conn: &mut PgConnection, id: Uuid) -> QueryResult<ChangeRow> {
    booking_changes::table
        .find(id)
        .for_no_key_update()
        .select(ChangeRow::as_select())
        .first(conn)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<ChangeRow> {
    booking_changes::table
        .find(id)
        .select(ChangeRow::as_select())
        .first(conn)
}

/// What the outside provider claimed for the change.
pub fn set_provider_ref(conn: &mut PgConnection, id: Uuid, provider_ref: &str) -> QueryResult<()> {
    diesel::update(booking_changes::table.find(id))
        .set(booking_changes::provider_ref.eq(provider_ref))
        .execute(conn)
        .map(|_| ())
}

/// Closes an open change: `applied`, or `failed` with why. `false` when it was not open.
pub fn close(conn: &mut PgConnection, id: Uuid, outcome: Result<(), &str>) -> QueryResult<bool> {
    let (status, failure) = match outcome {
        Ok(()) => ("applied", None),
        Err(why) => ("failed", Some(why)),
    };
    diesel::update(
        booking_changes::table
            .find(id)
            .filter(booking_changes::status.eq("open")),
    )
    .set((
        booking_changes::status.eq(status),
        booking_changes::failure.eq(failure),
    ))
    .execute(conn)
    .map(|n| n == 1)
}
