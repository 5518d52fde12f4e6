//! Checking an offer before it is held, against things as they stand now: whom it is for
//! (and their plan's fee discount), whether the provider still takes it, and the provider's
//! price for it by adapter. Nothing is written or locked here.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::hold::{BookedRoom, Contact, NewBooking};
use super::service::field;
use super::store;
use crate::auth::Role;
use crate::customers::service::customer_for_user;
use crate::customers::store::CustomerRow;
use crate::domain::Actor;
use crate::domain::occupancy::{Occupancy, RoomGuests};
use crate::domain::{Email, Patient, PhoneNumber};
use crate::error::ApiError;
use crate::providers::model::{AdapterSettings, CaldavSettings, FhirSettings, ProviderKind};
use crate::providers::offer::OfferClaims;
use crate::providers::rates::{RoomLine, room_lines};
use crate::providers::store::{self as provider_store, ProviderRow, UnitRow};

/// What an offer turns into after checking it against today's provider, unit and customer.
pub(super) struct Prepared {
    pub(super) provider: ProviderRow,
    pub(super) unit: Option<UnitRow>,
    pub(super) customer: CustomerRow,
    pub(super) guests: Option<i32>,
    /// The provider's price for this offer as it stands now.
    pub(super) provider_price: Decimal,
    /// How many inventory cells a local booking spans (nights, or one slot).
    pub(super) cells: usize,
    pub(super) contact: Contact,
    /// A hospital appointment's patient.
    pub(super) patient: Option<Patient>,
    /// Off our fee, from the customer's subscription plan.
    pub(super) fee_discount: i32,
    /// A stay's rooms with their guests and lead guests (none for an appointment).
    pub(super) rooms: Vec<BookedRoom>,
    /// The same rooms priced, as the offer showed them.
    pub(super) room_lines: Vec<RoomLine>,
}

/// The provider's price for an offer now, with the local unit and how many of its cells the
/// booking spans (no unit and no cells for an outside provider).
pub(super) struct Priced {
    pub(super) unit: Option<UnitRow>,
    pub(super) provider_price: Decimal,
    pub(super) cells: usize,
    /// A stay's rooms, who stays in each and its price (empty for an appointment).
    pub(super) rooms: Vec<RoomLine>,
}

/// A local unit with how many of a stay's cells are open and the fewest rooms free among
/// them (`store::unit_with_free_cells`); `None` for an outside provider's offer.
pub(super) type StayCells = Option<(UnitRow, i64, Option<i32>)>;

/// Whether pricing a local offer also checks its cells are free: a hold does, with the cells
/// it read first ([`stay_cells`]); a change does not (the booking's own cells count as taken,
/// and the swap itself decides).
pub(super) enum CellCheck {
    Free(Box<StayCells>),
    Skip,
}

pub(super) fn timezone_of(provider: &ProviderRow) -> Result<Tz, ApiError> {
    provider.timezone.parse().map_err(|_| {
        ApiError::internal(anyhow::anyhow!(
            "provider {} has a bad time zone",
            provider.id
        ))
    })
}

/// Local nights between two instants of a provider (its cells start at local midnight).
pub(super) fn nights_between(start: DateTime<Utc>, end: DateTime<Utc>, timezone: Tz) -> i64 {
    (end.with_timezone(&timezone).date_naive() - start.with_timezone(&timezone).date_naive())
        .num_days()
}

/// Sold out, found before writing anything: whatever showed the offer as free is out of date.
fn sold_out_here() -> ApiError {
    crate::providers::answer_cache::inventory_changed();
    ApiError::SoldOut
}

/// The offer's cells, read before anything else: when one has fewer rooms free than asked,
/// the hold is sold out, answered from this one read. The many who lose a race for the last
/// rooms cost one query and no transaction; only `store::reserve_cells`, under its row
/// locks, decides who gets them. Read from the primary on every hold, so a room given back
/// is holdable at once.
fn stay_cells(conn: &mut PgConnection, claims: &OfferClaims) -> Result<StayCells, ApiError> {
    let cells = store::unit_with_free_cells(
        conn,
        claims.provider_id,
        &claims.unit_code,
        claims.start,
        claims.end,
    )?;
    let wanted = i32::try_from(claims.quantity).unwrap_or(i32::MAX);
    if let Some((_, _, Some(fewest_free))) = &cells
        && *fewest_free < wanted
    {
        return Err(sold_out_here());
    }
    Ok(cells)
}

