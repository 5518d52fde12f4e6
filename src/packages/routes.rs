//! `/v1/search/packages` and `/v1/packages…`: extract, call the service, map the result.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::search;
use super::service::{NewPackage, PackageKey, Packages, under};
use super::store::{PackageFilter, Part};
use crate::auth::Caller;
use crate::billing::methods::MethodChoice;
use crate::bookings::reference::normalise_package;
use crate::bookings::routes::CreateBookingRequest;
use crate::config::{PackageSettings, SearchSettings};
use crate::error::{ApiError, FieldError};
use crate::http::client::ClientAddress;
use crate::http::cursor;
use crate::http::query::QueryParams;
use crate::http::{Json, RouteTable};
use crate::idempotency::{IdempotencyClaim, require_key};
use crate::providers::search::Searcher;

pub fn routes(table: &mut RouteTable) {
    table
        .get("/v1/search/packages", packages_search)
        .post("/v1/packages", packages_create)
        .get("/v1/packages", packages_list)
        .get("/v1/packages/{package}", packages_get)
        .post("/v1/packages/{package}/pay", packages_pay)
        .post("/v1/packages/{package}/cancel", packages_cancel);
}

/// `{package}` is the id or the reference (`WP-7K3F9Q`, any case).
fn package_key(raw: &str) -> Result<PackageKey, ApiError> {
    if let Ok(id) = raw.parse::<Uuid>() {
        return Ok(PackageKey {
            id: Some(id),
            reference: None,
        });
    }
    normalise_package(raw)
        .map(|reference| PackageKey {
            id: None,
            reference: Some(reference),
        })
        .ok_or(ApiError::NotFound)
}

async fn packages_search(
    req: HttpRequest,
    limits: web::Data<SearchSettings>,
    settings: web::Data<PackageSettings>,
    searcher: web::Data<Searcher>,
) -> Result<HttpResponse, ApiError> {
    let query = search::parse(&req, &limits, &settings)?;
    let searcher = searcher.into_inner();
    let answer = search::search(&searcher, query, &settings).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The appointment's and the stay's requests, each as `POST /v1/bookings` takes it (the
/// client staff book for named once, at the top).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePackageRequest {
    customer_id: Option<Uuid>,
    appointment: CreateBookingRequest,
    stay: CreateBookingRequest,
}

impl CreatePackageRequest {
    fn parse(self) -> Result<NewPackage, ApiError> {
        let appointment = self.appointment.parse().map_err(under(Part::Appointment));
        let stay = self.stay.parse().map_err(under(Part::Stay));
        let (mut appointment, mut stay) = match (appointment, stay) {
            (Ok(a), Ok(s)) => (a, s),
            (Err(ApiError::Validation(mut a)), Err(ApiError::Validation(s))) => {
                a.extend(s);
                return Err(ApiError::Validation(a));
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        if appointment.customer_id.is_some() || stay.customer_id.is_some() {
            return Err(ApiError::Validation(vec![FieldError::new(
                "customer_id",
                "is named once, at the top of the package",
            )]));
        }
        appointment.customer_id = self.customer_id;
        stay.customer_id = self.customer_id;
        Ok(NewPackage { appointment, stay })
    }
}

async fn packages_create(
    req: HttpRequest,
    packages: web::Data<Packages>,
    caller: Caller,
    address: ClientAddress,
    Json(body): Json<CreatePackageRequest>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let package = packages
        .hold(
            caller.actor(&req),
            body.parse()?,
            IdempotencyClaim::of(&req),
            address.key(),
        )
        .await?;
    Ok(HttpResponse::Created().json(package))
}

async fn packages_get(
    req: HttpRequest,
    packages: web::Data<Packages>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let package = packages
        .get(&caller.actor(&req), package_key(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(package))
}

async fn packages_list(
    req: HttpRequest,
    packages: web::Data<Packages>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let customer_id = params.parsed::<Uuid>("customer_id", "a customer id");
    let flagged = params.parsed::<bool>("flagged", "true or false");
    let limit = params.limit();
    let after = params.cursor::<Uuid>();
    params.only(&["customer_id", "flagged", "limit", "cursor"]);
    params.finish()?;
    let filter = PackageFilter {
        customer_id,
        flagged,
        after,
        limit,
    };
    let (found, next) = packages.list(&caller.actor(&req), filter).await?;
    Ok(HttpResponse::Ok().json(
        json!({ "packages": found, "next_cursor": next.map(|(at, id)| cursor::encode(at, id)) }),
    ))
}

/// Pays a held package: 200 paid, 202 when the bank asks for a 3-D Secure step first.
async fn packages_pay(
    req: HttpRequest,
    packages: web::Data<Packages>,
    caller: Caller,
    path: web::Path<String>,
    Json(body): Json<MethodChoice>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let key = package_key(&path)?;
    let mut errors = Vec::new();
    let method = body.validate("", Utc::now(), &mut errors);
    let Some(method) = method.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let paid = packages
        .pay(caller.actor(&req), key, method, IdempotencyClaim::of(&req))
        .await?;
    Ok(HttpResponse::build(paid.status).json(paid.body))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: Option<String>,
}

async fn packages_cancel(
    req: HttpRequest,
    packages: web::Data<Packages>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let reason = if body.is_empty() {
        None
    } else {
        crate::http::json::parse::<CancelBody>(&body)?.reason
    };
    let reason = match reason.filter(|r| !r.trim().is_empty()) {
        None => None,
        Some(raw) => Some(
            crate::domain::text::note(&raw, 500)
                .map_err(|why| ApiError::Validation(vec![FieldError::new("reason", why)]))?,
        ),
    };
    let package = packages
        .cancel(
            caller.actor(&req),
            package_key(&path)?,
            reason,
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(package))
}
