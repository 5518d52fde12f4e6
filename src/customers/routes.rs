//! `/v1/customers…`: office staff (agents, admins) enter phone clients and look them up.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::service::{self, NewCustomer};
use crate::auth::caller::Staff;
use crate::db::PgPool;
use crate::domain::{Email, Locale, PhoneNumber, text};
use crate::error::{ApiError, FieldError};
use crate::http::query::QueryParams;
use crate::http::{Json, RouteTable};
use crate::telemetry::RequestId;

pub fn routes(table: &mut RouteTable) {
    table
        .post("/v1/customers", customers_create)
        .get("/v1/customers", customers_list)
        .get("/v1/customers/{customer_id}", customers_get);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerRequest {
    full_name: String,
    phone: String,
    email: Option<String>,
    locale: Option<Locale>,
}

impl CreateCustomerRequest {
    /// Every field's problem at once, so the agent's form can mark them all.
    fn parse(self) -> Result<NewCustomer, ApiError> {
        let mut errors = Vec::new();
        let full_name = text::name(&self.full_name, 200)
            .map_err(|reason| errors.push(FieldError::new("full_name", reason)))
            .ok();
        let phone = PhoneNumber::parse(&self.phone)
            .map_err(|reason| errors.push(FieldError::new("phone", reason)))
            .ok();
        // An empty email box on the form means none.
        let email = match self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            None => None,
            Some(raw) => Email::parse(raw)
                .map_err(|reason| errors.push(FieldError::new("email", reason)))
                .ok(),
        };
        match (full_name, phone) {
            (Some(full_name), Some(phone)) if errors.is_empty() => Ok(NewCustomer {
                full_name,
                phone,
                email,
                locale: self.locale.unwrap_or_default(),
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.0.clone())
}

async fn customers_create(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    Staff(staff): Staff,
    Json(body): Json<CreateCustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = body.parse()?;
    let customer = service::create_customer(&pool, staff, new, request_id(&req)).await?;
    Ok(HttpResponse::Created().json(customer))
}

async fn customers_list(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    _staff: Staff,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let phone = params
        .required_text("phone")
        .and_then(|raw| match PhoneNumber::parse(&raw) {
            Ok(phone) => Some(phone),
            Err(reason) => {
                params.error("phone", reason);
                None
            }
        });
    let name_prefix = params.text("q").map(str::to_owned);
    if name_prefix
        .as_ref()
        .is_some_and(|q| q.chars().count() > 200)
    {
        params.error("q", "must be at most 200 characters");
    }
    params.finish()?;
    let Some(phone) = phone else {
        // finish() has already reported a missing phone; a handler never panics.
        return Err(ApiError::internal(anyhow::anyhow!(
            "phone passed checks but is missing"
        )));
    };
    let customers = service::find_by_phone(&pool, phone, name_prefix).await?;
    Ok(HttpResponse::Ok().json(json!({ "customers": customers })))
}

async fn customers_get(
    pool: web::Data<PgPool>,
    _staff: Staff,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let customer = service::get_customer(&pool, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(customer))
}
