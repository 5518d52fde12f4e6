//! The rules for customers: staff enter phone clients (audited), look them up by phone, and
//! the bookings code gets or creates the customer of a web login. No actix here.

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use serde::Serialize;
use uuid::Uuid;

use super::store::{self, CustomerRow, NewCustomerRow};
use crate::audit::{self, AuditEntry};
use crate::auth::{Caller, User};
use crate::db::{PgPool, run_blocking};
use crate::domain::{Email, Locale, PhoneNumber};
use crate::error::ApiError;

/// The most customers one phone look-up returns.
pub const LOOKUP_LIMIT: i64 = 50;

/// A client as staff enter them: a name and a phone, perhaps an email.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub full_name: String,
    pub phone: PhoneNumber,
    pub email: Option<Email>,
    pub locale: Locale,
}

/// A customer as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    pub id: Uuid,
    pub full_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub locale: Locale,
    /// Whether the customer signs in on the web (otherwise only staff book for them).
    pub has_login: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<CustomerRow> for CustomerView {
    fn from(row: CustomerRow) -> Self {
        Self {
            id: row.id,
            full_name: row.full_name,
            phone: row.phone,
            email: row.email,
            locale: row.locale,
            has_login: row.user_id.is_some(),
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

/// A staff member enters a client; the audit entry is written in the same transaction.
pub async fn create_customer(
    pool: &PgPool,
    staff: Caller,
    new: NewCustomer,
    request_id: Option<String>,
) -> Result<CustomerView, ApiError> {
    run_blocking(pool, move |conn| {
        conn.transaction(|conn| {
            let row = store::insert_customer(
                conn,
                &NewCustomerRow {
                    user_id: None,
                    full_name: &new.full_name,
                    phone: Some(new.phone.as_str()),
                    email: new.email.as_ref().map(Email::as_str),
                    locale: new.locale,
                    created_by: Some(staff.user_id),
                },
            )?;
            audit::record(
                conn,
                &AuditEntry {
                    actor_id: staff.user_id,
                    actor_role: staff.role,
                    on_behalf_of: Some(row.id),
                    action: "customer.create",
                    entity_type: "customer",
                    entity_id: row.id.to_string(),
                    request_id,
                    details: serde_json::json!({ "full_name": row.full_name }),
                },
            )?;
            Ok(row.into())
        })
    })
    .await
}

/// The agent's look-up while the client is on the line: everyone with that number
/// (a family often shares one), narrowed by the start of a name.
pub async fn find_by_phone(
    pool: &PgPool,
    phone: PhoneNumber,
    name_prefix: Option<String>,
) -> Result<Vec<CustomerView>, ApiError> {
    run_blocking(pool, move |conn| {
        Ok(store::find_customers_by_phone(
            conn,
            phone.as_str(),
            name_prefix.as_deref(),
            LOOKUP_LIMIT,
        )?
        .into_iter()
        .map(Into::into)
        .collect())
    })
    .await
}

pub async fn get_customer(pool: &PgPool, id: Uuid) -> Result<CustomerView, ApiError> {
    run_blocking(pool, move |conn| Ok(find_customer(conn, id)?.into())).await
}

/// A customer by id, inside the caller's transaction; 404 `resource.not_found` if none.
pub fn find_customer(conn: &mut PgConnection, id: Uuid) -> Result<CustomerRow, ApiError> {
    Ok(store::find_customer(conn, id)?)
}

/// The customer row of a signed-in user, made on first use from the account's name, email,
/// phone and language. Safe against itself: two first bookings at once make one row (the
/// insert yields on `customers_user_id_key` and the row the other made is read back), as
/// long as the transaction is READ COMMITTED, PostgreSQL's default.
pub fn customer_for_user(conn: &mut PgConnection, user: &User) -> Result<CustomerRow, ApiError> {
    if let Some(existing) = store::find_customer_of_user(conn, user.id)? {
        return Ok(existing);
    }
    let email = user.email.to_lowercase();
    let new = NewCustomerRow {
        user_id: Some(user.id),
        full_name: &user.full_name,
        phone: user.phone.as_deref(),
        email: Some(&email),
        locale: user.locale,
        created_by: None,
    };
    if let Some(created) = store::insert_customer_for_user(conn, &new)? {
        return Ok(created);
    }
    store::find_customer_of_user(conn, user.id)?.ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "the customer of user {} conflicted on insert but cannot be read",
            user.id
        ))
    })
}
