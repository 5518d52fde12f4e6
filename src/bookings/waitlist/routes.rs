//! `/v1/waitlist…`: extract, call the service, map the result.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::service::JoinInput;
use crate::auth::Caller;
use crate::bookings::routes::PatientRequest;
use crate::bookings::service::Bookings;
use crate::error::{ApiError, FieldError};
use crate::http::query::QueryParams;
use crate::http::{Json, RouteTable};
use crate::idempotency::{IdempotencyClaim, require_key};
use crate::providers::model::ProviderKind;

/// Joining takes its Idempotency-Key in its own transaction (`IdempotencyClaim::take_in`).
pub const JOIN_PATH: &str = "/v1/waitlist";

pub fn routes(table: &mut RouteTable) {
    table
        .post(JOIN_PATH, waitlist_join)
        .get("/v1/waitlist", waitlist_list)
        .get("/v1/waitlist/me", waitlist_mine)
        .get("/v1/waitlist/units", waitlist_units)
        .add(Method::DELETE, "/v1/waitlist/{entry}", waitlist_leave);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    provider_id: Uuid,
    unit_code: String,
    customer_id: Option<Uuid>,
    /// A room type's stay: check-in and check-out days (YYYY-MM-DD), rooms, guests.
    check_in: Option<String>,
    check_out: Option<String>,
    rooms: Option<u32>,
    guests: Option<u32>,
    /// A clinic's days, first and last (YYYY-MM-DD), and whom it is for.
    from: Option<String>,
    to: Option<String>,
    patient: Option<PatientRequest>,
}

impl JoinRequest {
    fn parse(self) -> Result<JoinInput, ApiError> {
        let mut errors = Vec::new();
        let mut day = |name: &str, raw: &Option<String>| {
            raw.as_deref().and_then(|raw| {
                NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                    .map_err(|_| errors.push(FieldError::new(name, "must be a date, YYYY-MM-DD")))
                    .ok()
            })
        };
        let (check_in, check_out) = (
            day("check_in", &self.check_in),
            day("check_out", &self.check_out),
        );
        let (from, to) = (day("from", &self.from), day("to", &self.to));
        let unit_code = self.unit_code.trim().to_owned();
        if unit_code.is_empty() || unit_code.len() > 100 {
            errors.push(FieldError::new(
                "unit_code",
                "is required (at most 100 characters)",
            ));
        }
        if self.guests.is_some_and(|g| g == 0 || g > 100) {
            errors.push(FieldError::new("guests", "must be between 1 and 100"));
        }
        let patient = self.patient.as_ref().and_then(|p| p.parse(&mut errors));
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(JoinInput {
            provider_id: self.provider_id,
            unit_code,
            customer_id: self.customer_id,
            check_in,
            check_out,
            rooms: self.rooms,
            guests: self.guests,
            from,
            to,
            patient,
        })
    }
}

async fn waitlist_join(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    Json(body): Json<JoinRequest>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let entry = bookings
        .join_waitlist(
            caller.actor(&req),
            body.parse()?,
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Created().json(entry))
}

/// Staff: everyone's entries, or one client's (`customer_id`), newest first.
async fn waitlist_list(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor(&req);
    if !actor.is_staff() {
        return Err(ApiError::Forbidden);
    }
    let mut params = QueryParams::from_request(&req)?;
    let customer_id = params.parsed::<Uuid>("customer_id", "a customer id");
    let limit = params.limit();
    let after = params.cursor::<Uuid>();
    params.finish()?;
    let page = bookings
        .list_waitlist(actor, customer_id, after, limit)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// What may be waited for in a city: our room types or clinic services (public, like search).
async fn waitlist_units(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let city = params.slug("city");
    let kind = params.parsed::<ProviderKind>("kind", "hotel or hospital");
    let specialty = params.slug("specialty");
    for name in ["city", "kind"] {
        if params.text(name).is_none() {
            params.error(name, "is required");
        }
    }
    params.finish()?;
    let (Some(city), Some(kind)) = (city, kind) else {
        return Err(ApiError::InvalidQuery(Vec::new()));
    };
    let units = bookings.waitable_units(city, kind, specialty).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "units": units })))
}

/// A customer's own entries, newest first.
async fn waitlist_mine(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let limit = params.limit();
    let after = params.cursor::<Uuid>();
    params.finish()?;
    let page = bookings
        .list_waitlist(caller.actor(&req), None, after, limit)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn waitlist_leave(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.parse::<Uuid>().map_err(|_| ApiError::NotFound)?;
    let entry = bookings.leave_waitlist(caller.actor(&req), id).await?;
    Ok(HttpResponse::Ok().json(entry))
}
