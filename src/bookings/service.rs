//! The rules of booking: hold an offer (never overbooking), hand it on, cancel it with the
//! provider's refund policy, and say who may see what. No actix types here.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::lifecycle::{self, Change, Refund};
use super::reference::new_reference;
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingFilter, BookingRow, EventView, NewBookingRow, Visibility};
use crate::audit::{self, AuditEntry};
use crate::auth::Role;
use crate::customers::service::customer_for_user;
use crate::customers::store::CustomerRow;
use crate::db::{PgPool, run_blocking};
use crate::domain::Actor;
use crate::domain::money::{FeePolicy, Quote};
use crate::domain::{Email, PhoneNumber};
use crate::error::{ApiError, FieldError};
use crate::idempotency::IdempotencyClaim;
use crate::jobs::BookingEmail;
use crate::jobs::{Job, queue};
use crate::providers::adapter::{Adapter, AdapterError};
use crate::providers::model::{
    AdapterSettings, BookingRequest, ProviderKind, ProviderOffer, ProviderRef,
};
use crate::providers::offer::{OfferClaims, OfferIdError};
use crate::providers::policy::CancellationPolicy;
use crate::providers::search::{Searcher, UnitSummary};
use crate::providers::store::{self as provider_store, ProviderRow, ProviderSummary, UnitRow};
use crate::schema::providers;

/// Everything booking needs, built once at start-up.
#[derive(Clone)]
pub struct Bookings {
    pub pool: PgPool,
    /// Money: paying for a booking, refunds.
    pub billing: crate::billing::Billing,
    pub searcher: Arc<Searcher>,
    /// How long a held booking keeps its inventory before it expires unpaid.
    pub hold: chrono::Duration,
    /// Wakes this process's job workers when a transition enqueues follow-up work.
    pub wake: Arc<tokio::sync::Notify>,
    /// How long a provider with a webhook has to answer before the booking is flagged.
    pub ack_deadline: chrono::Duration,
}

/// Whose bookings an actor may pay for: a customer their own, staff anyone's.
pub fn payer_visibility(actor: &Actor) -> Result<Visibility, ApiError> {
    match actor.role {
        Role::Customer => Ok(Visibility::CustomerUser(actor.user_id)),
        Role::Agent | Role::Admin => Ok(Visibility::Everything),
        Role::Provider => Err(ApiError::Forbidden),
    }
}

/// Whose bookings an actor may read; a provider login sees its provider's.
fn visibility(actor: &Actor, provider_of_user: Option<Uuid>) -> Result<Visibility, ApiError> {
    Ok(match actor.role {
        Role::Agent | Role::Admin => Visibility::Everything,
        Role::Customer => Visibility::CustomerUser(actor.user_id),
        Role::Provider => Visibility::Provider(provider_of_user.ok_or(ApiError::Forbidden)?),
    })
}

#[derive(Debug, Clone)]
pub struct Contact {
    pub name: String,
    pub phone: Option<PhoneNumber>,
    pub email: Option<Email>,
}

#[derive(Debug, Clone)]
pub struct NewBooking {
    pub offer_id: String,
    /// Staff book for a client; customers book for themselves and must not name one.
    pub customer_id: Option<Uuid>,
    pub guests: Option<u32>,
    pub contact: Option<Contact>,
}

/// What to do next with a booking, so a client need not know the state machine.
#[derive(Debug, Serialize)]
pub struct NextStep {
    /// `pay` (before `hold_expires_at`), `await_confirmation`, or `none`.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct BookingView {
    pub id: Uuid,
    pub reference: String,
    pub status: BookingStatus,
    pub customer_id: Uuid,
    pub provider: ProviderSummary,
    pub unit: UnitSummary,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub quantity: i32,
    pub guests: Option<i32>,
    pub channel: String,
    pub created_by: Option<Uuid>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub price: Quote,
    /// What paying charges: our fee and its VAT, plus the provider's price when the
    /// provider is prepaid (otherwise that is paid at the provider).
    #[serde(with = "rust_decimal::serde::str")]
    pub due_now: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub refund_amount: Option<Decimal>,
    pub contact: ContactView,
    pub next: NextStep,
    /// The provider's answer (`confirmed` or `refused`), once it gave one.
    pub provider_ack: Option<String>,
    /// Set when the provider did not answer in time: an agent should follow up.
    pub flagged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
    /// The booking's latest payment (single-booking reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<BookingPayment>,
}

