//! `/v1/bookings…`: extract, call the service, map the result.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::ack::Decision;
use super::change::ChangeInput;
use super::hold::{BookedRoom, Contact, NewBooking};
use super::reference::normalise;
use super::service::{BookingKey, Bookings};
use super::state::BookingStatus;
use super::store::BookingFilter;
use crate::auth::Caller;
use crate::billing::methods::MethodChoice;
use crate::domain::occupancy::RoomGuests;
use crate::domain::patient::PatientInput;
use crate::domain::{Email, PhoneNumber, text};
use crate::domain::{IdType, OFFICE_TIMEZONE, Patient, office_day_start};
use crate::error::{ApiError, FieldError};
use crate::http::client::ClientAddress;
use crate::http::cursor;
use crate::http::query::QueryParams;
use crate::http::{Json, RouteTable};
use crate::idempotency::IdempotencyClaim;
use crate::idempotency::require_key;

/// Holding an offer: its service takes the Idempotency-Key in the hold's own transaction.
const HOLD_PATH: &str = "/v1/bookings";

/// The POST routes whose work takes its Idempotency-Key itself (`IdempotencyClaim::take_in`),
/// so a request there is one commit; the middleware claims every other route's first.
pub const CLAIMED_IN_WORK: &[&str] = &[HOLD_PATH, super::waitlist::routes::JOIN_PATH];

pub fn routes(table: &mut RouteTable) {
    table
        .post(HOLD_PATH, bookings_create)
        .get("/v1/bookings", bookings_list)
        .get("/v1/bookings/{booking}", bookings_get)
        .get("/v1/bookings/{booking}/calendar.ics", bookings_calendar)
        .post("/v1/bookings/{booking}/pay", bookings_pay)
        .post("/v1/bookings/{booking}/confirm", bookings_confirm)
        .post("/v1/bookings/{booking}/cancel", bookings_cancel)
        .post("/v1/bookings/{booking}/change", bookings_change)
        .get("/v1/bookings/{booking}/cancellation", bookings_cancellation)
        .post(
            "/v1/bookings/{booking}/retry-confirmation",
            bookings_retry_confirmation,
        )
        .post("/v1/bookings/{booking}/no-show", bookings_no_show)
        .post(
            "/v1/bookings/{booking}/no-show/waive",
            bookings_no_show_waive,
        )
        .post("/v1/provider/bookings/{booking}/ack", provider_bookings_ack)
        .post(
            "/v1/provider/bookings/{booking}/no-show",
            provider_bookings_no_show,
        );
}

/// `{booking}` is the id or the reference (`WS-7K3F9Q`, any case).
pub(crate) fn booking_key(raw: &str) -> Result<BookingKey, ApiError> {
    if let Ok(id) = raw.parse::<Uuid>() {
        return Ok(BookingKey {
            id: Some(id),
            reference: None,
        });
    }
    normalise(raw)
        .map(|reference| BookingKey {
            id: None,
            reference: Some(reference),
        })
        .ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    name: String,
    phone: Option<String>,
    email: Option<String>,
}

/// A hospital appointment's patient as typed (`domain::patient` checks it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientRequest {
    full_name: String,
    birth_date: String,
    id_type: IdType,
    id_number: String,
    passport_country: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    offer_id: String,
    customer_id: Option<Uuid>,
    guests: Option<u32>,
    contact: Option<ContactRequest>,
    patient: Option<PatientRequest>,
    /// A stay's rooms in the offer's order, each with its guests and lead guest.
    rooms: Option<Vec<RoomRequest>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRequest {
    lead_guest: String,
    adults: u32,
    #[serde(default)]
    children: Vec<u32>,
}

impl std::fmt::Debug for PatientRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientRequest { .. }")
    }
}

impl PatientRequest {
    pub(crate) fn parse(&self, errors: &mut Vec<FieldError>) -> Option<Patient> {
        let input = PatientInput {
            full_name: &self.full_name,
            birth_date: &self.birth_date,
            id_type: self.id_type,
            id_number: &self.id_number,
            passport_country: self
                .passport_country
                .as_deref()
                .filter(|c| !c.trim().is_empty()),
        };
        let today = Utc::now().with_timezone(&OFFICE_TIMEZONE).date_naive();
        Patient::parse(&input, today)
            .map_err(|found| {
                errors.extend(
                    found
                        .into_iter()
                        .map(|(part, reason)| FieldError::new(format!("patient.{part}"), reason)),
                );
            })
            .ok()
    }
}

