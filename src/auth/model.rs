use chrono::{DateTime, Utc};
use diesel::{AsExpression, FromSqlRow, sql_types::Text};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Email, Locale, PhoneNumber};

/// What a caller may do. Customers sign themselves up; the other roles are made by an admin
/// (or `wasit create-user`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[serde(rename_all = "lowercase")]
#[diesel(sql_type = Text)]
pub enum Role {
    Customer,
    Agent,
    Admin,
    Provider,
}

crate::text_enum!(Role {
    Customer => "customer",
    Agent => "agent",
    Admin => "admin",
    Provider => "provider",
});

/// An account as the API shows it (never with its password hash).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub full_name: String,
    pub phone: Option<String>,
    pub locale: Locale,
    pub created_at: DateTime<Utc>,
}

/// A validated sign-up (or `create-user`) request.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Email,
    pub password: String,
    pub full_name: String,
    pub phone: Option<PhoneNumber>,
    pub locale: Locale,
    pub role: Role,
    /// For `provider` logins: the provider whose bookings they see.
    pub provider_id: Option<Uuid>,
}