/// What a booking page needs of its payment: its state, and the invoice to link to.
#[derive(Debug, Serialize)]
pub struct BookingPayment {
    pub id: Uuid,
    pub status: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub refunded: Decimal,
    pub invoice_id: Option<Uuid>,
}

#[derive(Debug, Serialize)]
pub struct ContactView {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

pub(super) fn view(
    row: BookingRow,
    provider: &ProviderRow,
    fees: &FeePolicy,
    events: Option<Vec<EventView>>,
) -> BookingView {
    // The booking keeps the amounts it was made with, whatever the fee is today.
    let price = Quote {
        provider_price: row.provider_price,
        service_fee: row.service_fee,
        vat: row.vat,
    };
    // What paying now charges: exactly the lines the payment will carry.
    let due_now = super::pay::due_now(&row, provider.prepaid, fees.vat_rate);
    let next = match row.status {
        BookingStatus::Held => NextStep {
            action: "pay",
            before: row.hold_expires_at,
        },
        BookingStatus::Pending => NextStep {
            action: "await_confirmation",
            before: None,
        },
        _ => NextStep {
            action: "none",
            before: None,
        },
    };
    BookingView {
        id: row.id,
        reference: row.reference,
        status: row.status,
        customer_id: row.customer_id,
        provider: ProviderSummary::from(provider),
        unit: UnitSummary {
            code: row.unit_code,
            name_ar: row.unit_name_ar,
            name_en: row.unit_name_en,
        },
        start: row.starts_at,
        end: row.ends_at,
        quantity: row.quantity,
        guests: row.guests,
        channel: row.channel,
        created_by: row.created_by,
        hold_expires_at: row
            .hold_expires_at
            .filter(|_| row.status == BookingStatus::Held),
        price,
        due_now,
        refund_amount: row.refund_amount,
        contact: ContactView {
            name: row.contact_name,
            phone: row.contact_phone,
            email: row.contact_email,
        },
        next,
        provider_ack: row.provider_ack,
        flagged_at: row.flagged_at,
        created_at: row.created_at,
        events,
        payment: None,
    }
}

/// What an offer turns into after checking it against today's provider, unit and customer.
struct Prepared {
    provider: ProviderRow,
    unit: Option<UnitRow>,
    customer: CustomerRow,
    guests: Option<i32>,
    /// The provider's price for this offer as it stands now.
    provider_price: Decimal,
    /// How many inventory cells a local booking spans (nights, or one slot).
    cells: usize,
    contact: Contact,
    /// Off our fee, from the customer's subscription plan.
    fee_discount: i32,
}

fn field(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![FieldError::new(name, message)])
}

fn timezone_of(provider: &ProviderRow) -> Result<Tz, ApiError> {
    provider.timezone.parse().map_err(|_| {
        ApiError::internal(anyhow::anyhow!(
            "provider {} has a bad time zone",
            provider.id
        ))
    })
}

/// Local nights between two instants of a provider (its cells start at local midnight).
fn nights_between(start: DateTime<Utc>, end: DateTime<Utc>, timezone: Tz) -> i64 {
    (end.with_timezone(&timezone).date_naive() - start.with_timezone(&timezone).date_naive())
        .num_days()
}

/// Sold out, found before writing anything: whatever showed the offer as free is out of date.
fn sold_out_here() -> ApiError {
    crate::providers::answer_cache::inventory_changed();
    ApiError::SoldOut
}

