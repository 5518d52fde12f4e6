//! Joining a waitlist, reading it, leaving it. A customer waits for themself; staff put a
//! client on a list (`customer_id`, audited) and may read or take off anyone's entry. No
//! actix types here.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::store::{self, EntryRow, NewEntry, OfferBooking};
use crate::audit::{self, AuditEntry};
use crate::auth::Role;
use crate::bookings::lifecycle::{self, Change, Refund};
use crate::bookings::service::{Bookings, field};
use crate::bookings::state::{BookingEvent, BookingStatus};
use crate::db::run_blocking;
use crate::domain::{Actor, Patient, local_midnight};
use crate::error::ApiError;
use crate::idempotency::IdempotencyClaim;
use crate::providers::model::{AdapterSettings, ProviderKind};
use crate::providers::store::{ProviderRow, UnitRow};
use crate::schema::{providers, units};

/// The longest stay, and the widest range of clinic days, one entry waits for.
const MAX_NIGHTS: i64 = 30;
const MAX_SLOT_DAYS: i64 = 62;
/// How far ahead an entry may wait (search's own horizon is a year too).
const MAX_AHEAD_DAYS: i64 = 365;

/// A request to join, its parts parsed at the edge; which parts apply depends on the unit
/// (a room type's nights and guests, a clinic's days and patient).
#[derive(Debug, Clone)]
pub struct JoinInput {
    pub provider_id: Uuid,
    pub unit_code: String,
    /// Staff name the client; a customer joins for themself and must not.
    pub customer_id: Option<Uuid>,
    pub check_in: Option<NaiveDate>,
    pub check_out: Option<NaiveDate>,
    pub rooms: Option<u32>,
    pub guests: Option<u32>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub patient: Option<Patient>,
}

/// An offer as its entry shows it: the hold to pay, and until when.
#[derive(Debug, Clone, Serialize)]
pub struct OfferView {
    pub booking_id: Uuid,
    pub reference: String,
    pub booking_status: BookingStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: rust_decimal::Decimal,
}

/// A waitlist entry as its customer and staff read it (a clinic's patient is never shown).
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub provider_id: Uuid,
    pub provider_name_ar: String,
    pub provider_name_en: String,
    pub unit_code: String,
    pub unit_name_ar: String,
    pub unit_name_en: String,
    /// `stay` (exactly these nights) or `slot` (any one slot in these days).
    pub kind: String,
    /// A stay's check-in and check-out days, or a clinic's first and last day.
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rooms: i32,
    pub guests: Option<i32>,
    /// waiting, offered, booked, lapsed or left.
    pub status: String,
    pub joined_at: DateTime<Utc>,
    pub offered_at: Option<DateTime<Utc>>,
    pub offer: Option<OfferView>,
}

/// A page of entries and the cursor of the next.
#[derive(Debug, Serialize)]
pub struct EntryPage {
    pub entries: Vec<EntryView>,
    pub next_cursor: Option<String>,
}

/// A room type or clinic service of ours that a waitlist can be joined for.
#[derive(Debug, Clone, Serialize)]
pub struct WaitableUnit {
    pub provider_id: Uuid,
    pub provider_name_ar: String,
    pub provider_name_en: String,
    pub unit_code: String,
    pub unit_name_ar: String,
    pub unit_name_en: String,
}

/// Whose entries an actor reads: a customer their own, staff anyone's (or one client's).
enum Scope {
    Customer(Uuid),
    Everyone,
}

