//! What operators and their tools call: liveness and readiness probes, the API contract
//! (`/openapi.yaml`) and the Prometheus scrape (`/metrics`).

pub mod health;
pub mod scrape;

use crate::http::RouteTable;

pub fn routes(table: &mut RouteTable) {
    health::routes(table);
    scrape::routes(table);
}