impl CreateBookingRequest {
    pub fn parse(self) -> Result<NewBooking, ApiError> {
        let mut errors = Vec::new();
        if self.offer_id.trim().is_empty() {
            errors.push(FieldError::new("offer_id", "is required"));
        }
        if self.guests.is_some_and(|g| g == 0 || g > 100) {
            errors.push(FieldError::new("guests", "must be between 1 and 100"));
        }
        let contact = self.contact.map(|contact| {
            let name = text::name(&contact.name, 200).unwrap_or_else(|reason| {
                errors.push(FieldError::new("contact.name", reason));
                String::new()
            });
            let phone = contact
                .phone
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .and_then(|raw| {
                    PhoneNumber::parse(raw)
                        .map_err(|reason| errors.push(FieldError::new("contact.phone", reason)))
                        .ok()
                });
            let email = contact
                .email
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .and_then(|raw| {
                    Email::parse(raw)
                        .map_err(|reason| errors.push(FieldError::new("contact.email", reason)))
                        .ok()
                });
            if phone.is_none()
                && email.is_none()
                && !errors.iter().any(|e| e.field.starts_with("contact."))
            {
                errors.push(FieldError::new("contact", "needs a phone or an email"));
            }
            Contact { name, phone, email }
        });
        let patient = self.patient.as_ref().and_then(|p| p.parse(&mut errors));
        let rooms = self.rooms.map(|rooms| {
            if rooms.is_empty() || rooms.len() > 9 {
                errors.push(FieldError::new("rooms", "between 1 and 9 rooms"));
            }
            rooms
                .into_iter()
                .enumerate()
                .map(|(i, room)| {
                    let lead_guest = text::name(&room.lead_guest, 200).unwrap_or_else(|reason| {
                        errors.push(FieldError::new(format!("rooms[{i}].lead_guest"), reason));
                        String::new()
                    });
                    let mut children = room.children;
                    children.sort_unstable();
                    if children
                        .iter()
                        .any(|age| *age > crate::domain::occupancy::MAX_CHILD_AGE)
                    {
                        errors.push(FieldError::new(
                            format!("rooms[{i}].children"),
                            "ages of 0 to 17 years",
                        ));
                    }
                    BookedRoom {
                        lead_guest,
                        guests: RoomGuests {
                            adults: room.adults,
                            children,
                        },
                    }
                })
                .collect::<Vec<_>>()
        });
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(NewBooking {
            offer_id: self.offer_id.trim().to_owned(),
            customer_id: self.customer_id,
            guests: self.guests,
            contact,
            patient,
            rooms,
        })
    }
}

async fn bookings_create(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    address: ClientAddress,
    Json(body): Json<CreateBookingRequest>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let booking = bookings
        .create(
            caller.actor(&req),
            body.parse()?,
            IdempotencyClaim::of(&req),
            address.key(),
        )
        .await?;
    Ok(HttpResponse::build(super::hold::hold_status(&booking)).json(booking))
}

async fn bookings_get(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let booking = bookings
        .get(&caller.actor(&req), booking_key(&path)?)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::ETAG, booking.etag.clone()))
        .json(booking))
}

/// The booking as a calendar entry to import, for whoever may read the booking; `lang`
/// (`ar` by default, like every customer) chooses the title's and the address's language.
async fn bookings_calendar(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let locale = params
        .parsed::<crate::domain::Locale>("lang", "ar or en")
        .unwrap_or_default();
    params.finish()?;
    let booking = bookings
        .get(&caller.actor(&req), booking_key(&path)?)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.ics\"", booking.reference),
        ))
        .body(super::view::calendar(&booking, locale)))
}

async fn bookings_list(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let status = params.parsed::<BookingStatus>("status", "a booking status");
    let from = params.parsed::<chrono::NaiveDate>("from", "a date (YYYY-MM-DD)");
    let to = params.parsed::<chrono::NaiveDate>("to", "a date (YYYY-MM-DD)");
    let provider_id = params.parsed::<Uuid>("provider_id", "a provider id");
    let customer_id = params.parsed::<Uuid>("customer_id", "a customer id");
    let flagged = params.parsed::<bool>("flagged", "true or false");
    let limit = params.limit();
    let after = params.cursor::<Uuid>();
    params.finish()?;
    // Dates are the office's (Riyadh) days.
    let filter = BookingFilter {
        status,
        starts_from: from.map(office_day_start),
        starts_before: to.and_then(|d| d.succ_opt()).map(office_day_start),
        provider_id,
        customer_id,
        flagged,
        after,
        limit,
    };
    let (bookings, next) = bookings.list(&caller.actor(&req), filter).await?;
    Ok(HttpResponse::Ok().json(
        json!({ "bookings": bookings, "next_cursor": next.map(|(at, id)| cursor::encode(at, id)) }),
    ))
}

