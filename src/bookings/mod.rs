//! Reservations: holds that never overbook, the booking state machine, cancellation with
//! the provider's refund policy, no-shows with its fee, and agents booking on a client's
//! behalf.

pub mod ack;
pub mod change;
pub mod change_store;
pub mod client_links;
pub mod consent;
pub mod hold;
pub mod lifecycle;
pub mod link_routes;
pub mod no_show;
pub mod notice;
pub mod patients;
pub mod pay;
pub mod pay_links;
mod prepare;
pub mod reference;
pub mod routes;
pub mod service;
pub mod state;
pub mod store;
pub mod system;
pub mod uncertain;
pub mod view;
pub mod waitlist;
