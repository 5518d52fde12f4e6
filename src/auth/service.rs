//! The rules of signing up, logging in, refreshing and logging out. No actix types here.

use chrono::Utc;
use diesel::prelude::*;
use uuid::Uuid;

use super::model::{NewAccount, User};
use super::password::Passwords;
use super::store::{self, NewRefreshToken, NewUserRow};
use super::throttle::{self, Reservation, Subject, ThrottlePolicy};
use super::tokens::{self, TokenKeys};
use crate::config::AuthSettings;
use crate::db::{PgPool, run_blocking};
use crate::domain::Email;
use crate::domain::Role;
use crate::error::ApiError;
use crate::http::rate_limit::RateLimit;

/// Everything authentication needs, built once at start-up and shared by every worker.
pub struct AuthConfig {
    pub tokens: TokenKeys,
    pub passwords: Passwords,
    pub throttle: ThrottlePolicy,
    pub password_min_length: usize,
    /// Sign-ups per client address (`auth.signups_per_address_per_hour`).
    pub signups: RateLimit,
}

impl AuthConfig {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        Ok(Self {
            tokens: TokenKeys::new(settings)?,
            passwords: Passwords::new(&settings.argon2)?,
            throttle: ThrottlePolicy::from(&settings.login_throttle),
            password_min_length: settings.password_min_length,
            signups: RateLimit {
                name: "signup",
                code: "signup.rate_limited",
                limit: settings.signups_per_address_per_hour,
                window: chrono::Duration::hours(1),
            },
        })
    }
}

/// What a successful login, sign-up or refresh hands back.
#[derive(Debug, serde::Serialize)]
pub struct Session {
    pub user: User,
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    pub refresh_token: String,
}

/// Hashing is deliberately slow: do it on the blocking pool, not an async worker.
async fn hash_password(
    auth: &std::sync::Arc<AuthConfig>,
    password: String,
) -> Result<String, ApiError> {
    let auth = auth.clone();
    tokio::task::spawn_blocking(move || auth.passwords.hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::Internal)
}

/// Creates an account (any role: the caller decides who may create which).
pub fn insert_account(
    conn: &mut PgConnection,
    account: &NewAccount,
    password_hash: &str,
) -> Result<User, ApiError> {
    let row = store::insert_user(
        conn,
        &NewUserRow {
            email: account.email.as_str(),
            password_hash,
            role: account.role,
            full_name: &account.full_name,
            phone: account.phone.as_ref().map(|p| p.as_str()),
            locale: account.locale,
            provider_id: account.provider_id,
        },
    )?;
    Ok(row.into())
}

pub async fn register(
    pool: &PgPool,
    auth: &std::sync::Arc<AuthConfig>,
    account: NewAccount,
) -> Result<Session, ApiError> {
    let password_hash = hash_password(auth, account.password.clone()).await?;
    let auth = auth.clone();
    run_blocking(pool, move |conn| {
        conn.transaction(|conn| {
            let user = insert_account(conn, &account, &password_hash)?;
            start_session(conn, &auth.tokens, user, Uuid::new_v4())
        })
    })
    .await
}

/// An account made on someone's behalf (an admin creating staff): no session is started.
pub async fn create_account(
    pool: &PgPool,
    auth: &std::sync::Arc<AuthConfig>,
    account: NewAccount,
) -> Result<User, ApiError> {
    let password_hash = hash_password(auth, account.password.clone()).await?;
    run_blocking(pool, move |conn| {
        insert_account(conn, &account, &password_hash)
    })
    .await
}

/// Whether `password` matches `stored`, on the blocking pool and holding no connection.
async fn verify_password(
    auth: &std::sync::Arc<AuthConfig>,
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    let auth = auth.clone();
    tokio::task::spawn_blocking(move || auth.passwords.verify(&password, stored.as_deref()))
        .await
        .map_err(ApiError::internal)
}

/// Every attempt is counted as a failure before its password is checked, in one locked step
/// with the block check (`throttle::reserve`), so a burst gets at most the limit checked and
/// the rest answer 429 unhashed. A right password takes its count back.
pub async fn login(
    pool: &PgPool,
    auth: &std::sync::Arc<AuthConfig>,
    email: String,
    password: String,
    client_address: Option<String>,
) -> Result<Session, ApiError> {
    // An unparseable email cannot have an account; treat it like any unknown one.
    let email = Email::parse(&email).map(|e| e.to_string()).unwrap_or(email);
    let account_subject = auth.throttle.account(&email);
    let subjects: Vec<Subject> = std::iter::once(account_subject.clone())
        .chain(client_address.as_deref().map(|a| auth.throttle.address(a)))
        .collect();
    let policy = auth.throttle.clone();
    let lookup = email.clone();
    let (reserved, user) = run_blocking(pool, move |conn| {
        let subjects: Vec<&Subject> = subjects.iter().collect();
        match throttle::reserve(conn, &policy, &subjects, Utc::now())? {
            Reservation::Blocked(wait) => Err(ApiError::TooManyAttempts {
                retry_after_secs: u64::try_from(wait.num_seconds() + 1).unwrap_or(1),
            }),
            Reservation::Granted(reserved) => {
                let user =
                    store::find_user_by_email(conn, &lookup)?.filter(|u| u.disabled_at.is_none());
                Ok((reserved, user))
            }
        }
    })
    .await?;
    // Verified even for no account (against a decoy), so timing does not tell them apart.
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = verify_password(auth, password, stored).await?;
    let user = match user {
        Some(user) if verified => user,
        // Already counted: nothing more to write.
        _ => {
            tracing::info!(email = %email, "failed login");
            return Err(ApiError::InvalidCredentials);
        }
    };
    let auth = auth.clone();
    run_blocking(pool, move |conn| {
        // The address counter is only given back this attempt, not cleared: one good account
        // must not launder an address's guesses at other accounts.
        throttle::clear(conn, &account_subject)?;
        for address in reserved.iter().filter(|r| r.key() != account_subject.key) {
            throttle::release(conn, address)?;
        }
        start_session(conn, &auth.tokens, user.into(), Uuid::new_v4())
    })
    .await
}