fn prepare(
    conn: &mut PgConnection,
    claims: &OfferClaims,
    actor: &Actor,
    input: &NewBooking,
) -> Result<Prepared, ApiError> {
    use crate::billing::subscriptions::{CustomerOf, customer_with_discount, fee_discount};
    let (customer, fee_discount) = match (actor.role, input.customer_id) {
        (Role::Customer, Some(_)) => return Err(ApiError::Forbidden),
        (Role::Customer, None) => {
            match customer_with_discount(conn, CustomerOf::ActiveUser(actor.user_id))? {
                Some(found) => found,
                None => {
                    // A first booking makes the account's customer row.
                    let user = crate::auth::store::find_active_user(conn, actor.user_id)?;
                    let customer = customer_for_user(conn, &user.into())?;
                    let discount = fee_discount(conn, customer.id)?;
                    (customer, discount)
                }
            }
        }
        (Role::Agent | Role::Admin, Some(customer_id)) => {
            customer_with_discount(conn, CustomerOf::Id(customer_id))?
                .ok_or_else(|| field("customer_id", "no such customer"))?
        }
        (Role::Agent | Role::Admin, None) => {
            return Err(field(
                "customer_id",
                "is required when booking for a client",
            ));
        }
        (Role::Provider, _) => return Err(ApiError::Forbidden),
    };
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
    let guests = input
        .guests
        .or(claims.guests)
        .map(|g| i32::try_from(g).unwrap_or(i32::MAX));
    let quantity = Decimal::from(claims.quantity);
    let nights = nights_between(claims.start, claims.end, timezone);
    let (unit, provider_price, cells) =
        match AdapterSettings::parse(&provider.adapter, provider.adapter_settings.clone()) {
            Ok(AdapterSettings::Local) => {
                let unit_id: Uuid = claims
                    .unit_code
                    .parse()
                    .map_err(|_| ApiError::OfferInvalid)?;
                let Some((unit, open_cells, fewest_free)) = store::unit_with_free_cells(
                    conn,
                    provider.id,
                    unit_id,
                    claims.start,
                    claims.end,
                )?
                else {
                    return Err(sold_out_here());
                };
                if !unit.active {
                    return Err(ApiError::SoldOut);
                }
                let (price, cells) = match (unit.nightly_price, unit.price) {
                    (Some(nightly), _) => {
                        let max_guests = unit.max_guests.unwrap_or(1)
                            * i32::try_from(claims.quantity).unwrap_or(1);
                        match guests {
                            None => return Err(field("guests", "is required for a hotel stay")),
                            Some(g) if g < 1 || g > max_guests => {
                                return Err(field(
                                    "guests",
                                    format!("must be between 1 and {max_guests} for this room"),
                                ));
                            }
                            Some(_) => {}
                        }
                        (
                            nightly * Decimal::from(nights) * quantity,
                            usize::try_from(nights).unwrap_or(0),
                        )
                    }
                    (None, Some(price)) => (price, 1),
                    (None, None) => {
                        return Err(ApiError::internal(anyhow::anyhow!(
                            "unit {unit_id} has no price"
                        )));
                    }
                };
                // Every cell of the stay open, each with the rooms asked for (no lock taken).
                let rooms = i32::try_from(claims.quantity).unwrap_or(i32::MAX);
                if usize::try_from(open_cells) != Ok(cells)
                    || fewest_free.is_none_or(|free| free < rooms)
                {
                    return Err(sold_out_here());
                }
                (Some(unit), price, cells)
            }
            Ok(AdapterSettings::Fhir(settings)) => {
                let schedule = settings
                    .schedules
                    .iter()
                    .find(|s| s.schedule_id == claims.unit_code)
                    .ok_or(ApiError::SoldOut)?;
                (None, schedule.price, 0)
            }
            Ok(AdapterSettings::Caldav(settings)) => {
                let room = settings
                    .room_types
                    .iter()
                    .find(|r| r.code == claims.unit_code)
                    .ok_or(ApiError::SoldOut)?;
                let max_guests = room.max_guests * claims.quantity;
                if guests
                    .is_some_and(|g| g < 1 || g > i32::try_from(max_guests).unwrap_or(i32::MAX))
                {
                    return Err(field(
                        "guests",
                        format!("must be between 1 and {max_guests} for this room"),
                    ));
                }
                (
                    None,
                    room.nightly_price * Decimal::from(nights) * quantity,
                    0,
                )
            }
            Err(_) => return Err(ApiError::SoldOut),
        };
    let contact = match &input.contact {
        Some(contact) => contact.clone(),
        None => Contact {
            name: customer.full_name.clone(),
            phone: customer
                .phone
                .as_deref()
                .and_then(|p| PhoneNumber::parse(p).ok()),
            email: customer.email.as_deref().and_then(|e| Email::parse(e).ok()),
        },
    };
    Ok(Prepared {
        fee_discount,
        provider,
        unit,
        customer,
        guests,
        provider_price,
        cells,
        contact,
    })
}

