//! The client links' routes: the agent sends a consent or pay link and watches it
//! (`/v1/bookings/{b}/consent`, `/pay-link`, `/client-links`); the client, with no login,
//! reads and uses it by its token (`/v1/consents/{token}…`, `/v1/pay-links/{token}…`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::client_links::UsedFrom;
use super::consent::Decision;
use super::routes::booking_key;
use super::service::Bookings;
use crate::auth::Caller;
use crate::billing::methods::MethodChoice;
use crate::error::ApiError;
use crate::http::client::ClientAddress;
use crate::http::{Json, RouteTable};
use crate::idempotency::{IdempotencyClaim, require_key};

pub fn routes(table: &mut RouteTable) {
    table
        .post("/v1/bookings/{booking}/consent", bookings_consent_send)
        .post("/v1/bookings/{booking}/pay-link", bookings_pay_link_send)
        .get("/v1/bookings/{booking}/client-links", bookings_client_links)
        .get("/v1/consents/{token}", consents_get)
        .post("/v1/consents/{token}/approve", consents_approve)
        .post("/v1/consents/{token}/decline", consents_decline)
        .get("/v1/pay-links/{token}", pay_links_get)
        .post("/v1/pay-links/{token}/pay", pay_links_pay);
}

/// Where the client's request came from, as the consent record keeps it.
fn used_from(req: &HttpRequest, address: &ClientAddress) -> UsedFrom {
    UsedFrom {
        address: address.0.map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(512).collect()),
    }
}

/// Staff send the client the consent link (again).
async fn bookings_consent_send(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let status = bookings
        .send_consent(
            caller.actor(&req),
            booking_key(&path)?,
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Created().json(status))
}

/// Staff send the client a single-use link to pay a held booking on their own phone.
async fn bookings_pay_link_send(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_key(&req)?;
    let status = bookings
        .send_pay_link(
            caller.actor(&req),
            booking_key(&path)?,
            IdempotencyClaim::of(&req),
        )
        .await?;
    Ok(HttpResponse::Created().json(status))
}

/// Where a booking's consent and pay links stand (the agent console polls it).
async fn bookings_client_links(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let links = bookings
        .client_links_status(&caller.actor(&req), booking_key(&path)?)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(links))
}

async fn consents_get(
    bookings: web::Data<Bookings>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let page = bookings.consent_page(path.into_inner()).await?;
    Ok(private(page))
}

async fn consents_approve(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    path: web::Path<String>,
    address: ClientAddress,
) -> Result<HttpResponse, ApiError> {
    let page = bookings
        .decide_consent(
            path.into_inner(),
            Decision::Approve,
            used_from(&req, &address),
        )
        .await?;
    Ok(private(page))
}

async fn consents_decline(
    req: HttpRequest,
    bookings: web::Data<Bookings>,
    path: web::Path<String>,
    address: ClientAddress,
) -> Result<HttpResponse, ApiError> {
    let page = bookings
        .decide_consent(
            path.into_inner(),
            Decision::Decline,
            used_from(&req, &address),
        )
        .await?;
    Ok(private(page))
}

async fn pay_links_get(
    bookings: web::Data<Bookings>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let page = bookings.pay_link_page(path.into_inner()).await?;
    Ok(private(page))
}

/// The client pays on the link's page, with a card or a gateway token as `/pay` takes them:
/// 200 paid, 202 with a 3-D Secure step that returns to the link's page, 402 declined.
async fn pay_links_pay(
    bookings: web::Data<Bookings>,
    path: web::Path<String>,
    Json(body): Json<MethodChoice>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let method = body.validate("", Utc::now(), &mut errors);
    let Some(method) = method.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let paid = bookings.pay_by_link(path.into_inner(), method).await?;
    Ok(HttpResponse::build(paid.status)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(paid.body))
}

/// A link's page is the client's alone: never cached on the way.
fn private(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}