impl Bookings {
    /// Puts the customer (or, for staff, the client named) on the waitlist of a stay at one
    /// of our room types or of any slot of one of our clinics in a range of days. Need not be
    /// sold out: whatever is free is offered at once, by the same job that offers freed
    /// inventory. The entry, the audit entry, that job and the request's answer commit together.
    pub async fn join_waitlist(
        &self,
        actor: Actor,
        input: JoinInput,
        claim: Option<IdempotencyClaim>,
    ) -> Result<EntryView, ApiError> {
        run_blocking(&self.pool, move |conn| {
            let customer_id = customer_of(conn, &actor, input.customer_id)?;
            let (provider, unit) = local_unit(conn, input.provider_id, &input.unit_code)?;
            let timezone = crate::bookings::prepare::timezone_of(&provider)?;
            let new = wanted(&input, &provider, &unit, timezone, customer_id, &actor)?;
            conn.transaction(|conn| {
                if let Some(claim) = &claim {
                    claim.take_in(conn)?;
                }
                let entry = store::insert_entry(conn, &new)?;
                if actor.is_staff() {
                    audit::record(
                        conn,
                        &AuditEntry {
                            actor_id: actor.user_id,
                            actor_role: actor.role,
                            on_behalf_of: Some(customer_id),
                            action: "waitlist.join",
                            entity_type: "waitlist_entry",
                            entity_id: entry.id.to_string(),
                            request_id: actor.request_id.clone(),
                            details: serde_json::json!({
                                "unit_code": unit.code,
                                "starts_at": entry.starts_at,
                                "ends_at": entry.ends_at,
                            }),
                        },
                    )?;
                }
                super::offer_free_now(conn, entry.unit_id, entry.id)?;
                let view = view_of(entry, &provider, &unit, None, timezone);
                if let Some(claim) = &claim {
                    claim.save_in(conn, actix_web::http::StatusCode::CREATED, &view)?;
                }
                Ok(view)
            })
        })
        .await
    }

    /// Our active room types (`hotel`) or clinic services (`hospital`, of `specialty` when
    /// named) in `city`: what a search that found nothing may offer to wait for. Outside
    /// providers keep no waitlist.
    pub async fn waitable_units(
        &self,
        city: String,
        kind: ProviderKind,
        specialty: Option<String>,
    ) -> Result<Vec<WaitableUnit>, ApiError> {
        run_blocking(&self.pool, move |conn| {
            let mut query = units::table
                .inner_join(providers::table)
                .filter(providers::city.eq(city))
                .filter(providers::kind.eq(kind))
                .filter(providers::active.eq(true))
                .filter(providers::adapter.eq(AdapterSettings::Local.name()))
                .filter(units::active.eq(true))
                .into_boxed();
            if let Some(specialty) = specialty {
                query = query.filter(units::specialty.eq(specialty.to_lowercase()));
            }
            let found: Vec<(UnitRow, ProviderRow)> = query
                .order((providers::name_en, units::name_en))
                .limit(50)
                .select((UnitRow::as_select(), ProviderRow::as_select()))
                .load(conn)?;
            Ok(found
                .into_iter()
                .map(|(unit, provider)| WaitableUnit {
                    provider_id: provider.id,
                    provider_name_ar: provider.name_ar,
                    provider_name_en: provider.name_en,
                    unit_code: unit.code,
                    unit_name_ar: unit.name_ar,
                    unit_name_en: unit.name_en,
                })
                .collect())
        })
        .await
    }

