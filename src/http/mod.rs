//! HTTP plumbing every capability shares: the JSON extractor, the route table, the
//! fallback that turns any error response into problem+json, and the one client for calls
//! to addresses an admin typed (`outbound`).

pub mod client;
pub mod conditional;
pub mod cursor;
pub mod fallback;
pub mod json;
pub mod outbound;
pub mod path;
pub mod query;
pub mod rate_limit;
pub mod route_table;

pub use json::{BodyLimit, Json};

/// Text made safe inside HTML (emails, printed invoices): the four characters that matter.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
pub use route_table::RouteTable;
