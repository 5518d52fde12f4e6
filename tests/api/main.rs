//! Black-box tests: each spawns the app on port 0 against its own database and talks HTTP.

mod auth;
mod caldav;
mod contract;
mod errors;
mod fhir;
mod health;
mod helpers;
mod lifecycle;
mod providers;
mod search;