    /// A page of waitlist entries, newest first: a customer's own (`customer_id` must be
    /// `None`), or for staff everyone's or one client's.
    pub async fn list_waitlist(
        &self,
        actor: Actor,
        customer_id: Option<Uuid>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<EntryPage, ApiError> {
        run_blocking(&self.pool, move |conn| {
            let scope = match (actor.role, customer_id) {
                (Role::Customer, None) => match own_customer(conn, &actor)? {
                    Some(id) => Scope::Customer(id),
                    None => {
                        return Ok(EntryPage {
                            entries: Vec::new(),
                            next_cursor: None,
                        });
                    }
                },
                (Role::Agent | Role::Admin, Some(id)) => Scope::Customer(id),
                (Role::Agent | Role::Admin, None) => Scope::Everyone,
                (Role::Customer | Role::Provider, _) => return Err(ApiError::Forbidden),
            };
            let customer = match scope {
                Scope::Customer(id) => Some(id),
                Scope::Everyone => None,
            };
            let rows = store::list_entries(conn, customer, after, limit + 1)?;
            let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
            let rows: Vec<EntryRow> = rows
                .into_iter()
                .take(usize::try_from(limit).unwrap_or(0))
                .collect();
            let next_cursor = more
                .then(|| rows.last())
                .flatten()
                .map(|last| crate::http::cursor::encode(last.joined_at, last.id));
            Ok(EntryPage {
                entries: views(conn, rows)?,
                next_cursor,
            })
        })
        .await
    }

    /// Takes an entry off its list: a customer their own (another's is not found), staff
    /// anyone's. An offer still held is declined: its hold is cancelled through the
    /// lifecycle, which gives the rooms to the next in line. Leaving twice answers the same.
    pub async fn leave_waitlist(&self, actor: Actor, id: Uuid) -> Result<EntryView, ApiError> {
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let entry = store::lock_entry(conn, id).map_err(|_| ApiError::NotFound)?;
                match actor.role {
                    Role::Agent | Role::Admin => {}
                    Role::Customer => {
                        if own_customer(conn, &actor)? != Some(entry.customer_id) {
                            return Err(ApiError::NotFound);
                        }
                    }
                    Role::Provider => return Err(ApiError::Forbidden),
                }
                let entry = match entry.status.as_str() {
                    "left" => entry,
                    "waiting" | "offered" => {
                        // Left first: the hold's cancellation then finds no offer to
                        // settle as lapsed.
                        let left = store::mark_left(conn, id)?;
                        if let Some(booking_id) = entry.booking_id {
                            decline_offer(conn, &actor, booking_id)?;
                        }
                        if actor.is_staff() {
                            audit::record(
                                conn,
                                &AuditEntry {
                                    actor_id: actor.user_id,
                                    actor_role: actor.role,
                                    on_behalf_of: Some(left.customer_id),
                                    action: "waitlist.leave",
                                    entity_type: "waitlist_entry",
                                    entity_id: left.id.to_string(),
                                    request_id: actor.request_id.clone(),
                                    details: serde_json::json!({}),
                                },
                            )?;
                        }
                        left
                    }
                    ended => {
                        return Err(ApiError::Conflict {
                            code: "waitlist.ended",
                            detail: format!("this entry is {ended}: its offer was taken or lapsed"),
                        });
                    }
                };
                let mut views = views(conn, vec![entry])?;
                views.pop().ok_or(ApiError::NotFound)
            })
        })
        .await
    }
}

/// Cancels an offer's hold that is still held (a paid one is the customer's booking now).
fn decline_offer(conn: &mut PgConnection, actor: &Actor, booking_id: Uuid) -> Result<(), ApiError> {
    use crate::schema::bookings;
    let status: BookingStatus = bookings::table
        .find(booking_id)
        .select(bookings::status)
        .first(conn)?;
    if status != BookingStatus::Held {
        return Ok(());
    }
    lifecycle::transition(
        conn,
        booking_id,
        &Change {
            event: BookingEvent::Cancel,
            actor: Some(actor),
            reason: Some("left the waitlist"),
            refund: Refund::Nothing,
            audit_action: "booking.cancel",
        },
    )
    .map(drop)
}

/// The customer row of a signed-in customer, if they have one yet.
fn own_customer(conn: &mut PgConnection, actor: &Actor) -> Result<Option<Uuid>, ApiError> {
    Ok(crate::customers::store::find_customer_of_user(conn, actor.user_id)?.map(|c| c.id))
}

/// Whom an entry is for: a customer themself (their customer row made on first use), or
/// the client staff name.
fn customer_of(
    conn: &mut PgConnection,
    actor: &Actor,
    customer_id: Option<Uuid>,
) -> Result<Uuid, ApiError> {
    match (actor.role, customer_id) {
        (Role::Customer, Some(_)) | (Role::Provider, _) => Err(ApiError::Forbidden),
        (Role::Customer, None) => {
            let user = crate::auth::store::find_active_user(conn, actor.user_id)?;
            Ok(crate::customers::service::customer_for_user(conn, &user.into())?.id)
        }
        (Role::Agent | Role::Admin, Some(id)) => crate::customers::store::find_customer(conn, id)
            .map(|c| c.id)
            .map_err(|_| field("customer_id", "no such customer")),
        (Role::Agent | Role::Admin, None) => Err(field(
            "customer_id",
            "is required when staff put a client on a waitlist",
        )),
    }
}

