//! Diesel queries for accounts and refresh tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::User;
use crate::domain::Locale;
use crate::domain::Role;
use crate::schema::{refresh_tokens, users};

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
            created_at: row.created_at,
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

/// Sets the password and role of an existing account (`create-user --reset-password`).
pub fn reset_credentials(
    conn: &mut PgConnection,
    email: &str,
    password_hash: &str,
    role: Role,
) -> QueryResult<UserRow> {
    diesel::update(users::table.filter(users::email.eq(email)))
        .set((
            users::password_hash.eq(password_hash),
            users::role.eq(role),
            users::disabled_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken<'a> {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

pub fn insert_refresh_token(conn: &mut PgConnection, new: &NewRefreshToken<'_>) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(new)
        .execute(conn)
        .map(|_| ())
}

/// Marks a live token used and returns its owner and family; `None` when the token is
/// unknown, expired, revoked or already used. Only one of two racing refreshes can win.
pub fn consume_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<(Uuid, Uuid)>> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now)),
    )
    .set(refresh_tokens::used_at.eq(now))
    .returning((refresh_tokens::user_id, refresh_tokens::family_id))
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