/// How far a hold got on its first connection.
enum HoldStep {
    Held(BookingView),
    /// The price moved, or an outside provider must book before the hold is written.
    Stopped(Prepared),
}

/// What writing a hold needs of the service, to take onto a blocking thread.
#[derive(Clone, Copy)]
struct HoldTerms {
    fees: FeePolicy,
    hold: chrono::Duration,
}

impl HoldTerms {
    /// Whether the offer's total is still what the provider's price comes to today.
    fn price_holds(&self, prepared: &Prepared, claims: &OfferClaims) -> bool {
        self.fees.quote(prepared.provider_price).total() == claims.total
    }

    fn row(
        &self,
        prepared: &Prepared,
        claims: &OfferClaims,
        actor: &Actor,
        reference: String,
        provider_ref: Option<String>,
    ) -> NewBookingRow {
        // Offers are quoted to everyone alike; a subscriber's discount applies on booking.
        let quote = self
            .fees
            .quote_with_discount(prepared.provider_price, prepared.fee_discount);
        // A local unit's names are ours to read; an outside provider's are the offer's.
        let (unit_name_ar, unit_name_en) = match &prepared.unit {
            Some(unit) => (unit.name_ar.clone(), unit.name_en.clone()),
            None => (claims.unit_name_ar.clone(), claims.unit_name_en.clone()),
        };
        NewBookingRow {
            reference,
            customer_id: prepared.customer.id,
            provider_id: prepared.provider.id,
            unit_id: prepared.unit.as_ref().map(|u| u.id),
            unit_code: claims.unit_code.clone(),
            slot_ref: claims.slot_ref.clone(),
            starts_at: claims.start,
            ends_at: claims.end,
            quantity: i32::try_from(claims.quantity).unwrap_or(i32::MAX),
            guests: prepared.guests,
            status: BookingStatus::Held,
            hold_expires_at: Some(Utc::now() + self.hold),
            channel: if actor.is_staff() { "phone" } else { "web" }.into(),
            created_by: actor.is_staff().then_some(actor.user_id),
            provider_ref,
            provider_price: quote.provider_price,
            service_fee: quote.service_fee,
            vat: quote.vat,
            total: quote.total(),
            contact_name: prepared.contact.name.clone(),
            contact_phone: prepared.contact.phone.as_ref().map(|p| p.to_string()),
            contact_email: prepared.contact.email.as_ref().map(|e| e.to_string()),
            unit_name_ar,
            unit_name_en,
        }
    }
}

/// Where a hold's answer goes: its view, saved under the request's Idempotency-Key.
struct HoldAnswer<'a> {
    provider: &'a ProviderRow,
    fees: &'a FeePolicy,
    claim: Option<&'a IdempotencyClaim>,
}

/// Writes a hold in one transaction: the booking, its `cells` of local inventory (all of
/// them or none: else sold out), its first event, its email and the request's answer.
fn save_hold(
    conn: &mut PgConnection,
    row: &NewBookingRow,
    cells: usize,
    actor: &Actor,
    answer: HoldAnswer<'_>,
) -> Result<BookingView, ApiError> {
    conn.transaction(|conn| {
        let booking = store::insert_booking(conn, row)?;
        if let Some(unit_id) = booking.unit_id
            && !store::reserve_cells(
                conn,
                unit_id,
                booking.starts_at,
                booking.ends_at,
                booking.quantity,
                cells,
            )?
        {
            return Err(ApiError::SoldOut);
        }
        // A hold is the lifecycle's start: its history row, its audit entry, its email.
        lifecycle::record(conn, &booking, Some(actor), None, None, "booking.create")?;
        lifecycle::enqueue_email(conn, &booking, BookingEmail::Held)?;
        let held = view(booking, answer.provider, answer.fees, None);
        if let Some(claim) = answer.claim {
            claim.save_in(conn, actix_web::http::StatusCode::CREATED, &held)?;
        }
        Ok(held)
    })
}

