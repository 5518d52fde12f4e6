//! The SMS routes: the gateway's signed callbacks (`/v1/sms/receipts`, `/v1/sms/inbound`),
//! a customer's own consent (`/v1/me/sms`) and the consent an agent records for a client on
//! the phone (`/v1/customers/{id}/sms`).

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Sms;
use super::consent::{self, ConsentView, Source};
use super::outbox::{self, Receipt};
use crate::audit::{self, AuditEntry};
use crate::auth::caller::Staff;
use crate::auth::{Caller, Role};
use crate::db::{PgPool, run_blocking};
use crate::domain::PhoneNumber;
use crate::error::{ApiError, FieldError};
use crate::http::{Json, RouteTable};
use crate::schema::customers;
use crate::telemetry::RequestId;

pub fn routes(table: &mut RouteTable) {
    table
        .post("/v1/sms/receipts", sms_receipts_create)
        .post("/v1/sms/inbound", sms_inbound_create)
        .get("/v1/me/sms", me_sms_get)
        .patch("/v1/me/sms", me_sms_update)
        .patch("/v1/customers/{customer_id}/sms", customers_sms_update);
}

/// Checks a callback's Standard Webhooks signature; 404 when no receipt secret is set.
fn verified(req: &HttpRequest, sms: &Sms, body: &[u8]) -> Result<(), ApiError> {
    let Some(key) = &sms.receipt_key else {
        return Err(ApiError::NotFound);
    };
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    crate::notify::webhooks::verify(
        key,
        (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ),
        body,
        sms.receipt_tolerance_secs,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|refused| {
        tracing::warn!(%refused, "refused an SMS callback");
        ApiError::SignatureRefused(vec![FieldError::new(refused.header, refused.reason)])
    })
}

/// A delivery receipt: the message's status, applied once.
async fn sms_receipts_create(
    req: HttpRequest,
    sms: web::Data<Sms>,
    pool: web::Data<PgPool>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    verified(&req, &sms, &body)?;
    let receipt: Receipt = crate::http::json::parse(&body)?;
    let applied = run_blocking(&pool, move |conn| {
        conn.transaction(|conn| outbox::apply_receipt(conn, &receipt))
    })
    .await?;
    Ok(HttpResponse::Ok().json(applied))
}

/// A reply to one of our texts, as the gateway forwards it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Inbound {
    from: String,
    body: String,
}

/// Whether a reply asks us to stop: STOP, or إيقاف (with or without its hamza), alone.
fn is_stop(reply: &str) -> bool {
    let word = reply
        .trim()
        .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    word.eq_ignore_ascii_case("stop") || word == "إيقاف" || word == "ايقاف"
}

/// An inbound reply: STOP opts every customer with that number out; anything else is
/// acknowledged and ignored (no one reads replies).
async fn sms_inbound_create(
    req: HttpRequest,
    sms: web::Data<Sms>,
    pool: web::Data<PgPool>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    verified(&req, &sms, &body)?;
    let inbound: Inbound = crate::http::json::parse(&body)?;
    let from = PhoneNumber::parse(&inbound.from)
        .map_err(|reason| ApiError::Validation(vec![FieldError::new("from", reason)]))?;
    if !is_stop(&inbound.body) {
        return Ok(HttpResponse::Ok().json(json!({ "stop": false, "opted_out": 0 })));
    }
    let opted_out = run_blocking(&pool, move |conn| {
        Ok(conn.transaction(|conn| consent::opt_out_phone(conn, from.as_str()))?)
    })
    .await?;
    tracing::info!(opted_out, "STOP reply recorded");
    Ok(HttpResponse::Ok().json(json!({ "stop": true, "opted_out": opted_out })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    opted_in: bool,
    /// Where texts should go (E.164, or a Saudi number typed the local way).
    #[serde(default)]
    phone: Option<String>,
}

impl ConsentRequest {
    fn phone(&self) -> Result<Option<PhoneNumber>, ApiError> {
        self.phone
            .as_deref()
            .map(PhoneNumber::parse)
            .transpose()
            .map_err(|reason| ApiError::Validation(vec![FieldError::new("phone", reason)]))
    }
}

/// Sets the customer's phone when given, then records the choice; an opt-in needs a phone.
fn change_consent(
    conn: &mut PgConnection,
    customer_id: Uuid,
    choice: &ConsentRequest,
    phone: Option<&PhoneNumber>,
    source: Source,
) -> Result<ConsentView, ApiError> {
    if let Some(phone) = phone {
        diesel::update(customers::table.find(customer_id))
            .set((
                customers::phone.eq(phone.as_str()),
                customers::updated_at.eq(chrono::Utc::now()),
            ))
            .execute(conn)?;
    }
    let has_phone: Option<String> = customers::table
        .find(customer_id)
        .select(customers::phone)
        .first(conn)?;
    if choice.opted_in && has_phone.is_none() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "phone",
            "is needed to receive text messages",
        )]));
    }
    consent::record(conn, customer_id, choice.opted_in, source)?;
    Ok(consent::view(conn, customer_id)?)
}

/// The signed-in customer's own customer row (made on first use, as a first booking would).
fn own_customer(conn: &mut PgConnection, caller: &Caller) -> Result<Uuid, ApiError> {
    if caller.role != Role::Customer {
        return Err(ApiError::Forbidden);
    }
    let user = crate::auth::store::find_active_user(conn, caller.user_id)?;
    Ok(crate::customers::customer_for_user(conn, &user.into())?.id)
}

async fn me_sms_get(caller: Caller, pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    let view = run_blocking(&pool, move |conn| {
        let customer_id = own_customer(conn, &caller)?;
        Ok(consent::view(conn, customer_id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn me_sms_update(
    caller: Caller,
    pool: web::Data<PgPool>,
    Json(choice): Json<ConsentRequest>,
) -> Result<HttpResponse, ApiError> {
    let phone = choice.phone()?;
    let view = run_blocking(&pool, move |conn| {
        conn.transaction(|conn| {
            let customer_id = own_customer(conn, &caller)?;
            change_consent(conn, customer_id, &choice, phone.as_ref(), Source::Profile)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// An agent records what a client said on the phone (audited).
async fn customers_sms_update(
    req: HttpRequest,
    Staff(staff): Staff,
    pool: web::Data<PgPool>,
    path: web::Path<Uuid>,
    Json(choice): Json<ConsentRequest>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let phone = choice.phone()?;
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    let view = run_blocking(&pool, move |conn| {
        conn.transaction(|conn| {
            crate::customers::find_customer(conn, customer_id)?;
            let view = change_consent(conn, customer_id, &choice, phone.as_ref(), Source::Agent)?;
            audit::record(
                conn,
                &AuditEntry {
                    actor_id: staff.user_id,
                    actor_role: staff.role,
                    on_behalf_of: Some(customer_id),
                    action: "customer.sms_consent",
                    entity_type: "customer",
                    entity_id: customer_id.to_string(),
                    request_id,
                    details: json!({ "opted_in": choice.opted_in }),
                },
            )?;
            Ok(view)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[cfg(test)]
mod tests {
    use super::is_stop;

    #[test]
    fn stop_is_the_whole_reply_in_either_language() {
        for reply in ["STOP", " stop ", "Stop.", "إيقاف", "ايقاف", "\nإيقاف!"] {
            assert!(is_stop(reply), "{reply:?}");
        }
        for reply in ["", "stop please", "don't stop", "إيقاف الحجز", "STOPP"] {
            assert!(!is_stop(reply), "{reply:?}");
        }
    }
}