pub(super) fn prepare(
    conn: &mut PgConnection,
    claims: &OfferClaims,
    actor: &Actor,
    input: &NewBooking,
) -> Result<Prepared, ApiError> {
    let cells = stay_cells(conn, claims)?;
    let (customer, fee_discount) = customer_and_discount(conn, actor, input.customer_id)?;
    let (provider, timezone) = bookable_provider(conn, claims)?;
    may_hold_at(conn, actor, &provider)?;
    let patient = patient_for(&provider, input)?;
    let guests = input
        .guests
        .or(claims.guests)
        .map(|g| i32::try_from(g).unwrap_or(i32::MAX));
    let Priced {
        unit,
        provider_price,
        cells,
        rooms,
    } = price_now(
        conn,
        &provider,
        claims,
        guests,
        timezone,
        CellCheck::Free(Box::new(cells)),
    )?;
    let contact = contact_for(input, &customer);
    let room_lines = rooms;
    let rooms = booked_rooms(input.rooms.as_deref(), &room_lines, &contact.name)?;
    Ok(Prepared {
        room_lines,
        fee_discount,
        provider,
        unit,
        customer,
        guests,
        provider_price,
        cells,
        contact,
        patient,
        rooms,
    })
}

/// A stay's rooms as booked: the offer's, each under the lead guest the request names (the
/// contact when it names none). Rooms given must be the offer's, room by room.
fn booked_rooms(
    asked: Option<&[BookedRoom]>,
    offered: &[RoomLine],
    contact: &str,
) -> Result<Vec<BookedRoom>, ApiError> {
    let Some(asked) = asked else {
        return Ok(offered
            .iter()
            .map(|line| BookedRoom {
                lead_guest: contact.to_owned(),
                guests: RoomGuests {
                    adults: line.adults,
                    children: line.children.clone(),
                },
            })
            .collect());
    };
    if offered.is_empty() {
        return Err(field("rooms", "only a hotel stay has rooms"));
    }
    let same = asked.len() == offered.len()
        && asked.iter().zip(offered).all(|(room, line)| {
            room.guests.adults == line.adults && room.guests.children == line.children
        });
    if !same {
        let wanted: Vec<String> = offered
            .iter()
            .map(|line| match line.children.len() {
                0 => format!("{} adults", line.adults),
                n => format!("{} adults and {n} children", line.adults),
            })
            .collect();
        return Err(field(
            "rooms",
            format!(
                "must be the offer's rooms, in order: {} (search again for others)",
                wanted.join("; ")
            ),
        ));
    }
    Ok(asked.to_vec())
}

/// A hospital sees a patient, who must be named; a hotel has guests, not patients, and is
/// told nothing of anyone's health or papers.
fn patient_for(provider: &ProviderRow, input: &NewBooking) -> Result<Option<Patient>, ApiError> {
    match (provider.kind, &input.patient) {
        (ProviderKind::Hospital, Some(patient)) => Ok(Some(patient.clone())),
        (ProviderKind::Hospital, None) => Err(field(
            "patient",
            "is required for a hospital appointment: full_name, birth_date, id_type, id_number",
        )),
        (ProviderKind::Hotel, Some(_)) => {
            Err(field("patient", "is only for hospital appointments"))
        }
        (ProviderKind::Hotel, None) => Ok(None),
    }
}

/// Whom the booking is for, with their plan's discount on our fee: a customer books for
/// themselves, staff for the client they name.
fn customer_and_discount(
    conn: &mut PgConnection,
    actor: &Actor,
    customer_id: Option<Uuid>,
) -> Result<(CustomerRow, i32), ApiError> {
    use crate::billing::subscriptions::{CustomerOf, customer_with_discount, fee_discount};
    match (actor.role, customer_id) {
        (Role::Customer, Some(_)) => Err(ApiError::Forbidden),
        (Role::Customer, None) => {
            match customer_with_discount(conn, CustomerOf::ActiveUser(actor.user_id))? {
                Some(found) => Ok(found),
                None => {
                    // A first booking makes the account's customer row.
                    let user = crate::auth::store::find_active_user(conn, actor.user_id)?;
                    let customer = customer_for_user(conn, &user.into())?;
                    let discount = fee_discount(conn, customer.id)?;
                    Ok((customer, discount))
                }
            }
        }
        (Role::Agent | Role::Admin, Some(customer_id)) => {
            customer_with_discount(conn, CustomerOf::Id(customer_id))?
                .ok_or_else(|| field("customer_id", "no such customer"))
        }
        (Role::Agent | Role::Admin, None) => Err(field(
            "customer_id",
            "is required when booking for a client",
        )),
        (Role::Provider, _) => Err(ApiError::Forbidden),
    }
}

