//! Accounts and sessions: argon2id passwords, short-lived JWT access tokens, rotating
//! refresh tokens with reuse detection, a login throttle shared by every instance, and the
//! `Caller` extractor with its role guard.

pub mod caller;
pub mod model;
pub mod password;
pub mod routes;
pub mod service;
pub mod store;
pub mod throttle;
pub mod tokens;

pub use crate::domain::Role;
pub use caller::{Admin, Caller};
pub use model::User;
pub use service::AuthConfig;
