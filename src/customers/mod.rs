//! Customers: the people bookings are for. A web customer has a login (`user_id`); a client
//! who phones the office may have only a name and a phone number, entered by an agent, who
//! finds them again by that number on the next call.

pub mod routes;
pub mod service;
pub mod store;

pub use service::{CustomerView, customer_for_user, find_customer};
pub use store::CustomerRow;
