//! Account upkeep: verifying an email, forgetting and resetting a password, changing it,
//! and an admin disabling an account. A password changed any way, and disabling, end every
//! session of the account at once: its refresh tokens are revoked and its session
//! generation rises, so access tokens already handed out are refused from the next request.
//! No actix types here.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::link_store::{self, NewLink};
use super::links::{self, LinkPurpose};
use super::model::User;
use super::service::{self, AuthConfig, Family, Session};
use super::store::{self, UserRow};
use super::throttle::{self, Reservation, Subject};
use crate::db::{PgPool, run_blocking};
use crate::domain::Email;
use crate::error::{ApiError, FieldError};
use crate::jobs::{Job, queue};

/// Makes a link for `user` and queues its mail, in the caller's transaction.
fn queue_link(
    conn: &mut PgConnection,
    auth: &AuthConfig,
    user: &UserRow,
    purpose: LinkPurpose,
    link_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let ttl = match purpose {
        LinkPurpose::VerifyEmail => auth.verify_ttl,
        LinkPurpose::ResetPassword => auth.reset_ttl,
    };
    link_store::insert_link(
        conn,
        &NewLink {
            id: link_id,
            user_id: user.id,
            purpose,
            email: &user.email,
            token_hash: &links::hash(&auth.links.token(link_id)),
            expires_at: now + ttl,
        },
    )?;
    let job = Job::SendAccountEmail { link_id };
    queue::enqueue(conn, &job, Some(&format!("account-mail:{link_id}")), now).map(drop)
}

/// The verification mail of a new (or still unverified) account, in the caller's transaction.
pub fn queue_verification(
    conn: &mut PgConnection,
    auth: &AuthConfig,
    user: &UserRow,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    queue_link(
        conn,
        auth,
        user,
        LinkPurpose::VerifyEmail,
        Uuid::new_v4(),
        now,
    )
}

/// Opens a verification link: once, before it expires, and only for the address it went to.
pub async fn verify_email(pool: &PgPool, token: String) -> Result<(), ApiError> {
    let token_hash = links::hash(&token);
    run_blocking(pool, move |conn| {
        conn.transaction(|conn| {
            let now = Utc::now();
            let link = link_store::consume_link(conn, &token_hash, LinkPurpose::VerifyEmail, now)?
                .ok_or_else(ApiError::invalid_link)?;
            if !store::mark_email_verified(conn, link.user_id, &link.email, now)? {
                // The account's address changed since: this link proves nothing now.
                return Err(ApiError::invalid_link());
            }
            link_store::retire_links(conn, link.user_id, LinkPurpose::VerifyEmail, now)?;
            Ok(())
        })
    })
    .await
}

/// What asking for another verification mail did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resent {
    Queued,
    AlreadyVerified,
}

/// Another verification mail for a signed-in account, within the mail limits (429 past
/// them: the caller owns the account, so saying so reveals nothing).
pub async fn resend_verification(
    pool: &PgPool,
    auth: &Arc<AuthConfig>,
    user_id: Uuid,
    client_address: Option<String>,
) -> Result<Resent, ApiError> {
    let auth = auth.clone();
    run_blocking(pool, move |conn| {
        let user = store::find_active_user(conn, user_id)?;
        if user.email_verified_at.is_some() {
            return Ok(Resent::AlreadyVerified);
        }
        let mut subjects = vec![auth.mail_throttle.account(&user.email)];
        subjects.extend(
            client_address
                .as_deref()
                .map(|a| auth.mail_throttle.address(a)),
        );
        counted(conn, &auth.mail_throttle, &subjects)?;
        conn.transaction(|conn| queue_verification(conn, &auth, &user, Utc::now()))?;
        Ok(Resent::Queued)
    })
    .await
}

/// Counts one request against every subject; 429 if any is over its limit.
fn counted(
    conn: &mut PgConnection,
    policy: &throttle::ThrottlePolicy,
    subjects: &[Subject],
) -> Result<(), ApiError> {
    let subjects: Vec<&Subject> = subjects.iter().collect();
    match throttle::reserve(conn, policy, &subjects, Utc::now())? {
        Reservation::Granted(_) => Ok(()),
        Reservation::Blocked(wait) => Err(ApiError::TooManyAttempts {
            retry_after_secs: u64::try_from(wait.num_seconds() + 1).unwrap_or(1),
        }),
    }
}

/// "Forgot password": the same work and the same answer whatever the email. The request
/// only counts against the limits and queues a job; the job looks the account up and mails
/// the link. Past the client address's limit the answer is 429; past the email's, the
/// request is accepted and nothing is sent (a 429 there would say the address was asked
/// about, and the mailbox's owner gets no flood).
pub async fn forgot_password(
    pool: &PgPool,
    auth: &Arc<AuthConfig>,
    email: Email,
    client_address: Option<String>,
) -> Result<(), ApiError> {
    let auth = auth.clone();
    run_blocking(pool, move |conn| {
        if let Some(address) = client_address.as_deref() {
            counted(
                conn,
                &auth.mail_throttle,
                &[auth.mail_throttle.address(address)],
            )?;
        }
        let account = auth.mail_throttle.account(email.as_str());
        match counted(conn, &auth.mail_throttle, &[account]) {
            Ok(()) => {}
            Err(ApiError::TooManyAttempts { .. }) => {
                let email_hash = auth.log_hasher.email(email.as_str());
                tracing::info!(%email_hash, "password reset asked for too often; no mail");
                return Ok(());
            }
            Err(other) => return Err(other),
        }
        let job = Job::StartPasswordReset {
            email: email.to_string(),
            link_id: Uuid::new_v4(),
        };
        queue::enqueue(conn, &job, None, Utc::now())?;
        Ok(())
    })
    .await
}

