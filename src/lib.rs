//! Wasit: the booking and reservation broker behind an e-services office.
//! See docs/ARCHITECTURE.md for the layers, the booking lifecycle and the money path.

pub mod audit;
pub mod auth;
pub mod billing;
pub mod bookings;
pub mod config;
pub mod customers;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod packages;
pub mod providers;
pub mod schema;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
pub mod worker;
