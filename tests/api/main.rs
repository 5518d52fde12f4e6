//! Black-box tests: each spawns the app on port 0 against its own database and talks HTTP.

mod audit;
mod auth;
mod bookings;
mod browser;
mod caldav;
mod contract;
mod customers;
mod email;
mod errors;
mod faults;
mod fhir;
mod health;
mod helpers;
mod jobs;
mod layers;
mod lifecycle;
mod metrics;
mod payments;
mod provider_ack;
mod providers;
mod seams;
mod seams_billing;
mod search;
mod stripe;
mod subscriptions;
mod webhooks;
