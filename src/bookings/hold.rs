//! Holding an offer: a `held` booking with its inventory taken at once, never overbooking.
//! Local inventory is checked and held on one connection; an outside provider books between
//! the check and the write, and is released if the write fails. When the provider's answer
//! is lost (sent, then a timeout or a dropped connection) the hold is written unconfirmed
//! and settled later by asking the provider (`uncertain.rs`).

use chrono::Utc;
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::lifecycle;
use super::patients::PatientView;
use super::prepare::{Prepared, nights_between, prepare, timezone_of};
use super::reference::new_reference;
use super::service::Bookings;
use super::state::BookingStatus;
use super::store::{self, NewBookingRow};
use super::uncertain;
use super::view::{BookingView, view};
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::domain::money::{FeePolicy, Quote};
use crate::domain::occupancy::RoomGuests;
use crate::domain::{Email, Patient, PhoneNumber};
use crate::error::ApiError;
use crate::http::rate_limit::RateLimit;
use crate::idempotency::IdempotencyClaim;
use crate::jobs::BookingEmail;
use crate::providers::adapter::{Adapter, AdapterError};
use crate::providers::model::{BookingRequest, ProviderKind, ProviderOffer, RoomRequest};
use crate::providers::offer::{OfferClaims, OfferIdError};
use crate::providers::store::{ProviderRow, UnitRow};

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
    /// Who will be seen: required at a hospital, refused at a hotel (`prepare.rs`).
    pub patient: Option<Patient>,
    /// A stay's rooms with their lead guests; their guests must be the offer's, room by
    /// room. None: the offer's rooms, each under the contact's name.
    pub rooms: Option<Vec<BookedRoom>>,
}

/// A room of a stay as booked: who stays, and who the desk asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BookedRoom {
    pub lead_guest: String,
    #[serde(flatten)]
    pub guests: RoomGuests,
}

impl BookedRoom {
    /// The room as its provider is told of it.
    pub fn request(&self) -> RoomRequest {
        RoomRequest {
            lead_guest: self.lead_guest.clone(),
            adults: self.guests.adults,
            children: self.guests.children.clone(),
        }
    }
}

/// What keeps one customer or one address from sitting on inventory.
#[derive(Debug, Clone, Copy)]
pub struct HoldLimits {
    /// Held bookings one customer may have at once (`bookings.max_live_holds`; 0: no cap).
    pub max_live: u32,
    /// Holds per client address (`bookings.holds_per_address_per_hour`); staff, who book
    /// for many clients from one office, are not counted.
    pub per_address: RateLimit,
}

impl HoldLimits {
    /// Refuses a hold that would give the customer more than `max_live` live holds. Run it
    /// in the hold's transaction: it locks the customer's row, so two holds of one customer
    /// are counted one after the other.
    fn check_live(&self, conn: &mut PgConnection, customer_id: Uuid) -> Result<(), ApiError> {
        if self.max_live == 0 {
            return Ok(());
        }
        crate::customers::store::lock_customer(conn, customer_id)?;
        self.refuse_over_cap(conn, customer_id)
    }

    /// The same count without the lock: refuses early, before an outside provider is asked.
    fn refuse_over_cap(&self, conn: &mut PgConnection, customer_id: Uuid) -> Result<(), ApiError> {
        use crate::schema::bookings::dsl as b;
        if self.max_live == 0 {
            return Ok(());
        }
        let live: i64 = b::bookings
            .filter(b::customer_id.eq(customer_id))
            .filter(b::status.eq(BookingStatus::Held))
            .filter(b::hold_expires_at.gt(Utc::now()))
            .count()
            .get_result(conn)?;
        if live >= i64::from(self.max_live) {
            return Err(ApiError::Conflict {
                code: "booking.too_many_holds",
                detail: format!(
                    "this customer already has {live} unpaid holds (at most {}): pay or \
                     cancel one first",
                    self.max_live
                ),
            });
        }
        Ok(())
    }
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
    limits: HoldLimits,
}

