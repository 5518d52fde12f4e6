//! Diesel queries for customers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::domain::Locale;
use crate::schema::customers;

diesel::define_sql_function! {
    /// PostgreSQL's `lower(text)`: names are listed as a person would sort them, whatever
    /// the database's collation does with case.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct CustomerRow {
    pub id: Uuid,
    /// The login of a web customer; `None` for a client known only by phone.
    pub user_id: Option<Uuid>,
    pub full_name: String,
    /// E.164.
    pub phone: Option<String>,
    /// Lower-cased.
    pub email: Option<String>,
    pub locale: Locale,
    /// The agent or admin who entered the client; `None` for a web sign-up.
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = customers)]
pub struct NewCustomerRow<'a> {
    pub user_id: Option<Uuid>,
    pub full_name: &'a str,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub locale: Locale,
    pub created_by: Option<Uuid>,
}

pub fn insert_customer(
    conn: &mut PgConnection,
    new: &NewCustomerRow<'_>,
) -> QueryResult<CustomerRow> {
    diesel::insert_into(customers::table)
        .values(new)
        .returning(CustomerRow::as_returning())
        .get_result(conn)
}

/// Inserts the customer of a login unless that login already has one (then `None`): a
/// concurrent insert for the same user waits for the other transaction and yields, rather
/// than failing on `customers_user_id_key`.
pub fn insert_customer_for_user(
    conn: &mut PgConnection,
    new: &NewCustomerRow<'_>,
) -> QueryResult<Option<CustomerRow>> {
    diesel::insert_into(customers::table)
        .values(new)
        .on_conflict(customers::user_id)
        .do_nothing()
        .returning(CustomerRow::as_returning())
        .get_result(conn)
        .optional()
}

/// Locks the customer's row until the transaction ends, serialising what must be decided
/// one at a time per customer (a subscription sign-up, the count of live holds). `NO KEY`:
/// rows that merely reference the customer can still be inserted meanwhile.
pub fn lock_customer(conn: &mut PgConnection, id: Uuid) -> QueryResult<()> {
    customers::table
        .find(id)
        .select(customers::id)
        .for_no_key_update()
        .execute(conn)
        .map(|_| ())
}

pub fn find_customer(conn: &mut PgConnection, id: Uuid) -> QueryResult<CustomerRow> {
    customers::table
        .find(id)
        .select(CustomerRow::as_select())
        .first(conn)
}

pub fn find_customer_of_user(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> QueryResult<Option<CustomerRow>> {
    customers::table
        .filter(customers::user_id.eq(user_id))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()
}

/// Customers with this (E.164) phone, optionally whose name starts with `name_prefix`
/// (case-insensitively), by name regardless of case.
pub fn find_customers_by_phone(
    conn: &mut PgConnection,
    phone: &str,
    name_prefix: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<CustomerRow>> {
    let mut query = customers::table
        .filter(customers::phone.eq(phone))
        .select(CustomerRow::as_select())
        .into_boxed();
    if let Some(prefix) = name_prefix {
        query = query.filter(customers::full_name.ilike(format!("{}%", escape_like(prefix))));
    }
    query
        .order((
            lower(customers::full_name),
            customers::created_at,
            customers::id,
        ))
        .limit(limit)
        .load(conn)
}

/// Makes `%`, `_` and `\` match themselves in a LIKE pattern (`\` is the default escape).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_match_themselves() {
        assert_eq!(escape_like("Sara"), "Sara");
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