/// Our own inventory takes holds from any signed-in customer; an outside provider only from
/// one whose email is verified (#14, point 5): a hold there books with someone else on the
/// customer's word. Staff booking for a client vouch for them and are not held to this.
fn may_hold_at(
    conn: &mut PgConnection,
    actor: &Actor,
    provider: &ProviderRow,
) -> Result<(), ApiError> {
    let outside = provider.adapter != AdapterSettings::Local.name();
    if outside
        && actor.role == Role::Customer
        && !crate::auth::store::email_verified(conn, actor.user_id)?
    {
        return Err(ApiError::AccountUnverified);
    }
    Ok(())
}

/// The offer's provider with its time zone, if it is still active and the offer has not
/// begun: a gone or inactive provider reads as sold out.
pub(super) fn bookable_provider(
    conn: &mut PgConnection,
    claims: &OfferClaims,
) -> Result<(ProviderRow, Tz), ApiError> {
    let provider =
        provider_store::find_provider(conn, claims.provider_id).map_err(|_| ApiError::SoldOut)?;
    if !provider.active {
        return Err(ApiError::SoldOut);
    }
    let timezone = timezone_of(&provider)?;
    // Tonight's stay can be booked until its night is over; an appointment until it begins.
    let (bookable_until, passed) = match provider.kind {
        ProviderKind::Hotel => (
            claims
                .start
                .with_timezone(&timezone)
                .date_naive()
                .succ_opt()
                .map_or(claims.end, |next| {
                    crate::domain::local_midnight(next, timezone)
                }),
            "the stay's first night is over",
        ),
        ProviderKind::Hospital => (claims.start, "the appointment has begun"),
    };
    if bookable_until <= Utc::now() {
        return Err(field("offer_id", passed));
    }
    Ok((provider, timezone))
}

/// The price by the provider's adapter: our own unit and cells, an outside hospital's
/// schedule, or an outside hotel's room type. Unreadable settings read as sold out.
pub(super) fn price_now(
    conn: &mut PgConnection,
    provider: &ProviderRow,
    claims: &OfferClaims,
    guests: Option<i32>,
    timezone: Tz,
    check: CellCheck,
) -> Result<Priced, ApiError> {
    let nights = nights_between(claims.start, claims.end, timezone);
    match AdapterSettings::parse(&provider.adapter, provider.adapter_settings.clone()) {
        Ok(AdapterSettings::Local) => local_price(conn, provider, claims, guests, nights, check),
        Ok(AdapterSettings::Fhir(settings)) => fhir_price(&settings, claims),
        Ok(AdapterSettings::Caldav(settings)) => caldav_price(&settings, claims, guests, nights),
        Err(_) => Err(ApiError::SoldOut),
    }
}

/// A unit of ours: still active, and every cell of the stay (or its one slot) open with the
/// rooms asked for.
fn local_price(
    conn: &mut PgConnection,
    provider: &ProviderRow,
    claims: &OfferClaims,
    guests: Option<i32>,
    nights: i64,
    check: CellCheck,
) -> Result<Priced, ApiError> {
    let (read, free_needed) = match check {
        CellCheck::Free(read) => (*read, true),
        CellCheck::Skip => (
            store::unit_with_free_cells(
                conn,
                provider.id,
                &claims.unit_code,
                claims.start,
                claims.end,
            )?,
            false,
        ),
    };
    let Some((unit, open_cells, fewest_free)) = read else {
        return Err(sold_out_here());
    };
    if !unit.active {
        return Err(ApiError::SoldOut);
    }
    let (provider_price, cells, rooms) = unit_price(&unit, claims, guests, nights)?;
    // Every cell of the stay open, each with the rooms asked for (no lock taken).
    let wanted = i32::try_from(claims.quantity).unwrap_or(i32::MAX);
    let open = usize::try_from(open_cells) == Ok(cells);
    if !open || (free_needed && fewest_free.is_none_or(|free| free < wanted)) {
        return Err(sold_out_here());
    }
    Ok(Priced {
        unit: Some(unit),
        provider_price,
        cells,
        rooms,
    })
}