impl HoldTerms {
    /// Whether the offer's total is still what the provider's price comes to today, with the
    /// plan discount the offer was priced with, and that discount is the customer's to have
    /// (a subscriber's offer held by someone without the plan is priced again for them).
    fn price_holds(&self, prepared: &Prepared, claims: &OfferClaims) -> bool {
        claims.fee_discount <= prepared.fee_discount
            && self
                .fees
                .quote_with_discount(prepared.provider_price, claims.fee_discount)
                .total()
                == claims.total
    }

    /// What the customer's plan takes off our fee on this booking.
    fn fee_discount(&self, prepared: &Prepared) -> Decimal {
        self.quote(prepared).fee_discount
    }

    /// The booking's price, with the customer's plan discount, which is at least the offer's:
    /// a subscriber booking an offer they found signed out gets theirs.
    fn quote(&self, prepared: &Prepared) -> Quote {
        self.fees
            .quote_with_discount(prepared.provider_price, prepared.fee_discount)
    }

    fn row(
        &self,
        prepared: &Prepared,
        claims: &OfferClaims,
        actor: &Actor,
        reference: String,
        provider_ref: Option<String>,
    ) -> NewBookingRow {
        let quote = self.quote(prepared);
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
    /// The outside provider's answer to the booking was lost: its `book` step is opened and
    /// the job that settles it queued (first run after this grace); the answer is 202.
    unconfirmed: Option<chrono::Duration>,
}

/// What a hold writes besides its answer: the booking, a hospital's patient, a stay's rooms
/// with their guests, and how many cells of our own inventory it takes.
struct HoldRecord<'a> {
    row: &'a NewBookingRow,
    /// What the customer's plan takes off our fee.
    fee_discount: Decimal,
    patient: Option<&'a Patient>,
    rooms: &'a [BookedRoom],
    cells: usize,
    /// The email that announces it: a hold's, or a waitlist offer's.
    announce: BookingEmail,
}

/// Writes a hold in one transaction: the booking, its patient (a hospital's), its rooms, its `cells` of
/// local inventory (all of them or none: else sold out), its first event, its email and the
/// request's answer (an unconfirmed one opens its `book` step, `HoldAnswer::unconfirmed`).
fn save_hold(
    conn: &mut PgConnection,
    hold: HoldRecord<'_>,
    actor: Option<&Actor>,
    answer: HoldAnswer<'_>,
    (limits, links): (&HoldLimits, Option<&super::consent::LinkSettings>),
) -> Result<BookingView, ApiError> {
    let HoldRecord {
        row,
        fee_discount,
        patient,
        rooms,
        cells,
        announce,
    } = hold;
    conn.transaction(|conn| {
        // The key first, in this transaction: the hold, its key and its answer are one
        // commit, and a twin sent at the same moment waits here for it, then replays it.
        if let Some(claim) = answer.claim {
            claim.take_in(conn)?;
        }
        limits.check_live(conn, row.customer_id)?;
        let booking = store::insert_booking(conn, row)?;
        store::insert_rooms(conn, booking.id, rooms)?;
        if let Some(patient) = patient {
            super::patients::insert(conn, booking.id, patient)?;
        }
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
        lifecycle::record(conn, &booking, actor, None, None, "booking.create")?;
        lifecycle::enqueue_email(conn, &booking, announce)?;
        // Booked by an agent: the client may have to approve it first (its consent link).
        // A waitlist offer (no actor) is the customer's own request, asked nothing.
        if let (Some(actor), Some(links)) = (actor, links) {
            super::consent::ask_at_hold(conn, &booking, actor, links)?;
        }
        if let Some(grace) = answer.unconfirmed {
            uncertain::open_book(conn, &booking, grace)?;
        }
        // A new booking has no earlier discount to forget.
        if fee_discount > Decimal::ZERO {
            store::keep_fee_discount(conn, booking.id, fee_discount)?;
        }
        let mut held = view(booking, answer.provider, answer.fees, None);
        held.price.fee_discount = fee_discount;
        held.patient = patient.map(PatientView::from);
        uncertain::show(&mut held, answer.unconfirmed.is_some());
        if let Some(claim) = answer.claim {
            claim.save_in(conn, hold_status(&held), &held)?;
        }
        Ok(held)
    })
}