impl Bookings {
    fn verify_offer(&self, offer_id: &str) -> Result<OfferClaims, ApiError> {
        self.searcher
            .signer
            .verify(offer_id, Utc::now())
            .map_err(|e| match e {
                OfferIdError::Invalid => ApiError::OfferInvalid,
                OfferIdError::Expired => ApiError::OfferExpired,
            })
    }

    /// Holds an offer: a `held` booking with its inventory reserved at once. Local inventory
    /// is checked and held on one connection; an outside provider is asked to book between
    /// the check and the write.
    pub async fn create(
        &self,
        actor: Actor,
        input: NewBooking,
        claim: Option<IdempotencyClaim>,
    ) -> Result<BookingView, ApiError> {
        let claims = self.verify_offer(&input.offer_id)?;
        let terms = HoldTerms {
            fees: self.searcher.fees,
            hold: self.hold,
        };
        let step = {
            let (claims, actor, claim) = (claims.clone(), actor.clone(), claim.clone());
            run_blocking(&self.pool, move |conn| {
                let prepared = prepare(conn, &claims, &actor, &input)?;
                if prepared.unit.is_none() || !terms.price_holds(&prepared, &claims) {
                    return Ok(HoldStep::Stopped(prepared));
                }
                let row = terms.row(
                    &prepared,
                    &claims,
                    &actor,
                    new_reference().map_err(ApiError::Internal)?,
                    None,
                );
                let answer = HoldAnswer {
                    provider: &prepared.provider,
                    fees: &terms.fees,
                    claim: claim.as_ref(),
                };
                let held = save_hold(conn, &row, prepared.cells, &actor, answer)?;
                Ok(HoldStep::Held(held))
            })
            .await?
        };
        let prepared = match step {
            HoldStep::Held(held) => return Ok(held),
            HoldStep::Stopped(prepared) if !terms.price_holds(&prepared, &claims) => {
                return Err(self.offer_changed(&prepared, &claims));
            }
            HoldStep::Stopped(prepared) => prepared,
        };

        let reference = new_reference().map_err(ApiError::Internal)?;
        let (adapter, provider_ref) = self
            .book_with_provider(&prepared, &claims, &reference)
            .await?;
        let row = terms.row(
            &prepared,
            &claims,
            &actor,
            reference,
            Some(provider_ref.0.clone()),
        );
        let provider = prepared.provider.clone();
        let saved = run_blocking(&self.pool, move |conn| {
            let answer = HoldAnswer {
                provider: &provider,
                fees: &terms.fees,
                claim: claim.as_ref(),
            };
            save_hold(conn, &row, 0, &actor, answer)
        })
        .await;
        match saved {
            Ok(held) => Ok(held),
            Err(error) => {
                // The provider holds something we never recorded: give it back.
                if let Err(cancel_error) = adapter.cancel(&provider_ref).await {
                    tracing::error!(error = %cancel_error, provider_ref = %provider_ref.0, "could not release an unrecorded provider booking");
                }
                Err(error)
            }
        }
    }