/// Pays a held booking: 200 paid (or nothing was due), 202 when the bank asks for a 3-D
/// Secure step first.
async fn bookings_pay(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
    Json(body): Json<MethodChoice>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let key = booking_key(&path)?;
    let mut errors = Vec::new();
    let method = body.validate("", Utc::now(), &mut errors);
    let Some(method) = method.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let paid = bookings
        .pay(caller.actor(&req), key, method, IdempotencyClaim::of(&req))
        .await?;
    // Exactly what was saved for the request's Idempotency-Key with the payment.
    Ok(HttpResponse::build(paid.status).json(paid.body))
}

/// `{"reason": "…"}`: why staff hand the booking on without a payment through us.
async fn bookings_confirm(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let booking = bookings
        .confirm(
            caller.actor(&req),
            booking_key(&path)?,
            optional_reason(&body)?,
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(booking))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    reason: Option<String>,
}

/// A body that may be empty, or `{"reason": "…"}`; when one is sent it must be right.
fn optional_reason(body: &[u8]) -> Result<Option<String>, ApiError> {
    let reason = if body.is_empty() {
        None
    } else {
        crate::http::json::parse::<ReasonBody>(body)?.reason
    };
    reason_text(reason)
}

/// A reason as staff, customers and providers type it: up to 500 characters of free text;
/// a blank one is none.
fn reason_text(reason: Option<String>) -> Result<Option<String>, ApiError> {
    match reason.filter(|r| !r.trim().is_empty()) {
        None => Ok(None),
        Some(raw) => text::note(&raw, 500)
            .map(Some)
            .map_err(|reason| ApiError::Validation(vec![FieldError::new("reason", reason)])),
    }
}

async fn bookings_cancel(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let booking = bookings
        .cancel(
            caller.actor(&req),
            booking_key(&path)?,
            optional_reason(&body)?,
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(booking))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    offer_id: String,
    guests: Option<u32>,
    reason: Option<String>,
}

/// Changes a booking to another offer of its provider, all or nothing; `If-Match` (the
/// booking's `ETag`) makes it apply only to the version the client read.
async fn bookings_change(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
    Json(body): Json<ChangeRequest>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let key = booking_key(&path)?;
    let reason = reason_text(body.reason)?;
    if body.offer_id.trim().is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "offer_id",
            "is required",
        )]));
    }
    if body.guests == Some(0) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "guests",
            "must be at least 1",
        )]));
    }
    let if_match = req
        .headers()
        .get(actix_web::http::header::IF_MATCH)
        .map(|value| value.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::Validation(vec![FieldError::new("If-Match", "must be an ETag")]))?;
    let input = ChangeInput {
        offer_id: body.offer_id,
        guests: body.guests,
        reason,
        if_match,
    };
    let changed = bookings
        .change(caller.actor(&req), key, input, IdempotencyClaim::of(&req))
        .await?;
    Ok(HttpResponse::build(changed.status).json(changed.body))
}

/// What cancelling now would refund, before the customer decides.
async fn bookings_cancellation(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let quote = bookings
        .cancellation_quote(&caller.actor(&req), booking_key(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(quote))
}

async fn bookings_retry_confirmation(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let booking = bookings
        .retry_confirmation(caller.actor(&req), booking_key(&path)?)
        .await?;
    Ok(HttpResponse::Accepted().json(booking))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    decision: Decision,
    reason: Option<String>,
}

/// A provider login confirms or refuses one of its own bookings.
async fn provider_bookings_ack(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
    Json(body): Json<AckRequest>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_text(body.reason)?;
    let booking = bookings
        .acknowledge(
            caller.actor(&req),
            booking_key(&path)?,
            body.decision,
            reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(booking))
}

/// Staff mark a started booking a no-show: `{"reason": "…"}` is required (audited).
/// Providers use their own route.
async fn bookings_no_show(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&req);
    if !actor.is_staff() {
        return Err(ApiError::Forbidden);
    }
    let booking = bookings
        .mark_no_show(
            actor,
            booking_key(&path)?,
            optional_reason(&body)?,
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(booking))
}

/// Staff waive a no-show's fee, once: `{"reason": "…"}` is required (audited).
async fn bookings_no_show_waive(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&req);
    if !actor.is_staff() {
        return Err(ApiError::Forbidden);
    }
    let key = booking_key(&path)?;
    let reason = optional_reason(&body)?
        .ok_or_else(|| super::service::field("reason", "say why the fee is waived"))?;
    let booking = bookings
        .waive_no_show_fee(actor, key, reason, IdempotencyClaim::of(&req))
        .await?;
    Ok(HttpResponse::Ok().json(booking))
}

/// A provider login marks one of its own started bookings a no-show; the body may be
/// empty or `{"reason": "…"}`.
async fn provider_bookings_no_show(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&req);
    if actor.role != crate::auth::Role::Provider {
        return Err(ApiError::Forbidden);
    }
    let booking = bookings
        .mark_no_show(
            actor,
            booking_key(&path)?,
            optional_reason(&body)?,
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(booking))
}
