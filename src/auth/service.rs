//! The rules of signing up, logging in, refreshing and logging out. No actix types here.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::links::LinkKeys;
use super::log_hash::LogHasher;
use super::model::{NewAccount, User};
use super::password::Passwords;
use super::session_check::SessionCheck;
use super::store::{self, NewRefreshToken, NewUserRow, UserRow};
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
    /// Limits on mail anyone may ask for (reset links, another verification link).
    pub mail_throttle: ThrottlePolicy,
    /// Derives the tokens of emailed links.
    pub links: LinkKeys,
    pub verify_ttl: Duration,
    pub reset_ttl: Duration,
    /// Whether an access token's account still accepts it.
    pub sessions: SessionCheck,
    pub password_min_length: usize,
    /// Sign-ups per client address (`auth.signups_per_address_per_hour`).
    pub signups: RateLimit,
    /// How a failed login's email field appears in the log.
    pub log_hasher: LogHasher,
}

impl AuthConfig {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        Ok(Self {
            tokens: TokenKeys::new(settings)?,
            passwords: Passwords::new(&settings.argon2)?,
            throttle: ThrottlePolicy::from(&settings.login_throttle),
            mail_throttle: ThrottlePolicy::for_mail(&settings.mail_throttle),
            links: LinkKeys::new(settings.jwt_secret.expose_secret().as_bytes()),
            verify_ttl: Duration::hours(i64::from(settings.verify_token_hours)),
            reset_ttl: Duration::minutes(i64::from(settings.reset_token_minutes)),
            sessions: SessionCheck::new(std::time::Duration::from_millis(
                settings.session_recheck_ms,
            )),
            password_min_length: settings.password_min_length,
            signups: RateLimit {
                name: "signup",
                code: "signup.rate_limited",
                limit: settings.signups_per_address_per_hour,
                window: chrono::Duration::hours(1),
            },
            log_hasher: LogHasher::new(settings.jwt_secret.expose_secret().as_bytes()),
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
pub(super) async fn hash_password(
    auth: &std::sync::Arc<AuthConfig>,
    password: String,
) -> Result<String, ApiError> {
    auth.passwords.hash_in_turn(password).await
}

/// Creates an account (any role: the caller decides who may create which). `verified_at`
/// is set for accounts an admin or operator makes: they vouch for the address.
fn insert_account(
    conn: &mut PgConnection,
    account: &NewAccount,
    password_hash: &str,
    verified_at: Option<DateTime<Utc>>,
) -> Result<UserRow, ApiError> {
    Ok(store::insert_user(
        conn,
        &NewUserRow {
            email: account.email.as_str(),
            password_hash,
            role: account.role,
            full_name: &account.full_name,
            phone: account.phone.as_ref().map(|p| p.as_str()),
            locale: account.locale,
            provider_id: account.provider_id,
            email_verified_at: verified_at,
        },
    )?)
}

/// A customer signs up: the account starts unverified, and the verification mail is queued
/// in the same transaction.
pub async fn register(
    pool: &PgPool,
    auth: &std::sync::Arc<AuthConfig>,
    account: NewAccount,
) -> Result<Session, ApiError> {
    let password_hash = hash_password(auth, account.password.clone()).await?;
    let auth = auth.clone();
    run_blocking(pool, move |conn| {
        conn.transaction(|conn| {
            let now = Utc::now();
            let user = insert_account(conn, &account, &password_hash, None)?;
            super::accounts::queue_verification(conn, &auth, &user, now)?;
            start_session(conn, &auth.tokens, user, Family::new(now), now)
        })
    })
    .await
}

/// An account made on someone's behalf (an admin creating staff): verified, since the
/// admin vouches for it, and no session is started.
pub async fn create_account(
    pool: &PgPool,
    auth: &std::sync::Arc<AuthConfig>,
    account: NewAccount,
) -> Result<User, ApiError> {
    let password_hash = hash_password(auth, account.password.clone()).await?;
    run_blocking(pool, move |conn| {
        Ok(insert_account(conn, &account, &password_hash, Some(Utc::now()))?.into())
    })
    .await
}

/// Whether `password` matches `stored`, on the blocking pool and holding no connection.
pub(super) async fn verify_password(
    auth: &std::sync::Arc<AuthConfig>,
    password: String,
    stored: Option<String>,
) -> Result<bool, ApiError> {
    auth.passwords.verify_in_turn(password, stored).await
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
            // Never the text: it may be a password typed into the wrong box.
            tracing::info!(email_hash = %auth.log_hasher.email(&email), "failed login");
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
        conn.transaction(|conn| {
            // The password was checked against the account as it was read: if its sessions
            // ended since (a password change or reset, disabling), that password may be the
            // old one, and a session started now would outlive the change.
            let current = store::lock_active_user(conn, user.id)?
                .filter(|current| current.session_generation == user.session_generation)
                .ok_or(ApiError::InvalidCredentials)?;
            let now = Utc::now();
            start_session(conn, &auth.tokens, current, Family::new(now), now)
        })
    })
    .await
}

/// Rotates a refresh token, within the session's absolute lifetime
/// (`auth.session_max_days` from its sign-in). Presenting a token that was already rotated
/// revokes its whole family (someone else has a copy), and the answer is the same 401 as
/// for an unknown token.
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
            let Some(owner) = store::lock_owner_of_refresh_token(conn, &token_hash)? else {
                return Ok(None);
            };
            let oldest_start = now - auth.tokens.session_max;
            if let Some((id, started_at)) =
                store::consume_refresh_token(conn, &token_hash, now, oldest_start)?
            {
                if owner.disabled_at.is_some() {
                    return Ok(None);
                }
                let family = Family { id, started_at };
                return start_session(conn, &auth.tokens, owner, family, now).map(Some);
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

/// A session: its refresh-token family and when its sign-in was.
pub(super) struct Family {
    id: Uuid,
    started_at: DateTime<Utc>,
}

impl Family {
    pub(super) fn new(now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            started_at: now,
        }
    }
}

/// Issues an access token (under the account's session generation) and a new refresh
/// token in `family`, expiring no later than the session does.
pub(super) fn start_session(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    user: UserRow,
    family: Family,
    now: DateTime<Utc>,
) -> Result<Session, ApiError> {
    let (refresh_token, token_hash) = tokens::new_refresh_token().map_err(ApiError::Internal)?;
    store::insert_refresh_token(
        conn,
        &NewRefreshToken {
            user_id: user.id,
            family_id: family.id,
            token_hash: &token_hash,
            expires_at: keys.refresh_expiry(now, family.started_at),
            session_started_at: family.started_at,
        },
    )?;
    let access_token = keys
        .issue_access(user.id, user.role, user.session_generation, now)
        .map_err(ApiError::Internal)?;
    Ok(Session {
        user: user.into(),
        access_token,
        token_type: "Bearer",
        expires_in: keys.access_ttl.num_seconds(),
        refresh_token,
    })
}

/// `wasit create-user`: makes an account of any role (verified: an operator vouches for
/// it), or with `reset`, sets the password and role of an existing one, enables it and ends
/// every session it had. Returns the account and whether it was created.
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
        let now = Utc::now();
        let existing = store::find_user_by_email(conn, account.email.as_str())?;
        match existing {
            Some(_) if reset => {
                let row = store::reset_credentials(
                    conn,
                    account.email.as_str(),
                    &password_hash,
                    account.role,
                    now,
                )?;
                let revoked = store::revoke_all_refresh_tokens(conn, row.id, now)?;
                tracing::info!(user_id = %row.id, revoked, "password reset by an operator; sessions ended");
                Ok((row.into(), false))
            }
            Some(_) => Err(ApiError::EmailTaken),
            None => Ok((
                insert_account(conn, account, &password_hash, Some(now))?.into(),
                true,
            )),
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
