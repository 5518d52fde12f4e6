//! `GET /v1/providers/{id}/webhook-deliveries` and a manual resend (admins).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use uuid::Uuid;

use super::webhooks;
use crate::auth::Admin;
use crate::bookings::service::Bookings;
use crate::db::PgPool;
use crate::db::run_blocking;
use crate::error::ApiError;
use crate::http::RouteTable;
use crate::http::cursor;
use crate::http::query::QueryParams;

pub fn routes(table: &mut RouteTable) {
    table
        .get(
            "/v1/providers/{provider_id}/webhook-deliveries",
            webhook_deliveries_list,
        )
        .post(
            "/v1/providers/{provider_id}/webhook-deliveries/{message_id}/resend",
            webhook_deliveries_resend,
        );
}

async fn webhook_deliveries_list(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let provider_id = path.into_inner();
    let mut params = QueryParams::from_request(&req)?;
    let after = params.cursor::<i64>();
    let limit = params.limit();
    params.only(&["cursor", "limit"]);
    params.finish()?;
    let deliveries = run_blocking(&pool, move |conn| {
        crate::providers::store::find_provider(conn, provider_id)?;
        Ok(webhooks::list_deliveries(conn, provider_id, after, limit)?)
    })
    .await?;
    let next = (deliveries.len() as i64 == limit)
        .then(|| deliveries.last().map(|d| cursor::encode(d.at, d.id)))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "deliveries": deliveries, "next_cursor": next })))
}

async fn webhook_deliveries_resend(
    pool: web::Data<PgPool>,
    bookings: web::Data<Bookings>,
    _admin: Admin,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (provider_id, message_id) = path.into_inner();
    let queued = run_blocking(&pool, move |conn| {
        Ok(webhooks::resend(conn, provider_id, &message_id)?)
    })
    .await?;
    if !queued {
        return Err(ApiError::NotFound);
    }
    bookings.wake.notify_waiters();
    Ok(HttpResponse::Accepted().json(json!({ "status": "queued" })))
}