/// An active unit of one of our own active providers. Outside providers' inventory lives
/// on their servers, where we learn of nothing freed but our own bookings: not offered yet.
fn local_unit(
    conn: &mut PgConnection,
    provider_id: Uuid,
    unit_code: &str,
) -> Result<(ProviderRow, UnitRow), ApiError> {
    let provider = crate::providers::store::find_provider(conn, provider_id)
        .ok()
        .filter(|p| p.active)
        .ok_or_else(|| field("provider_id", "no such provider"))?;
    if provider.adapter != AdapterSettings::Local.name() {
        return Err(field(
            "provider_id",
            "waitlists are kept for our own hotels and clinics; this provider's rooms live on its own server",
        ));
    }
    let unit: UnitRow = units::table
        .filter(units::provider_id.eq(provider.id))
        .filter(units::code.eq(unit_code))
        .filter(units::active.eq(true))
        .select(UnitRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| field("unit_code", "no such room type or clinic at this provider"))?;
    Ok((provider, unit))
}

/// The entry a request asks for, checked against its unit: a room type's nights (not begun,
/// at most 30) with rooms and guests that fit, or a clinic's days (not over, at most 62)
/// with the patient to be seen.
fn wanted(
    input: &JoinInput,
    provider: &ProviderRow,
    unit: &UnitRow,
    timezone: Tz,
    customer_id: Uuid,
    actor: &Actor,
) -> Result<NewEntry, ApiError> {
    let today = Utc::now().with_timezone(&timezone).date_naive();
    let mut new = NewEntry {
        customer_id,
        provider_id: provider.id,
        unit_id: unit.id,
        kind: "stay",
        starts_at: Utc::now(),
        ends_at: Utc::now(),
        rooms: 1,
        guests: None,
        patient_name: None,
        patient_birth_date: None,
        patient_id_type: None,
        patient_id_number: None,
        patient_passport_country: None,
        channel: if actor.is_staff() { "phone" } else { "web" },
        created_by: actor.is_staff().then_some(actor.user_id),
    };
    if unit.nightly_price.is_some() {
        for (name, given) in [
            ("from", input.from.is_some()),
            ("to", input.to.is_some()),
            ("patient", input.patient.is_some()),
        ] {
            if given {
                return Err(field(
                    name,
                    "is for a clinic; a room type takes check_in and check_out",
                ));
            }
        }
        let check_in = input
            .check_in
            .ok_or_else(|| field("check_in", "is required"))?;
        let check_out = input
            .check_out
            .ok_or_else(|| field("check_out", "is required"))?;
        if check_in < today || (check_in - today).num_days() > MAX_AHEAD_DAYS {
            return Err(field(
                "check_in",
                "must be between today and a year from now",
            ));
        }
        let nights = (check_out - check_in).num_days();
        if !(1..=MAX_NIGHTS).contains(&nights) {
            return Err(field(
                "check_out",
                format!("must be 1 to {MAX_NIGHTS} nights after check_in"),
            ));
        }
        let rooms = input.rooms.unwrap_or(1);
        if !(1..=9).contains(&rooms) {
            return Err(field("rooms", "must be between 1 and 9"));
        }
        let guests = input
            .guests
            .ok_or_else(|| field("guests", "is required for a stay"))?;
        let per_room = u32::try_from(unit.max_guests.unwrap_or(1)).unwrap_or(1);
        if guests < rooms || guests > rooms * per_room {
            return Err(field(
                "guests",
                format!(
                    "must be between {rooms} and {} for {rooms} rooms of this type",
                    rooms * per_room
                ),
            ));
        }
        new.starts_at = local_midnight(check_in, timezone);
        new.ends_at = local_midnight(check_out, timezone);
        new.rooms = i32::try_from(rooms).unwrap_or(1);
        new.guests = i32::try_from(guests).ok();
    } else {
        for (name, given) in [
            ("check_in", input.check_in.is_some()),
            ("check_out", input.check_out.is_some()),
            ("rooms", input.rooms.is_some()),
            ("guests", input.guests.is_some()),
        ] {
            if given {
                return Err(field(
                    name,
                    "is for a room type; a clinic takes from and to",
                ));
            }
        }
        let from = input.from.ok_or_else(|| field("from", "is required"))?;
        let to = input.to.ok_or_else(|| field("to", "is required"))?;
        if to < today || (to - today).num_days() > MAX_AHEAD_DAYS {
            return Err(field("to", "must be between today and a year from now"));
        }
        let days = (to - from).num_days();
        if !(0..MAX_SLOT_DAYS).contains(&days) {
            return Err(field(
                "to",
                format!("must be on or after from, at most {MAX_SLOT_DAYS} days later"),
            ));
        }
        if provider.kind != ProviderKind::Hospital {
            return Err(field("unit_code", "is not a clinic service"));
        }
        let patient = input.patient.as_ref().ok_or_else(|| {
            field(
                "patient",
                "is required for a clinic: full_name, birth_date, id_type, id_number",
            )
        })?;
        new.kind = "slot";
        new.starts_at = local_midnight(from.max(today), timezone);
        new.ends_at = local_midnight(to.succ_opt().unwrap_or(to), timezone);
        new.patient_name = Some(patient.full_name.clone());
        new.patient_birth_date = Some(patient.birth_date);
        new.patient_id_type = Some(patient.id_type.as_str().to_owned());
        new.patient_id_number = Some(patient.id_number.clone());
        new.patient_passport_country = patient.passport_country.clone();
    }
    Ok(new)
}

