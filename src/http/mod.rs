//! HTTP plumbing every capability shares: the JSON extractor, the route table, and the
//! fallback that turns any error response into problem+json.

pub mod cursor;
pub mod fallback;
pub mod json;
pub mod query;
pub mod route_table;

pub use json::{BodyLimit, Json};
pub use route_table::RouteTable;
