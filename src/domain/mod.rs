//! Domain types that requests are parsed into at the edge, so the core never sees raw strings.

mod actor;
pub mod calendar;
mod email;
mod locale;
pub mod money;
pub mod occupancy;
pub mod patient;
mod phone;
pub mod slug;
pub mod text;
mod time;

pub use actor::{Actor, Role};
pub use email::Email;
pub use locale::Locale;
pub use patient::{IdType, Patient};
pub use phone::PhoneNumber;
pub use time::{
    OFFICE_TIMEZONE, hh_mm, local_instant, local_midnight, office_day_start, parse_hh_mm,
};