/// Entries as read, with their units' and providers' names and their offers' holds.
fn views(conn: &mut PgConnection, rows: Vec<EntryRow>) -> Result<Vec<EntryView>, ApiError> {
    let unit_ids: Vec<Uuid> = rows.iter().map(|r| r.unit_id).collect();
    let named: Vec<(UnitRow, ProviderRow)> = units::table
        .inner_join(providers::table)
        .filter(units::id.eq_any(&unit_ids))
        .select((UnitRow::as_select(), ProviderRow::as_select()))
        .load(conn)?;
    let booking_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.booking_id).collect();
    let offers = store::offer_bookings(conn, &booking_ids)?;
    rows.into_iter()
        .map(|row| {
            let (unit, provider) = named
                .iter()
                .find(|(unit, _)| unit.id == row.unit_id)
                .ok_or(ApiError::NotFound)?;
            let timezone = crate::bookings::prepare::timezone_of(provider)?;
            let offer = row
                .booking_id
                .and_then(|id| offers.iter().find(|o| o.id == id).cloned());
            Ok(view_of(row, provider, unit, offer, timezone))
        })
        .collect()
}

fn view_of(
    row: EntryRow,
    provider: &ProviderRow,
    unit: &UnitRow,
    offer: Option<OfferBooking>,
    timezone: Tz,
) -> EntryView {
    let day = |at: DateTime<Utc>| at.with_timezone(&timezone).date_naive();
    let to = if row.kind == "stay" {
        day(row.ends_at)
    } else {
        // A clinic's range ends at the midnight after its last day.
        day(row.ends_at).pred_opt().unwrap_or(day(row.ends_at))
    };
    EntryView {
        id: row.id,
        customer_id: row.customer_id,
        provider_id: provider.id,
        provider_name_ar: provider.name_ar.clone(),
        provider_name_en: provider.name_en.clone(),
        unit_code: unit.code.clone(),
        unit_name_ar: unit.name_ar.clone(),
        unit_name_en: unit.name_en.clone(),
        kind: row.kind,
        from: day(row.starts_at),
        to,
        rooms: row.rooms,
        guests: row.guests,
        status: row.status,
        joined_at: row.joined_at,
        offered_at: row.offered_at,
        offer: offer.map(|o| OfferView {
            booking_id: o.id,
            reference: o.reference,
            booking_status: o.status,
            hold_expires_at: o.hold_expires_at,
            total: o.total,
        }),
    }
}
