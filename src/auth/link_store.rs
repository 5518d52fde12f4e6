//! Diesel queries for emailed links (`account_tokens`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::links::LinkPurpose;
use crate::schema::account_tokens;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = account_tokens, check_for_backend(diesel::pg::Pg))]
pub struct LinkRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub purpose: LinkPurpose,
    /// The address the link was sent to.
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = account_tokens)]
pub struct NewLink<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub purpose: LinkPurpose,
    pub email: &'a str,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

/// Records a link; a second insert of the same id (a retried job) changes nothing.
pub fn insert_link(conn: &mut PgConnection, new: &NewLink<'_>) -> QueryResult<()> {
    diesel::insert_into(account_tokens::table)
        .values(new)
        .on_conflict(account_tokens::id)
        .do_nothing()
        .execute(conn)
        .map(drop)
}

pub fn find_link(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<LinkRow>> {
    account_tokens::table
        .find(id)
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
}

/// The live (unused, unexpired) link with this token hash, without using it up.
pub fn live_link(
    conn: &mut PgConnection,
    token_hash: &[u8],
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> QueryResult<Option<LinkRow>> {
    account_tokens::table
        .filter(account_tokens::token_hash.eq(token_hash))
        .filter(account_tokens::purpose.eq(purpose))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::expires_at.gt(now))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
}

/// Uses a live link up, in one conditional UPDATE: of two requests with the same token,
/// exactly one gets the row back.
pub fn consume_link(
    conn: &mut PgConnection,
    token_hash: &[u8],
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> QueryResult<Option<LinkRow>> {
    diesel::update(
        account_tokens::table
            .filter(account_tokens::token_hash.eq(token_hash))
            .filter(account_tokens::purpose.eq(purpose))
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::expires_at.gt(now)),
    )
    .set(account_tokens::used_at.eq(now))
    .returning(LinkRow::as_returning())
    .get_result(conn)
    .optional()
}

/// Uses up every other live link of this purpose for the account (a password was just
/// reset, an address just verified: older mails must not work afterwards).
pub fn retire_links(
    conn: &mut PgConnection,
    user_id: Uuid,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        account_tokens::table
            .filter(account_tokens::user_id.eq(user_id))
            .filter(account_tokens::purpose.eq(purpose))
            .filter(account_tokens::used_at.is_null()),
    )
    .set(account_tokens::used_at.eq(now))
    .execute(conn)
}
