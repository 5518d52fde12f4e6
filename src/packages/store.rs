//! The diesel queries of packages: the package row, its parts (links to its bookings), and
//! the saga's log of steps.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::bookings::store::BookingRow;
use crate::schema::{bookings, package_parts, package_steps, packages};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = packages, check_for_backend(diesel::pg::Pg))]
pub struct PackageRow {
    pub id: Uuid,
    pub reference: String,
    pub customer_id: Uuid,
    pub created_by: Option<Uuid>,
    pub phase: String,
    pub flagged_at: Option<DateTime<Utc>>,
    pub flag_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which part of a package a booking is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Appointment,
    Stay,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appointment => "appointment",
            Self::Stay => "stay",
        }
    }
}

/// A package written once its first part is held (`holding`).
pub fn insert(
    conn: &mut PgConnection,
    reference: &str,
    customer_id: Uuid,
    created_by: Option<Uuid>,
) -> QueryResult<PackageRow> {
    diesel::insert_into(packages::table)
        .values((
            packages::reference.eq(reference),
            packages::customer_id.eq(customer_id),
            packages::created_by.eq(created_by),
        ))
        .returning(PackageRow::as_returning())
        .get_result(conn)
}

pub fn link(
    conn: &mut PgConnection,
    package_id: Uuid,
    part: Part,
    booking_id: Uuid,
) -> QueryResult<()> {
    diesel::insert_into(package_parts::table)
        .values((
            package_parts::package_id.eq(package_id),
            package_parts::part.eq(part.as_str()),
            package_parts::booking_id.eq(booking_id),
        ))
        .execute(conn)
        .map(drop)
}

pub fn set_phase(conn: &mut PgConnection, package_id: Uuid, phase: &str) -> QueryResult<()> {
    diesel::update(packages::table.find(package_id))
        .set(packages::phase.eq(phase))
        .execute(conn)
        .map(drop)
}

/// Flags the package for an agent, once (`false` when it was flagged already).
pub fn flag(conn: &mut PgConnection, package_id: Uuid, reason: &str) -> QueryResult<bool> {
    diesel::update(packages::table.find(package_id))
        .filter(packages::flagged_at.is_null())
        .set((
            packages::flagged_at.eq(Some(Utc::now())),
            packages::flag_reason.eq(Some(reason)),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// One step of the saga, in the transaction that made it.
pub fn log_step(
    conn: &mut PgConnection,
    package_id: Uuid,
    step: &str,
    outcome: &str,
    detail: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(package_steps::table)
        .values((
            package_steps::package_id.eq(package_id),
            package_steps::step.eq(step),
            package_steps::outcome.eq(outcome),
            package_steps::detail.eq(detail),
        ))
        .execute(conn)
        .map(drop)
}

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct StepView {
    pub step: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

pub fn steps(conn: &mut PgConnection, package_id: Uuid) -> QueryResult<Vec<StepView>> {
    package_steps::table
        .filter(package_steps::package_id.eq(package_id))
        .order(package_steps::id)
        .select((
            package_steps::step,
            package_steps::outcome,
            package_steps::detail,
            package_steps::created_at,
        ))
        .load(conn)
}

/// The package under a row lock (every change of a package takes it first, then its parts).
pub fn lock(conn: &mut PgConnection, package_id: Uuid) -> QueryResult<PackageRow> {
    packages::table
        .find(package_id)
        .for_no_key_update()
        .select(PackageRow::as_select())
        .first(conn)
}

/// A package's parts with their bookings, appointment first.
pub fn parts(conn: &mut PgConnection, package_id: Uuid) -> QueryResult<Vec<(Part, BookingRow)>> {
    let rows: Vec<(String, BookingRow)> = package_parts::table
        .inner_join(bookings::table)
        .filter(package_parts::package_id.eq(package_id))
        .order(package_parts::part)
        .select((package_parts::part, BookingRow::as_select()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(part, row)| {
            let part = if part == "appointment" {
                Part::Appointment
            } else {
                Part::Stay
            };
            (part, row)
        })
        .collect())
}

/// Who may see which packages: a customer login its own, staff every one.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Everything,
    CustomerUser(Uuid),
}

fn scoped(scope: Scope) -> packages::BoxedQuery<'static, diesel::pg::Pg> {
    use crate::schema::customers;
    let query = packages::table.into_boxed();
    match scope {
        Scope::Everything => query,
        Scope::CustomerUser(user_id) => query.filter(
            packages::customer_id.eq_any(
                customers::table
                    .filter(customers::user_id.eq(user_id))
                    .select(customers::id),
            ),
        ),
    }
}

/// A package by id or `WP-` reference, if `scope` may see it (404 otherwise).
pub fn find_visible(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    reference: Option<&str>,
    scope: Scope,
) -> QueryResult<PackageRow> {
    let mut query = scoped(scope);
    if let Some(id) = id {
        query = query.filter(packages::id.eq(id));
    }
    if let Some(reference) = reference {
        query = query.filter(packages::reference.eq(reference.to_owned()));
    }
    if id.is_none() && reference.is_none() {
        return Err(diesel::result::Error::NotFound);
    }
    query.select(PackageRow::as_select()).first(conn)
}

/// What a package list asks for.
#[derive(Debug, Clone)]
pub struct PackageFilter {
    pub customer_id: Option<Uuid>,
    pub flagged: Option<bool>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Newest first, by (created_at, id) after the cursor.
pub fn list_visible(
    conn: &mut PgConnection,
    filter: &PackageFilter,
    scope: Scope,
) -> QueryResult<Vec<PackageRow>> {
    let mut query = scoped(scope).filter(packages::phase.ne("released"));
    if let Some(customer_id) = filter.customer_id {
        query = query.filter(packages::customer_id.eq(customer_id));
    }
    match filter.flagged {
        Some(true) => query = query.filter(packages::flagged_at.is_not_null()),
        Some(false) => query = query.filter(packages::flagged_at.is_null()),
        None => {}
    }
    if let Some((at, id)) = filter.after {
        query = query.filter(
            packages::created_at
                .lt(at)
                .or(packages::created_at.eq(at).and(packages::id.lt(id))),
        );
    }
    query
        .order((packages::created_at.desc(), packages::id.desc()))
        .limit(filter.limit)
        .select(PackageRow::as_select())
        .load(conn)
}
