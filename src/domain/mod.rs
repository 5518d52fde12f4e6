//! Domain types that requests are parsed into at the edge, so the core never sees raw strings.

mod email;
mod locale;
mod phone;

pub use email::Email;
pub use locale::Locale;
pub use phone::PhoneNumber;