/// Rotates a refresh token. Presenting a token that was already rotated revokes its whole
/// family (someone else has a copy), and the answer is the same 401 as for an unknown token.
pub async fn refresh(
    pool: &PgPool,
    auth: &std::sync::Arc<AuthConfig>,
    refresh_token: String,
) -> Result<Session, ApiError> {
    let auth = auth.clone();
    let token_hash = tokens::hash_refresh_token(&refresh_token);
    let outcome = run_blocking(pool, move |conn| {
        let now = Utc::now();
        conn.transaction(|conn| {
            if let Some((user_id, family_id)) =
                store::consume_refresh_token(conn, &token_hash, now)?
            {
                let user = match store::find_active_user(conn, user_id) {
                    Ok(user) => user,
                    Err(diesel::result::Error::NotFound) => return Ok(None),
                    Err(other) => return Err(other.into()),
                };
                return start_session(conn, &auth.tokens, user.into(), family_id).map(Some);
            }
            if let Some(family_id) = store::family_of_used_token(conn, &token_hash)? {
                let revoked = store::revoke_family(conn, family_id, now)?;
                tracing::warn!(%family_id, revoked, "refresh token reused; family revoked");
            }
            Ok::<_, ApiError>(None)
        })
    })
    .await?;
    outcome.ok_or(ApiError::InvalidRefreshToken)
}

/// Ends the session the refresh token belongs to. Unknown tokens are fine: the outcome the
/// caller wants (that token no longer works) already holds.
pub async fn logout(pool: &PgPool, refresh_token: String) -> Result<(), ApiError> {
    let token_hash = tokens::hash_refresh_token(&refresh_token);
    run_blocking(pool, move |conn| {
        if let Some(family_id) = store::family_of_token(conn, &token_hash)? {
            store::revoke_family(conn, family_id, Utc::now())?;
        }
        Ok(())
    })
    .await
}

pub async fn current_user(pool: &PgPool, user_id: Uuid) -> Result<User, ApiError> {
    run_blocking(pool, move |conn| {
        Ok(store::find_active_user(conn, user_id)?.into())
    })
    .await
}

/// Issues an access token and a new refresh token in `family_id`.
fn start_session(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    user: User,
    family_id: Uuid,
) -> Result<Session, ApiError> {
    let now = Utc::now();
    let (refresh_token, token_hash) = tokens::new_refresh_token().map_err(ApiError::Internal)?;
    store::insert_refresh_token(
        conn,
        &NewRefreshToken {
            user_id: user.id,
            family_id,
            token_hash: &token_hash,
            expires_at: now + keys.refresh_ttl,
        },
    )?;
    let access_token = keys
        .issue_access(user.id, user.role, now)
        .map_err(ApiError::Internal)?;
    Ok(Session {
        user,
        access_token,
        token_type: "Bearer",
        expires_in: keys.access_ttl.num_seconds(),
        refresh_token,
    })
}

/// `wasit create-user`: makes an account of any role, or with `reset`, sets the password
/// and role of an existing one. Returns the account and whether it was created.
pub fn create_or_reset_user(
    conn: &mut PgConnection,
    passwords: &Passwords,
    account: &NewAccount,
    reset: bool,
) -> Result<(User, bool), ApiError> {
    let password_hash = passwords
        .hash(&account.password)
        .map_err(ApiError::Internal)?;
    conn.transaction(|conn| {
        let existing = store::find_user_by_email(conn, account.email.as_str())?;
        match existing {
            Some(_) if reset => {
                let row = store::reset_credentials(
                    conn,
                    account.email.as_str(),
                    &password_hash,
                    account.role,
                )?;
                Ok((row.into(), false))
            }
            Some(_) => Err(ApiError::EmailTaken),
            None => Ok((insert_account(conn, account, &password_hash)?, true)),
        }
    })
}

/// The roles allowed to call a route; anything else is 403.
pub fn require_role(role: Role, allowed: &[Role]) -> Result<(), ApiError> {
    if allowed.contains(&role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}
