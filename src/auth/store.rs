//! Diesel queries for accounts and refresh tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::User;
use crate::domain::Locale;
use crate::domain::Role;
use crate::schema::{refresh_tokens, users};

diesel::define_sql_function! {
    /// PostgreSQL's `coalesce`, for "set this moment unless one is already set".
    fn coalesce(
        kept: diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        otherwise: diesel::sql_types::Timestamptz,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>;
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub full_name: String,
    pub phone: Option<String>,
    pub locale: Locale,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Raised to end every session at once; access tokens carry the one they were issued under.
    pub session_generation: i32,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            email: row.email,
            role: row.role,
            full_name: row.full_name,
            phone: row.phone,
            locale: row.locale,
            email_verified: row.email_verified_at.is_some(),
            created_at: row.created_at,
            disabled_at: row.disabled_at,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUserRow<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub full_name: &'a str,
    pub phone: Option<&'a str>,
    pub locale: Locale,
    pub provider_id: Option<Uuid>,
    /// Set for accounts an operator or admin made; a customer's own sign-up starts without.
    pub email_verified_at: Option<DateTime<Utc>>,
}

pub fn insert_user(conn: &mut PgConnection, new: &NewUserRow<'_>) -> QueryResult<UserRow> {
    diesel::insert_into(users::table)
        .values(new)
        .returning(UserRow::as_returning())
        .get_result(conn)
}

pub fn find_user_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// An active account by id; a disabled one is as good as gone.
pub fn find_active_user(conn: &mut PgConnection, id: Uuid) -> QueryResult<UserRow> {
    users::table
        .find(id)
        .filter(users::disabled_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
}

/// An active account, locked against a concurrent "end every session" (which updates the
/// row) until this transaction ends.
pub fn lock_active_user(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .filter(users::disabled_at.is_null())
        .select(UserRow::as_select())
        .for_share()
        .first(conn)
        .optional()
}

/// Sets the password and role of an existing account and enables it (`create-user
/// --reset-password`): an operator vouches for it, so its email counts as verified. Every
/// session ends: the generation rises here, the caller revokes the refresh tokens.
pub fn reset_credentials(
    conn: &mut PgConnection,
    email: &str,
    password_hash: &str,
    role: Role,
    now: DateTime<Utc>,
) -> QueryResult<UserRow> {
    diesel::update(users::table.filter(users::email.eq(email)))
        .set((
            users::password_hash.eq(password_hash),
            users::role.eq(role),
            users::disabled_at.eq(None::<DateTime<Utc>>),
            users::email_verified_at.eq(coalesce(users::email_verified_at, now)),
            users::session_generation.eq(users::session_generation + 1),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
}

/// A new password, and every session ended (the generation rises; the caller revokes the
/// refresh tokens in the same transaction).
pub fn set_password(
    conn: &mut PgConnection,
    user_id: Uuid,
    password_hash: &str,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(password_hash),
            users::session_generation.eq(users::session_generation + 1),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
}

/// Disables an account (kept as it was if already disabled) and ends its sessions' access
/// tokens; the caller revokes the refresh tokens in the same transaction.
pub fn disable_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(user_id))
        .set((
            users::disabled_at.eq(coalesce(users::disabled_at, now)),
            users::session_generation.eq(users::session_generation + 1),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
}

/// Marks the account's email verified, if `email` (the address the link went to) is still
/// its address. Returns whether the account is now verified.
pub fn mark_email_verified(
    conn: &mut PgConnection,
    user_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id).filter(users::email.eq(email)))
        .set(users::email_verified_at.eq(coalesce(users::email_verified_at, now)))
        .execute(conn)
        .map(|updated| updated == 1)
}

/// Whether the account's email is verified (`false` for no such account).
pub fn email_verified(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<bool> {
    users::table
        .find(user_id)
        .select(users::email_verified_at.is_not_null())
        .first(conn)
        .optional()
        .map(|verified| verified.unwrap_or(false))
}

/// The session generation of an active account; `None` when it is disabled or gone.
pub fn session_generation(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Option<i32>> {
    users::table
        .find(user_id)
        .filter(users::disabled_at.is_null())
        .select(users::session_generation)
        .first(conn)
        .optional()
}

/// The account a refresh token belongs to, locked against a concurrent "end every session"
/// until this transaction ends: that takes the account's row first too, so either it
/// waits for this refresh and then revokes the token it issues, or this refresh waits and
/// finds its token revoked.
pub fn lock_owner_of_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<UserRow>> {
    // The token is found in a subquery, so only the account's row is locked: two refreshes
    // of one token both locking it would deadlock on their UPDATEs.
    users::table
        .filter(
            users::id.eq_any(
                refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(token_hash))
                    .select(refresh_tokens::user_id),
            ),
        )
        .select(UserRow::as_select())
        .for_share()
        .first(conn)
        .optional()
}

/// Revokes every live refresh token of an account; returns how many were live.
pub fn revoke_all_refresh_tokens(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken<'a> {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
    pub session_started_at: DateTime<Utc>,
}

pub fn insert_refresh_token(conn: &mut PgConnection, new: &NewRefreshToken<'_>) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(new)
        .execute(conn)
        .map(|_| ())
}

/// Marks a live token used and returns its family and when its session began; `None`
/// when the token is unknown, expired, revoked, already used, or its session began before
/// `session_start_after`. Only one of two racing refreshes can win.
pub fn consume_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
    session_start_after: DateTime<Utc>,
) -> QueryResult<Option<(Uuid, DateTime<Utc>)>> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now))
            .filter(refresh_tokens::session_started_at.gt(session_start_after)),
    )
    .set(refresh_tokens::used_at.eq(now))
    .returning((
        refresh_tokens::family_id,
        refresh_tokens::session_started_at,
    ))
    .get_result(conn)
    .optional()
}

/// The family of a token that was already used, if it was: presenting it again is reuse.
pub fn family_of_used_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<Uuid>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .filter(refresh_tokens::used_at.is_not_null())
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()
}

pub fn family_of_token(conn: &mut PgConnection, token_hash: &[u8]) -> QueryResult<Option<Uuid>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()
}

/// Revokes every live token of a family; returns how many were live.
pub fn revoke_family(
    conn: &mut PgConnection,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}