    fn offer_changed(&self, prepared: &Prepared, claims: &OfferClaims) -> ApiError {
        let fresh = ProviderOffer {
            unit_code: claims.unit_code.clone(),
            unit_name_ar: prepared
                .unit
                .as_ref()
                .map(|u| u.name_ar.clone())
                .unwrap_or_default(),
            unit_name_en: prepared
                .unit
                .as_ref()
                .map(|u| u.name_en.clone())
                .unwrap_or_default(),
            start: claims.start,
            end: claims.end,
            quantity: claims.quantity,
            provider_price: prepared.provider_price,
            slot_ref: claims.slot_ref.clone(),
            specialty: prepared.unit.as_ref().and_then(|u| u.specialty.clone()),
            practitioner: prepared.unit.as_ref().and_then(|u| u.practitioner.clone()),
            max_guests: prepared
                .unit
                .as_ref()
                .and_then(|u| u.max_guests)
                .and_then(|g| u32::try_from(g).ok()),
        };
        let nights = (prepared.provider.kind == ProviderKind::Hotel)
            .then(|| timezone_of(&prepared.provider).ok())
            .flatten()
            .map(|tz| u32::try_from(nights_between(claims.start, claims.end, tz)).unwrap_or(0));
        let offer = self
            .searcher
            .offer_for(&prepared.provider, fresh, claims.guests, nights);
        ApiError::OfferChanged {
            fresh: Box::new(serde_json::to_value(offer).unwrap_or_default()),
        }
    }

    async fn book_with_provider(
        &self,
        prepared: &Prepared,
        claims: &OfferClaims,
        reference: &str,
    ) -> Result<(Adapter, ProviderRef), ApiError> {
        let adapter = Adapter::for_provider(&prepared.provider, &self.searcher.clients).map_err(
            |reason| {
                ApiError::internal(anyhow::anyhow!(
                    "provider {}: {reason}",
                    prepared.provider.id
                ))
            },
        )?;
        let request = BookingRequest {
            reference: reference.to_owned(),
            unit_code: claims.unit_code.clone(),
            slot_ref: claims.slot_ref.clone(),
            start: claims.start,
            end: claims.end,
            quantity: claims.quantity,
            guest_name: prepared.contact.name.clone(),
            guest_phone: prepared.contact.phone.as_ref().map(|p| p.to_string()),
            guest_email: prepared.contact.email.as_ref().map(|e| e.to_string()),
        };
        let provider_ref = adapter.book(&request).await.map_err(adapter_error)?;
        Ok((adapter, provider_ref))
    }

    pub(super) async fn provider_of_user(&self, actor: &Actor) -> Result<Option<Uuid>, ApiError> {
        if actor.role != Role::Provider {
            return Ok(None);
        }
        let user_id = actor.user_id;
        run_blocking(&self.pool, move |conn| {
            Ok(crate::schema::users::table
                .find(user_id)
                .select(crate::schema::users::provider_id)
                .first::<Option<Uuid>>(conn)?)
        })
        .await
    }

    /// One booking, with its history, if the actor may see it.
    pub async fn get(&self, actor: &Actor, key: BookingKey) -> Result<BookingView, ApiError> {
        let visibility = visibility(actor, self.provider_of_user(actor).await?)?;
        let fees = self.searcher.fees;
        run_blocking(&self.pool, move |conn| {
            let row = store::find_visible(conn, key.id, key.reference.as_deref(), visibility)?;
            let provider = provider_store::find_provider(conn, row.provider_id)?;
            let events = store::list_events(conn, row.id)?;
            let payment = latest_payment(conn, row.id)?;
            let mut view = view(row, &provider, &fees, Some(events));
            view.payment = payment;
            Ok(view)
        })
        .await
    }

    pub async fn list(
        &self,
        actor: &Actor,
        mut filter: BookingFilter,
    ) -> Result<(Vec<BookingView>, Option<(DateTime<Utc>, Uuid)>), ApiError> {
        if (filter.customer_id.is_some() || filter.flagged.is_some()) && !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let visibility = visibility(actor, self.provider_of_user(actor).await?)?;
        let fees = self.searcher.fees;
        let limit = filter.limit;
        filter.limit = limit + 1;
        run_blocking(&self.pool, move |conn| {
            let mut rows = store::list_visible(conn, &filter, visibility)?;
            let more = rows.len() as i64 > limit;
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            let next = more
                .then(|| rows.last().map(|r| (r.created_at, r.id)))
                .flatten();
            let ids: Vec<Uuid> = rows.iter().map(|r| r.provider_id).collect();
            let found: Vec<ProviderRow> = providers::table
                .filter(providers::id.eq_any(ids))
                .select(ProviderRow::as_select())
                .load(conn)?;
            let views = rows
                .into_iter()
                .filter_map(|row| {
                    let provider = found.iter().find(|p| p.id == row.provider_id)?;
                    Some(view(row, provider, &fees, None))
                })
                .collect();
            Ok((views, next))
        })
        .await
    }

