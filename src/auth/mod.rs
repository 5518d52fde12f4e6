//! Accounts and sessions: argon2id passwords, short-lived JWT access tokens, rotating
//! refresh tokens with reuse detection and an absolute lifetime, a login throttle shared by
//! every instance, the `Caller` extractor with its role guard (which refuses tokens of
//! disabled accounts and of ended sessions), and account upkeep: verified emails, password
//! reset and change through emailed single-use links, and disabling.

pub mod account_routes;
pub mod accounts;
pub mod caller;
pub mod link_store;
pub mod links;
pub mod log_hash;
pub mod model;
pub mod password;
pub mod routes;
pub mod service;
pub mod session_check;
pub mod store;
pub mod throttle;
pub mod tokens;

pub use crate::domain::Role;
pub use caller::{Admin, Caller};
pub use model::User;
pub use service::AuthConfig;
