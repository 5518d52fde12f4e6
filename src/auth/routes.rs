//! `/v1/auth/*` and `/v1/me`: extract, call the service, map the result.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::AuthConfig;
use super::caller::Admin;
use super::model::NewAccount;
use super::{Caller, service};
use crate::db::{PgPool, run_blocking};
use crate::domain::Role;
use crate::domain::{Email, Locale, PhoneNumber, text};
use crate::error::{ApiError, FieldError};
use crate::http::client::{ClientAddress, rate_key};
use crate::http::{Json, RouteTable};

/// A session's tokens are stored by nobody on the way: no cache (RFC 6749 §5.1), and no
/// answer kept for an Idempotency-Key.
pub(super) const NO_STORE: (header::HeaderName, header::HeaderValue) = (
    header::CACHE_CONTROL,
    header::HeaderValue::from_static("no-store"),
);

pub fn routes(table: &mut RouteTable) {
    table
        .post("/v1/auth/register", auth_register)
        .post("/v1/auth/login", auth_login)
        .post("/v1/auth/refresh", auth_refresh)
        .post("/v1/auth/logout", auth_logout)
        .get("/v1/me", me_get)
        .post("/v1/admin/users", admin_users_create);
    super::account_routes::routes(table);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    password: String,
    full_name: String,
    phone: Option<String>,
    locale: Option<Locale>,
}

impl RegisterRequest {
    fn parse(self, password_min_length: usize) -> Result<NewAccount, ApiError> {
        let fields = CreateUserRequest {
            email: self.email,
            password: self.password,
            full_name: self.full_name,
            phone: self.phone,
            locale: self.locale,
            role: Role::Customer,
            provider_id: None,
        };
        parse_account(fields, password_min_length)
    }
}

/// Every field's problem at once, so a form can mark them all.
fn parse_account(
    fields: CreateUserRequest,
    password_min_length: usize,
) -> Result<NewAccount, ApiError> {
    let mut errors = Vec::new();
    let email = Email::parse(&fields.email)
        .map_err(|reason| errors.push(FieldError::new("email", reason)))
        .ok();
    if let Err(reason) = check_password(&fields.password, password_min_length) {
        errors.push(FieldError::new("password", reason));
    }
    match (fields.role, fields.provider_id) {
        (Role::Provider, None) => errors.push(FieldError::new(
            "provider_id",
            "is required for a provider login",
        )),
        (Role::Provider, Some(_)) | (_, None) => {}
        (_, Some(_)) => errors.push(FieldError::new(
            "provider_id",
            "applies to provider logins only",
        )),
    }
    let full_name = text::name(&fields.full_name, 200)
        .map_err(|reason| errors.push(FieldError::new("full_name", reason)))
        .ok();
    let phone = match fields
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(raw) => PhoneNumber::parse(raw)
            .map_err(|reason| errors.push(FieldError::new("phone", reason)))
            .ok(),
    };
    match (email, full_name) {
        (Some(email), Some(full_name)) if errors.is_empty() => Ok(NewAccount {
            email,
            password: fields.password,
            full_name,
            phone,
            locale: fields.locale.unwrap_or_default(),
            role: fields.role,
            provider_id: fields.provider_id,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

pub fn check_password(password: &str, min_length: usize) -> Result<(), String> {
    let length = password.chars().count();
    if length < min_length {
        return Err(format!("must be at least {min_length} characters"));
    }
    if length > 128 {
        return Err("must be at most 128 characters".into());
    }
    if password.trim().is_empty() {
        return Err("must not be only spaces".into());
    }
    Ok(())
}

async fn auth_register(
    auth: web::Data<AuthConfig>,
    pool: web::Data<PgPool>,
    address: ClientAddress,
    Json(body): Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let account = body.parse(auth.password_min_length)?;
    // Counted before the password is hashed: a flood of sign-ups costs a row, not the CPU.
    let (limit, key) = (auth.signups, address.key());
    run_blocking(&pool, move |conn| limit.take(conn, &key)).await?;
    let session = service::register(&pool, &auth, account).await?;
    Ok(HttpResponse::Created()
        .insert_header(NO_STORE)
        .json(session))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

async fn auth_login(
    pool: web::Data<PgPool>,
    auth: web::Data<AuthConfig>,
    address: ClientAddress,
    Json(body): Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let address = address.0.map(rate_key);
    let session = service::login(&pool, &auth, body.email, body.password, address).await?;
    Ok(HttpResponse::Ok().insert_header(NO_STORE).json(session))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

async fn auth_refresh(
    pool: web::Data<PgPool>,
    auth: web::Data<AuthConfig>,
    Json(body): Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let session = service::refresh(&pool, &auth, body.refresh_token).await?;
    Ok(HttpResponse::Ok().insert_header(NO_STORE).json(session))
}

async fn auth_logout(
    pool: web::Data<PgPool>,
    Json(body): Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    service::logout(&pool, body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me_get(pool: web::Data<PgPool>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let user = service::current_user(&pool, caller.user_id).await?;
    Ok(HttpResponse::Ok().json(user))
}

/// Staff accounts (agents, admins, provider logins) are made by an admin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    email: String,
    password: String,
    full_name: String,
    phone: Option<String>,
    locale: Option<Locale>,
    role: Role,
    /// Required for (and only for) `provider` logins: the provider they belong to.
    provider_id: Option<uuid::Uuid>,
}

async fn admin_users_create(
    auth: web::Data<AuthConfig>,
    pool: web::Data<PgPool>,
    _admin: Admin,
    Json(body): Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let account = parse_account(body, auth.password_min_length)?;
    let user = service::create_account(&pool, &auth, account).await?;
    Ok(HttpResponse::Created().json(user))
}
