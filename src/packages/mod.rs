//! Medical-travel packages (#16, point 1): a clinic appointment and a hotel stay near it,
//! found together (`search`), held all or nothing, paid once, and ended together when a
//! provider refuses (`saga`). Each part is an ordinary booking; a package is its own table
//! and a link to each part, with its status derived from theirs (`view`). Sits above
//! bookings and billing, below notify.

pub mod pay;
pub mod routes;
pub mod saga;
pub mod search;
pub mod service;
pub mod store;
pub mod view;
