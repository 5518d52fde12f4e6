use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::{Email, Locale, PhoneNumber, Role};

/// An account as the API shows it (never with its password hash).
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub full_name: String,
    pub phone: Option<String>,
    pub locale: Locale,
    /// Whether the account's email was shown to be theirs (a customer's own sign-up starts
    /// unverified; accounts an admin or operator makes start verified).
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    /// When an admin disabled the account (its sessions ended then).
    pub disabled_at: Option<DateTime<Utc>>,
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