/// A room type's price for its nights and rooms (the guests must fit), or a clinic
/// service's price for its one slot; with the cells each spans.
fn unit_price(
    unit: &UnitRow,
    claims: &OfferClaims,
    guests: Option<i32>,
    nights: i64,
) -> Result<(Decimal, usize, Vec<RoomLine>), ApiError> {
    match (unit.nightly_price, unit.price) {
        (Some(nightly), _) => {
            let occupancy = stay_occupancy(claims, guests, unit.max_guests.unwrap_or(1))?;
            let nights = u32::try_from(nights).unwrap_or(0);
            let (rooms, price) = room_lines(nightly, unit.rates().as_ref(), &occupancy, nights);
            Ok((price, usize::try_from(nights).unwrap_or(0), rooms))
        }
        (None, Some(price)) => Ok((price, 1, Vec::new())),
        (None, None) => Err(ApiError::internal(anyhow::anyhow!(
            "unit {} has no price",
            unit.id
        ))),
    }
}

/// A hotel stay's guests room by room, at our hotels and outside ones alike: the offer's
/// occupancy (its search's), or the guests (required; the request may restate them) spread
/// over its rooms. Each room must hold its own guests.
fn stay_occupancy(
    claims: &OfferClaims,
    guests: Option<i32>,
    max_guests: i32,
) -> Result<Occupancy, ApiError> {
    let occupancy = match (&claims.occupancy, guests) {
        (Some(occupancy), Some(g)) if i64::from(g) != i64::from(occupancy.guests()) => {
            return Err(field(
                "guests",
                format!(
                    "must be the offer's {} guests (search again for another occupancy)",
                    occupancy.guests()
                ),
            ));
        }
        (Some(occupancy), _) => occupancy.clone(),
        (None, None) => return Err(field("guests", "is required for a hotel stay")),
        (None, Some(g)) => {
            let rooms = claims.quantity.max(1);
            let g = u32::try_from(g).unwrap_or(0);
            if g < rooms {
                return Err(field(
                    "guests",
                    format!("must be at least {rooms}, one a room"),
                ));
            }
            Occupancy::spread(g, rooms)
        }
    };
    if i64::from(occupancy.fullest_room()) > i64::from(max_guests) {
        return Err(field(
            "guests",
            format!("must be between 1 and {max_guests} a room for this room type"),
        ));
    }
    Ok(occupancy)
}

/// An outside hospital: the price its settings give the offer's schedule.
fn fhir_price(settings: &FhirSettings, claims: &OfferClaims) -> Result<Priced, ApiError> {
    let schedule = settings
        .schedules
        .iter()
        .find(|s| s.unit_code() == claims.unit_code)
        .ok_or(ApiError::SoldOut)?;
    Ok(Priced {
        unit: None,
        provider_price: schedule.price,
        cells: 0,
        rooms: Vec::new(),
    })
}

/// An outside hotel: its room type's nightly price for the nights and rooms, if the guests
/// fit.
fn caldav_price(
    settings: &CaldavSettings,
    claims: &OfferClaims,
    guests: Option<i32>,
    nights: i64,
) -> Result<Priced, ApiError> {
    let room = settings
        .room_types
        .iter()
        .find(|r| r.code == claims.unit_code)
        .ok_or(ApiError::SoldOut)?;
    let occupancy = stay_occupancy(
        claims,
        guests,
        i32::try_from(room.max_guests).unwrap_or(i32::MAX),
    )?;
    let nights = u32::try_from(nights).unwrap_or(0);
    let (rooms, provider_price) = room_lines(room.nightly_price, None, &occupancy, nights);
    Ok(Priced {
        unit: None,
        provider_price,
        cells: 0,
        rooms,
    })
}

/// Who the provider should expect: the contact given, else the customer as we know them.
fn contact_for(input: &NewBooking, customer: &CustomerRow) -> Contact {
    match &input.contact {
        Some(contact) => contact.clone(),
        None => Contact {
            name: customer.full_name.clone(),
            phone: customer
                .phone
                .as_deref()
                .and_then(|p| PhoneNumber::parse(p).ok()),
            email: customer.email.as_deref().and_then(|e| Email::parse(e).ok()),
        },
    }
}
