//! `Caller`: the authenticated user behind a request, from its bearer access token, and the
//! `Admin` and `Staff` guards.

use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use uuid::Uuid;

use super::AuthConfig;
use super::Role;
use super::service::require_role;
use super::tokens::AccessClaims;
use crate::db::PgPool;
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
    type Future = Checked;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticate(req, None)
    }
}

/// The caller, once their account has been checked (disabled? sessions ended?).
pub type Checked = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

/// The caller behind a request's bearer token. The token and the role (`allowed`, when
/// given) are checked at once, so a bad token or a wrong role answers before the body is
/// read; then the account is checked against the database ([`super::session_check`]).
pub(crate) fn authenticate(req: &HttpRequest, allowed: Option<&'static [Role]>) -> Checked {
    let verified = verify(req).and_then(|(claims, auth)| {
        let caller = Caller {
            user_id: claims.sub,
            role: claims.role,
        };
        if let Some(allowed) = allowed {
            caller.require(allowed)?;
        }
        Ok((caller, claims.generation, auth))
    });
    let pool = req.app_data::<web::Data<PgPool>>().cloned();
    Box::pin(async move {
        let (caller, generation, auth) = verified?;
        let pool =
            pool.ok_or_else(|| ApiError::internal(anyhow::anyhow!("PgPool is not registered")))?;
        if auth
            .sessions
            .admits(&pool, caller.user_id, generation)
            .await?
        {
            Ok(caller)
        } else {
            Err(ApiError::InvalidToken)
        }
    })
}

/// The bearer token's claims, if it is one we issued and it is still in date.
fn verify(req: &HttpRequest) -> Result<(AccessClaims, web::Data<AuthConfig>), ApiError> {
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
    Ok((claims, auth.clone()))
}

/// A caller who must be an admin: the role is checked while extracting, before the body is
/// read, so a non-admin learns nothing about what a valid body would be.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = authenticate(req, Some(&[Role::Admin]));
        Box::pin(async move { checked.await.map(Admin) })
    }
}

/// A caller who must be office staff (an agent or an admin): checked while extracting, like
/// [`Admin`], so customers and provider logins are turned away before the body is read.
#[derive(Debug, Clone, Copy)]
pub struct Staff(pub Caller);

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = authenticate(req, Some(&[Role::Agent, Role::Admin]));
        Box::pin(async move { checked.await.map(Staff) })
    }
}
