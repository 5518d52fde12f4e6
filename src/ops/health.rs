//! Liveness (the process answers), readiness (it can serve: the database answers), and the
//! API contract itself.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::db::PgPool;
use crate::db::{self, run_blocking};
use crate::error::ApiError;
use crate::http::RouteTable;

/// The contract, compiled in so the binary serves the spec it was built with.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

pub fn routes(table: &mut RouteTable) {
    table
        .get("/health/live", health_live)
        .get("/health/ready", health_ready)
        .get("/openapi.yaml", openapi_get);
}

async fn health_live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn health_ready(pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    run_blocking(&pool, |conn| {
        db::ping(conn).map_err(|e| ApiError::Unavailable(anyhow::Error::new(e)))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok", "database": "ok" })))
}

async fn openapi_get() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}