/// The job behind "forgot password": the reset link `link_id` for the active account with
/// this email, if there is one (`false`: nobody to mail). Safe to run twice.
pub async fn start_password_reset(
    pool: &PgPool,
    auth: &Arc<AuthConfig>,
    email: String,
    link_id: Uuid,
) -> Result<bool, ApiError> {
    let auth = auth.clone();
    run_blocking(pool, move |conn| {
        let Some(user) =
            store::find_user_by_email(conn, &email)?.filter(|u| u.disabled_at.is_none())
        else {
            return Ok(false);
        };
        conn.transaction(|conn| {
            queue_link(
                conn,
                &auth,
                &user,
                LinkPurpose::ResetPassword,
                link_id,
                Utc::now(),
            )
        })?;
        Ok(true)
    })
    .await
}

/// Sets a new password through a reset link: once, before it expires. The link is checked
/// before the (slow) hash and used up after it, in the transaction that sets the password,
/// ends every session and retires the account's other reset links.
pub async fn reset_password(
    pool: &PgPool,
    auth: &Arc<AuthConfig>,
    token: String,
    password: String,
) -> Result<(), ApiError> {
    let token_hash = links::hash(&token);
    let lookup = token_hash.clone();
    run_blocking(pool, move |conn| {
        link_store::live_link(conn, &lookup, LinkPurpose::ResetPassword, Utc::now())?
            .ok_or_else(ApiError::invalid_link)
    })
    .await?;
    let password_hash = service::hash_password(auth, password).await?;
    let cloned = auth.clone();
    let user_id = run_blocking(pool, move |conn| {
        conn.transaction(|conn| {
            let now = Utc::now();
            let link =
                link_store::consume_link(conn, &token_hash, LinkPurpose::ResetPassword, now)?
                    .ok_or_else(ApiError::invalid_link)?;
            let user = store::set_password(conn, link.user_id, &password_hash)?;
            if user.disabled_at.is_some() {
                return Err(ApiError::invalid_link());
            }
            end_refresh_tokens(conn, &user, now)?;
            link_store::retire_links(conn, user.id, LinkPurpose::ResetPassword, now)?;
            // The link reached its owner's mailbox: that proves the address too.
            store::mark_email_verified(conn, user.id, &link.email, now)?;
            // Guesses at the old password no longer matter; let the owner straight in.
            throttle::clear(conn, &cloned.throttle.account(&user.email))?;
            Ok(user.id)
        })
    })
    .await?;
    auth.sessions.forget(user_id);
    Ok(())
}

/// A signed-in user changes their password, giving the current one (counted like a login,
/// so a stolen session cannot guess it). Every session ends, this one included; the answer
/// is a fresh session for the caller.
pub async fn change_password(
    pool: &PgPool,
    auth: &Arc<AuthConfig>,
    user_id: Uuid,
    current: String,
    new: String,
) -> Result<Session, ApiError> {
    let cloned = auth.clone();
    let user = run_blocking(pool, move |conn| {
        let user = store::find_active_user(conn, user_id)?;
        let subject = cloned.throttle.account(&user.email);
        counted(conn, &cloned.throttle, &[subject])?;
        Ok(user)
    })
    .await?;
    if !service::verify_password(auth, current, Some(user.password_hash.clone())).await? {
        return Err(ApiError::Validation(vec![FieldError::new(
            "current_password",
            "is not the account's password",
        )]));
    }
    let password_hash = service::hash_password(auth, new).await?;
    let cloned = auth.clone();
    let checked_generation = user.session_generation;
    let session = run_blocking(pool, move |conn| {
        conn.transaction(|conn| {
            // Sessions ended meanwhile (a reset, disabling): the current password just
            // checked may no longer be the account's, and this session has ended too.
            store::lock_active_user(conn, user_id)?
                .filter(|u| u.session_generation == checked_generation)
                .ok_or(ApiError::InvalidToken)?;
            let now = Utc::now();
            let user = store::set_password(conn, user_id, &password_hash)?;
            end_refresh_tokens(conn, &user, now)?;
            throttle::clear(conn, &cloned.throttle.account(&user.email))?;
            service::start_session(conn, &cloned.tokens, user, Family::new(now), now)
        })
    })
    .await?;
    auth.sessions.forget(user_id);
    Ok(session)
}

/// An admin disables an account: it can no longer sign in, its refresh tokens die now and
/// its access tokens are refused from the next request. Disabling oneself is refused (the
/// office could lose its last admin).
pub async fn disable(
    pool: &PgPool,
    auth: &Arc<AuthConfig>,
    admin_id: Uuid,
    user_id: Uuid,
) -> Result<User, ApiError> {
    if admin_id == user_id {
        return Err(ApiError::Conflict {
            code: "account.disable_self",
            detail: "an admin cannot disable their own account".into(),
        });
    }
    let user = run_blocking(pool, move |conn| {
        conn.transaction(|conn| {
            let now = Utc::now();
            let user = store::disable_user(conn, user_id, now)?;
            end_refresh_tokens(conn, &user, now)?;
            tracing::info!(%user_id, by = %admin_id, "account disabled");
            Ok(user)
        })
    })
    .await?;
    auth.sessions.forget(user_id);
    Ok(user.into())
}

fn end_refresh_tokens(
    conn: &mut PgConnection,
    user: &UserRow,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let revoked = store::revoke_all_refresh_tokens(conn, user.id, now)?;
    tracing::info!(user_id = %user.id, revoked, "every session of the account ended");
    Ok(())
}
