//! Who is acting: a caller's role, and the `Actor` every service takes, so history rows and
//! the audit log can say who did what, on whose behalf, under which request.

use diesel::{AsExpression, FromSqlRow, sql_types::Text};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

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

/// Who is acting, and under which request (for the event history and the audit log).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Uuid,
    pub role: Role,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Agent | Role::Admin)
    }

    /// Money records this actor may see: `Some(user)` limits them to that customer login's
    /// own, `None` is everything (staff); providers see none.
    pub fn customer_scope(&self) -> Result<Option<Uuid>, ApiError> {
        match self.role {
            Role::Customer => Ok(Some(self.user_id)),
            Role::Agent | Role::Admin => Ok(None),
            Role::Provider => Err(ApiError::Forbidden),
        }
    }
}