/// 201 for a hold, 202 when the outside provider's answer was lost and we are asking it.
pub fn hold_status(held: &BookingView) -> actix_web::http::StatusCode {
    match held.provider_status {
        Some(_) => actix_web::http::StatusCode::ACCEPTED,
        None => actix_web::http::StatusCode::CREATED,
    }
}

/// Whom a waitlist offer's hold is for, and on what terms it is written.
pub(super) struct Waiter<'a> {
    pub(super) customer_id: Uuid,
    /// Where they joined the list: `web`, or `phone` through an agent.
    pub(super) channel: &'a str,
    pub(super) guests: Option<u32>,
    pub(super) patient: Option<Patient>,
}

/// A waitlist offer's hold: the stay or slot `claims` describes held for `waiter` until
/// `offer` has passed, prepared and written by the same code as any hold (`prepare`, then
/// `save_hold`: all of its cells through `store::reserve_cells` or none, else sold out),
/// announced by the offer's email. The system writes it, so no actor is recorded; the
/// waiter's live-hold cap does not apply (the offer is ours, not a hold they asked for).
/// Run it in a savepoint: sold out leaves nothing behind.
pub(super) fn hold_for_waiter(
    conn: &mut PgConnection,
    fees: FeePolicy,
    offer: chrono::Duration,
    claims: &OfferClaims,
    waiter: Waiter<'_>,
) -> Result<BookingView, ApiError> {
    // `prepare` reads the actor's role only to learn whom the hold is for: a staff-shaped
    // actor names the customer by id, as an agent booking for a client does.
    let acting_for = Actor {
        user_id: Uuid::nil(),
        role: crate::auth::Role::Agent,
        request_id: None,
    };
    let input = NewBooking {
        offer_id: String::new(),
        customer_id: Some(waiter.customer_id),
        guests: waiter.guests,
        contact: None,
        patient: waiter.patient,
        rooms: None,
    };
    let prepared = prepare(conn, claims, &acting_for, &input)?;
    let limits = HoldLimits {
        max_live: 0,
        // Not asked of an offer: no address made it.
        per_address: RateLimit {
            name: "hold",
            code: "booking.rate_limited",
            limit: 0,
            window: chrono::Duration::hours(1),
        },
    };
    let terms = HoldTerms {
        fees,
        hold: offer,
        limits,
    };
    let mut row = terms.row(
        &prepared,
        claims,
        &acting_for,
        new_reference().map_err(ApiError::Internal)?,
        None,
    );
    row.channel = waiter.channel.to_owned();
    row.created_by = None;
    let answer = HoldAnswer {
        provider: &prepared.provider,
        fees: &terms.fees,
        claim: None,
        unconfirmed: None,
    };
    let record = HoldRecord {
        row: &row,
        fee_discount: terms.fee_discount(&prepared),
        patient: prepared.patient.as_ref(),
        rooms: &prepared.rooms,
        cells: prepared.cells,
        announce: BookingEmail::WaitlistOffer,
    };
    save_hold(conn, record, None, answer, (&limits, None))
}

