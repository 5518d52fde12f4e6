//! `Caller`: the authenticated user behind a request, from its bearer access token.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use uuid::Uuid;

use super::AuthConfig;
use super::Role;
use super::service::require_role;
use crate::domain::Actor;
use crate::error::ApiError;
use crate::telemetry::RequestId;

#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
}

impl Caller {
    /// The caller as services see it, with this request's id for the history and audit.
    pub fn actor(&self, req: &HttpRequest) -> Actor {
        Actor {
            user_id: self.user_id,
            role: self.role,
            request_id: req.extensions().get::<RequestId>().map(|id| id.0.clone()),
        }
    }

    /// The role guard: `caller.require(&[Role::Agent, Role::Admin])?` answers 403 otherwise.
    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        require_role(self.role, allowed)
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

pub(crate) fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let auth = req
        .app_data::<web::Data<AuthConfig>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AuthConfig is not registered")))?;
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::InvalidToken)?;
    let claims = auth
        .tokens
        .verify_access(token)
        .ok_or(ApiError::InvalidToken)?;
    Ok(Caller {
        user_id: claims.sub,
        role: claims.role,
    })
}

/// A caller who must be an admin: checked while extracting, before the body is read, so a
/// non-admin learns nothing about what a valid body would be.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|caller| {
            caller.require(&[Role::Admin])?;
            Ok(Admin(caller))
        }))
    }
}

/// A caller who must be office staff (an agent or an admin): checked while extracting, like
/// [`Admin`], so customers and provider logins are turned away before the body is read.
#[derive(Debug, Clone, Copy)]
pub struct Staff(pub Caller);

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|caller| {
            caller.require(&[Role::Agent, Role::Admin])?;
            Ok(Staff(caller))
        }))
    }
}
