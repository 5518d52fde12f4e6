//! Telling people and providers what happened: email to customers (bookings, money, their
//! account's links), texts to customers who opted in, signed webhooks to providers.

pub mod account_mail;
pub mod billing_mail;
pub mod client_links;
pub mod dates;
pub mod email;
pub mod routes;
pub mod sms;
pub mod templates;
pub mod webhooks;