impl Bookings {
    pub(super) fn verify_offer(&self, offer_id: &str) -> Result<OfferClaims, ApiError> {
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
    /// `address` is the caller's rate-limit key (`http::client::ClientAddress::key`).
    pub async fn create(
        &self,
        actor: Actor,
        input: NewBooking,
        claim: Option<IdempotencyClaim>,
        address: String,
    ) -> Result<BookingView, ApiError> {
        self.create_priced(actor, input, claim, address, self.searcher.fees)
            .await
    }

    /// [`Self::create`] priced with `fees`: a package's stay is held without a fee of its
    /// own (`FeePolicy::without_fee`), the package's one fee being on its appointment; its
    /// offer id was signed so (a hold at full fees answers 409 `booking.offer_changed`).
    pub async fn create_priced(
        &self,
        actor: Actor,
        input: NewBooking,
        claim: Option<IdempotencyClaim>,
        address: String,
        fees: FeePolicy,
    ) -> Result<BookingView, ApiError> {
        let claims = self.verify_offer(&input.offer_id)?;
        let terms = HoldTerms {
            fees,
            hold: self.hold,
            limits: self.hold_limits,
        };
        let step = {
            let (claims, actor, claim) = (claims.clone(), actor.clone(), claim.clone());
            let links = self.client_links.clone();
            run_blocking(&self.pool, move |conn| {
                // Sold out is answered from prepare's first read, before anything is
                // written: only holds that may be written count against the address.
                let prepared = prepare(conn, &claims, &actor, &input)?;
                if !actor.is_staff() {
                    terms.limits.per_address.take(conn, &address)?;
                }
                if prepared.unit.is_none() {
                    terms.limits.refuse_over_cap(conn, prepared.customer.id)?;
                }
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
                    unconfirmed: None,
                };
                let record = HoldRecord {
                    row: &row,
                    fee_discount: terms.fee_discount(&prepared),
                    patient: prepared.patient.as_ref(),
                    rooms: &prepared.rooms,
                    cells: prepared.cells,
                    announce: BookingEmail::Held,
                };
                let held = save_hold(
                    conn,
                    record,
                    Some(&actor),
                    answer,
                    (&terms.limits, Some(&links)),
                )?;
                Ok(HoldStep::Held(held))
            })
            .await?
        };
        let prepared = match step {
            HoldStep::Held(held) => return Ok(held),
            HoldStep::Stopped(prepared) if !terms.price_holds(&prepared, &claims) => {
                return Err(self.offer_changed(
                    &prepared.provider,
                    prepared.unit.as_ref(),
                    (prepared.provider_price, prepared.fee_discount),
                    prepared.room_lines.clone(),
                    &claims,
                ));
            }
            HoldStep::Stopped(prepared) => prepared,
        };

        // An outside provider's booking is not undone by a rollback: the key is taken in a
        // commit of its own first, so a twin waits for this answer instead of booking again.
        if let Some(claim) = &claim {
            claim.take_now(&self.pool).await?;
        }
        let reference = new_reference().map_err(ApiError::Internal)?;
        let (adapter, request) = self.provider_booking(&prepared, &claims, &reference)?;
        let provider_ref = match adapter.book(&request).await {
            Ok(provider_ref) => Some(provider_ref),
            // Sent, and no answer: it may have been booked. No guess either way: the hold is
            // written unconfirmed and a job asks the provider by our reference.
            Err(error) if error.is_uncertain() => {
                tracing::warn!(%reference, %error, "a provider's answer to a booking was lost; the hold is unconfirmed");
                None
            }
            // A 5xx partway (the Slot held, then the Appointment refused by a failing
            // server) leaves a first step that no booking records: give it back before
            // answering. Best effort: the provider is failing already.
            Err(error @ AdapterError::Unavailable(_)) => {
                if let Err(release_error) = adapter.release(&request).await {
                    tracing::warn!(%reference, error = %release_error, "could not give back a failed booking's first steps");
                }
                return Err(adapter_error(error));
            }
            Err(error) => return Err(adapter_error(error)),
        };
        // A request still in flight when we gave up has had this long to land when the job
        // first asks.
        let unconfirmed = provider_ref.is_none().then(|| {
            chrono::Duration::from_std(self.searcher.provider_timeout).unwrap_or_default()
        });
        let row = terms.row(
            &prepared,
            &claims,
            &actor,
            reference,
            provider_ref.as_ref().map(|r| r.0.clone()),
        );
        let fee_discount = terms.fee_discount(&prepared);
        let provider = prepared.provider.clone();
        let patient = prepared.patient.clone();
        let rooms = prepared.rooms.clone();
        let links = self.client_links.clone();
        let saved = run_blocking(&self.pool, move |conn| {
            let answer = HoldAnswer {
                provider: &provider,
                fees: &terms.fees,
                claim: claim.as_ref(),
                unconfirmed,
            };
            let record = HoldRecord {
                row: &row,
                fee_discount,
                patient: patient.as_ref(),
                rooms: &rooms,
                cells: 0,
                announce: BookingEmail::Held,
            };
            save_hold(
                conn,
                record,
                Some(&actor),
                answer,
                (&terms.limits, Some(&links)),
            )
        })
        .await;
        match saved {
            Ok(held) => {
                if unconfirmed.is_some() {
                    self.wake.notify_waiters();
                }
                Ok(held)
            }
            Err(error) => {
                // The provider holds (or may hold) something we never recorded: give it back.
                let undone = match &provider_ref {
                    Some(provider_ref) => adapter.cancel(provider_ref).await,
                    None => adapter.release(&request).await,
                };
                if let Err(cancel_error) = undone {
                    tracing::error!(error = %cancel_error, reference = %request.reference, "could not release an unrecorded provider booking");
                }
                Err(error)
            }
        }
    }

