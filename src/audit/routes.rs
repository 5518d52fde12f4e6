//! `GET /v1/audit`: admins read who did what, newest first.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use uuid::Uuid;

use super::service::{self, AuditQuery, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor};
use super::store::AuditFilter;
use crate::auth::Admin;
use crate::db::PgPool;
use crate::domain::office_day_start;
use crate::error::ApiError;
use crate::http::RouteTable;
use crate::http::query::QueryParams;

pub fn routes(table: &mut RouteTable) {
    table.get("/v1/audit", audit_list);
}

/// A free-text filter (`action`, `entity_type`, `entity_id`): bounded, as it goes into SQL.
fn short_text(params: &mut QueryParams, name: &str) -> Option<String> {
    let value = params.text(name)?.to_owned();
    if value.chars().count() > 200 {
        params.error(name, "must be at most 200 characters");
        return None;
    }
    Some(value)
}

async fn audit_list(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let actor_id = params.parsed::<Uuid>("actor_id", "a UUID");
    let on_behalf_of = params.parsed::<Uuid>("on_behalf_of", "a UUID");
    let action = short_text(&mut params, "action");
    let entity_type = short_text(&mut params, "entity_type");
    let entity_id = short_text(&mut params, "entity_id");
    let from = params.parsed::<NaiveDate>("from", "a date (YYYY-MM-DD)");
    let to = params.parsed::<NaiveDate>("to", "a date (YYYY-MM-DD)");
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        params.error("to", "must not be before from");
    }
    let limit = params
        .parsed::<i64>("limit", "a whole number")
        .unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        params.error("limit", format!("must be between 1 and {MAX_PAGE_SIZE}"));
    }
    let after = params.text("cursor").map(decode_cursor);
    if after == Some(None) {
        params.error("cursor", "is not a cursor this API returned");
    }
    params.finish()?;
    let query = AuditQuery {
        filter: AuditFilter {
            actor_id,
            on_behalf_of,
            action,
            entity_type,
            entity_id,
            from: from.map(office_day_start),
            until: to.and_then(|to| to.succ_opt()).map(office_day_start),
        },
        after: after.flatten(),
        limit,
    };
    let page = service::list_entries(&pool, query).await?;
    Ok(HttpResponse::Ok().json(page))
}