    /// Staff hand a held booking on to the provider without taking a payment through us (a
    /// client paying cash at the office): they must say why, and it is audited.
    pub async fn confirm(
        &self,
        actor: Actor,
        key: BookingKey,
        reason: Option<String>,
        answer: Option<IdempotencyClaim>,
    ) -> Result<BookingView, ApiError> {
        if !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| field("reason", "say why the booking goes ahead without payment"))?;
        let fees = self.searcher.fees;
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let row = store::find_visible(
                    conn,
                    key.id,
                    key.reference.as_deref(),
                    Visibility::Everything,
                )?;
                if row.status == BookingStatus::Held
                    && row.hold_expires_at.is_some_and(|at| at <= Utc::now())
                {
                    return Err(ApiError::InvalidState { status: "expired" });
                }
                let updated = lifecycle::transition(
                    conn,
                    row.id,
                    &Change {
                        event: BookingEvent::Submit,
                        actor: Some(&actor),
                        reason: Some(&reason),
                        refund: Refund::Nothing,
                        audit_action: "booking.confirm",
                    },
                )?;
                let provider = provider_store::find_provider(conn, updated.provider_id)?;
                answered(conn, answer.as_ref(), view(updated, &provider, &fees, None))
            })
        })
        .await
        .inspect(|_| self.wake.notify_waiters())
    }

    /// Cancels a live booking: claimed here with the refund the provider's policy allows
    /// and local inventory given back; the provider's copy is cancelled by a job after the
    /// commit (and the booking flagged for an agent if that keeps failing).
    pub async fn cancel(
        &self,
        actor: Actor,
        key: BookingKey,
        reason: Option<String>,
        answer: Option<IdempotencyClaim>,
    ) -> Result<BookingView, ApiError> {
        let visibility = visibility(&actor, self.provider_of_user(&actor).await?)?;
        if actor.role == Role::Provider {
            return Err(ApiError::Forbidden);
        }
        let fees = self.searcher.fees;
        let view = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let row = store::find_visible(conn, key.id, key.reference.as_deref(), visibility)?;
                let provider = provider_store::find_provider(conn, row.provider_id)?;
                let percent = provider_policy(&provider).refund_percent(row.starts_at, Utc::now());
                let updated = lifecycle::transition(
                    conn,
                    row.id,
                    &Change {
                        event: BookingEvent::Cancel,
                        actor: Some(&actor),
                        reason: reason.as_deref(),
                        refund: Refund::Percent(percent),
                        audit_action: "booking.cancel",
                    },
                )?;
                answered(conn, answer.as_ref(), view(updated, &provider, &fees, None))
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(view)
    }
}

/// What cancelling now would give back, for the customer to see before they decide.
#[derive(Debug, Serialize)]
pub struct CancellationQuote {
    /// Whether the booking can still be cancelled.
    pub allowed: bool,
    pub refund_percent: u32,
    /// Captured and not yet refunded.
    #[serde(with = "rust_decimal::serde::str")]
    pub paid: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub refund_amount: Decimal,
    pub currency: &'static str,
}

