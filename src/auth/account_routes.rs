//! Account upkeep routes: verify an email, forgot and reset a password, change it, ask for
//! another verification mail, and an admin disabling an account. Extract, call
//! [`super::accounts`], map.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;

use super::accounts::{self, Resent};
use super::caller::Admin;
use super::routes::{NO_STORE, check_password};
use super::{AuthConfig, Caller};
use crate::db::PgPool;
use crate::domain::Email;
use crate::error::{ApiError, FieldError};
use crate::http::client::{ClientAddress, rate_key};
use crate::http::{Json, RouteTable};

pub fn routes(table: &mut RouteTable) {
    table
        .post("/v1/auth/verify-email", auth_verify_email)
        .post("/v1/auth/password/forgot", auth_password_forgot)
        .post("/v1/auth/password/reset", auth_password_reset)
        .post("/v1/me/password", me_password_change)
        .post("/v1/me/verification-email", me_verification_email)
        .post("/v1/admin/users/{user_id}/disable", admin_users_disable);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    token: String,
}

async fn auth_verify_email(
    pool: web::Data<PgPool>,
    Json(body): Json<VerifyEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    accounts::verify_email(&pool, body.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    email: String,
}

/// 202 whatever the email: whether an account has it is never said.
async fn auth_password_forgot(
    pool: web::Data<PgPool>,
    auth: web::Data<AuthConfig>,
    address: ClientAddress,
    Json(body): Json<ForgotPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email)
        .map_err(|reason| ApiError::Validation(vec![FieldError::new("email", reason)]))?;
    let address = address.0.map(rate_key);
    accounts::forgot_password(&pool, &auth, email, address).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    token: String,
    password: String,
}

async fn auth_password_reset(
    pool: web::Data<PgPool>,
    auth: web::Data<AuthConfig>,
    Json(body): Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    check_password(&body.password, auth.password_min_length)
        .map_err(|reason| ApiError::Validation(vec![FieldError::new("password", reason)]))?;
    accounts::reset_password(&pool, &auth, body.token, body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

/// Every session ends; the answer is the caller's fresh one.
async fn me_password_change(
    pool: web::Data<PgPool>,
    auth: web::Data<AuthConfig>,
    caller: Caller,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    if body.current_password.is_empty() {
        errors.push(FieldError::new("current_password", "is required"));
    }
    if let Err(reason) = check_password(&body.new_password, auth.password_min_length) {
        errors.push(FieldError::new("new_password", reason));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let session = accounts::change_password(
        &pool,
        &auth,
        caller.user_id,
        body.current_password,
        body.new_password,
    )
    .await?;
    Ok(HttpResponse::Ok().insert_header(NO_STORE).json(session))
}

/// 202: another verification mail is on its way; 204: the email is already verified.
async fn me_verification_email(
    pool: web::Data<PgPool>,
    auth: web::Data<AuthConfig>,
    caller: Caller,
    address: ClientAddress,
) -> Result<HttpResponse, ApiError> {
    let address = address.0.map(rate_key);
    Ok(
        match accounts::resend_verification(&pool, &auth, caller.user_id, address).await? {
            Resent::Queued => HttpResponse::Accepted().finish(),
            Resent::AlreadyVerified => HttpResponse::NoContent().finish(),
        },
    )
}

async fn admin_users_disable(
    pool: web::Data<PgPool>,
    auth: web::Data<AuthConfig>,
    Admin(admin): Admin,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = accounts::disable(&pool, &auth, admin.user_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(user))
}
