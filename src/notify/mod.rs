//! Telling people and providers what happened: email to customers, signed webhooks to providers.

pub mod billing_mail;
pub mod email;
pub mod routes;
pub mod templates;
pub mod webhooks;