impl Bookings {
    /// The refund cancelling now would make: the provider's tier for the time left, applied
    /// to what was captured (the same arithmetic `cancel` uses).
    pub async fn cancellation_quote(
        &self,
        actor: &Actor,
        key: BookingKey,
    ) -> Result<CancellationQuote, ApiError> {
        let visibility = visibility(actor, self.provider_of_user(actor).await?)?;
        run_blocking(&self.pool, move |conn| {
            let row = store::find_visible(conn, key.id, key.reference.as_deref(), visibility)?;
            let provider = provider_store::find_provider(conn, row.provider_id)?;
            let paid = crate::billing::refunds::refundable(conn, row.id)?;
            let percent = provider_policy(&provider).refund_percent(row.starts_at, Utc::now());
            Ok(CancellationQuote {
                allowed: row.status.next(BookingEvent::Cancel).is_some(),
                refund_percent: percent,
                paid,
                refund_amount: crate::billing::refunds::policy_share(paid, percent),
                currency: "SAR",
            })
        })
        .await
    }

    /// Staff ask the provider again for a pending booking now, rather than wait for the
    /// next retry (say, once the provider's system is back).
    pub async fn retry_confirmation(
        &self,
        actor: Actor,
        key: BookingKey,
    ) -> Result<BookingView, ApiError> {
        if !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let fees = self.searcher.fees;
        let view = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let row = store::find_visible(
                    conn,
                    key.id,
                    key.reference.as_deref(),
                    Visibility::Everything,
                )?;
                if row.status != BookingStatus::Pending {
                    return Err(ApiError::InvalidState {
                        status: row.status.as_str(),
                    });
                }
                queue::run_again_now(
                    conn,
                    &format!("confirm:{}", row.id),
                    &Job::ConfirmBooking { booking_id: row.id },
                )?;
                audit::record(
                    conn,
                    &AuditEntry {
                        actor_id: actor.user_id,
                        actor_role: actor.role,
                        on_behalf_of: Some(row.customer_id),
                        action: "booking.retry_confirmation",
                        entity_type: "booking",
                        entity_id: row.reference.clone(),
                        request_id: actor.request_id.clone(),
                        details: serde_json::json!({}),
                    },
                )?;
                let provider = provider_store::find_provider(conn, row.provider_id)?;
                Ok(view(row, &provider, &fees, None))
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(view)
    }
}

fn latest_payment(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> Result<Option<BookingPayment>, ApiError> {
    use crate::schema::payments;
    let row: Option<(Uuid, String, Decimal, Decimal)> = payments::table
        .filter(payments::booking_id.eq(booking_id))
        .order(payments::created_at.desc())
        .select((
            payments::id,
            payments::status,
            payments::amount,
            payments::refunded,
        ))
        .first(conn)
        .optional()?;
    let Some((id, status, amount, refunded)) = row else {
        return Ok(None);
    };
    let invoice_id = crate::billing::invoices::of_payment(conn, id)?.map(|i| i.id);
    Ok(Some(BookingPayment {
        id,
        status,
        amount,
        refunded,
        invoice_id,
    }))
}

/// Saves `view` as the answer (200) of the request's Idempotency-Key, if it has one, in the
/// transaction that did the work.
fn answered(
    conn: &mut PgConnection,
    answer: Option<&IdempotencyClaim>,
    view: BookingView,
) -> Result<BookingView, ApiError> {
    if let Some(claim) = answer {
        claim.save_in(conn, actix_web::http::StatusCode::OK, &view)?;
    }
    Ok(view)
}

/// A booking named by its id or its reference.
#[derive(Debug, Clone)]
pub struct BookingKey {
    pub id: Option<Uuid>,
    pub reference: Option<String>,
}

pub(super) fn provider_policy(provider: &ProviderRow) -> CancellationPolicy {
    serde_json::from_value(provider.cancellation_policy.clone()).unwrap_or_else(|error| {
        // Policies are validated when written; a bad one refunds nothing rather than guess.
        tracing::error!(provider_id = %provider.id, %error, "unreadable cancellation policy");
        CancellationPolicy(Vec::new())
    })
}

pub(super) fn adapter_error(error: AdapterError) -> ApiError {
    match error {
        AdapterError::SoldOut => ApiError::SoldOut,
        AdapterError::Timeout(_) | AdapterError::Unavailable(_) => {
            ApiError::Unavailable(anyhow::anyhow!("provider: {error}"))
        }
        other => ApiError::internal(anyhow::anyhow!("provider: {other}")),
    }
}
