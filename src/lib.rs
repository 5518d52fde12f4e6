//! Wasit: the booking and reservation broker behind an e-services office.
//! See README.md for the architecture in a paragraph and DESIGN notes in each module.

pub mod audit;
pub mod auth;
pub mod billing;
pub mod bookings;
pub mod config;
pub mod customers;
pub mod db;
pub mod domain;
pub mod error;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod providers;
pub mod schema;
pub mod startup;
pub mod telemetry;
pub mod web;
