//! `GET /v1/admin/jobs?state=&cursor=&limit=` and `POST /v1/admin/jobs/{id}/retry`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use diesel::prelude::*;

use crate::auth::Admin;
use crate::bookings::service::Bookings;
use crate::db::PgPool;
use crate::db::run_blocking;
use crate::error::ApiError;
use crate::http::RouteTable;
use crate::http::cursor;
use crate::http::query::QueryParams;
use crate::jobs::queue;

pub fn routes(table: &mut RouteTable) {
    table
        .get("/v1/admin/jobs", admin_jobs_list)
        .post("/v1/admin/jobs/{job_id}/retry", admin_jobs_retry);
}

const STATES: [&str; 4] = ["queued", "running", "done", "dead"];

async fn admin_jobs_list(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let job_state = params.text("state").map(str::to_owned);
    if job_state.as_deref().is_some_and(|s| !STATES.contains(&s)) {
        params.error("state", "must be queued, running, done or dead");
    }
    let after = params.cursor::<i64>();
    let limit = params.limit();
    params.only(&["state", "cursor", "limit"]);
    params.finish()?;
    let jobs = run_blocking(&pool, move |conn| {
        Ok(queue::list(conn, job_state.as_deref(), after, limit)?)
    })
    .await?;
    let next = (jobs.len() as i64 == limit)
        .then(|| jobs.last().map(|j| cursor::encode(j.created_at, j.id)))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "jobs": jobs, "next_cursor": next })))
}

async fn admin_jobs_retry(
    pool: web::Data<PgPool>,
    bookings: web::Data<Bookings>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let retried = run_blocking(&pool, move |conn| {
        match queue::retry(conn, id)? {
            Some(job) => Ok(job),
            None => {
                // Tell "no such job" (404) from "not dead" (409).
                crate::schema::jobs::table
                    .find(id)
                    .select(crate::schema::jobs::id)
                    .first::<i64>(conn)?;
                Err(ApiError::Conflict {
                    code: "job.not_dead",
                    detail: "only a dead job can be retried".into(),
                })
            }
        }
    })
    .await?;
    bookings.wake.notify_waiters();
    Ok(HttpResponse::Ok().json(retried))
}
