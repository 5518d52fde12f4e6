//! Telling people and providers what happened: signed webhooks to providers (email follows).

pub mod routes;
pub mod webhooks;
