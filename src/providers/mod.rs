//! Providers (hotels, hospitals) and federated availability search.
//!
//! Each provider is reached through an adapter: `local` (inventory in our own tables),
//! `fhir` (a hospital's FHIR R4 server) or `caldav` (a hotel's CalDAV calendars). The search
//! asks every matching provider at once, each under its own timeout, and merges the offers.

pub mod adapter;
pub mod answer_cache;
pub mod caldav;
pub mod city_routes;
pub mod demo;
pub mod demo_photo;
pub mod fhir;
pub mod hints;
pub mod local;
pub mod model;
pub mod offer;
pub mod photo_routes;
pub mod photos;
pub mod places;
pub mod policy;
pub mod rates;
pub mod replay;
pub mod result_view;
pub mod routes;
pub mod search;
pub mod search_routes;
pub mod service;
pub mod store;
pub mod unit_routes;