    /// 409 `booking.offer_changed` with the offer as it stands now: the provider's price moved
    /// (or the offer carried a plan discount the customer does not have); priced with the
    /// customer's `fee_discount`.
    pub(super) fn offer_changed(
        &self,
        provider: &ProviderRow,
        unit: Option<&UnitRow>,
        (provider_price, fee_discount): (Decimal, i32),
        rooms: Vec<crate::providers::rates::RoomLine>,
        claims: &OfferClaims,
    ) -> ApiError {
        let fresh = ProviderOffer {
            unit_code: claims.unit_code.clone(),
            unit_name_ar: unit.map(|u| u.name_ar.clone()).unwrap_or_default(),
            unit_name_en: unit.map(|u| u.name_en.clone()).unwrap_or_default(),
            start: claims.start,
            end: claims.end,
            quantity: claims.quantity,
            provider_price,
            slot_ref: claims.slot_ref.clone(),
            specialty: unit.and_then(|u| u.specialty.clone()),
            practitioner: unit.and_then(|u| u.practitioner.clone()),
            max_guests: unit
                .and_then(|u| u.max_guests)
                .and_then(|g| u32::try_from(g).ok()),
            rooms,
            available: None,
        };
        let nights = (provider.kind == ProviderKind::Hotel)
            .then(|| timezone_of(provider).ok())
            .flatten()
            .map(|tz| u32::try_from(nights_between(claims.start, claims.end, tz)).unwrap_or(0));
        let offer = self
            .searcher
            .offer_for(provider, fresh, claims.guests, nights, fee_discount);
        ApiError::OfferChanged {
            fresh: Box::new(serde_json::to_value(offer).unwrap_or_default()),
        }
    }

    /// The outside provider's adapter and what it is asked to book.
    fn provider_booking(
        &self,
        prepared: &Prepared,
        claims: &OfferClaims,
        reference: &str,
    ) -> Result<(Adapter, BookingRequest), ApiError> {
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
            patient: prepared.patient.clone(),
            rooms: prepared.rooms.iter().map(BookedRoom::request).collect(),
        };
        Ok((adapter, request))
    }
}

fn adapter_error(error: AdapterError) -> ApiError {
    match error {
        AdapterError::SoldOut => ApiError::SoldOut,
        // A refused address is a provider we cannot reach from here, not our failure.
        AdapterError::Timeout(_)
        | AdapterError::NoAnswer(_)
        | AdapterError::Unavailable(_)
        | AdapterError::Refused(_) => ApiError::Unavailable(anyhow::anyhow!("provider: {error}")),
        other => ApiError::internal(anyhow::anyhow!("provider: {other}")),
    }
}
