//! `GET /metrics` in the Prometheus text format: the process's counters and histograms
//! (`crate::metrics`), and what the database already knows (bookings by status, the job
//! queue) counted when scraped, so every instance reports the same truth and nothing drifts.
//!
//! Access: the bearer token in `metrics.token` (what Prometheus sends), or an admin's JWT.

use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use prometheus::{Encoder, GaugeVec, IntGaugeVec, Opts, Registry, TextEncoder};
use secrecy::ExposeSecret;

use crate::auth::Role;
use crate::bookings::state::BookingStatus;
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;
use crate::http::RouteTable;
use crate::jobs::Job;
use crate::metrics::{METRICS, register};

/// Who may scrape besides admins: the bearer token Prometheus presents (`metrics.token`).
pub struct MetricsAccess {
    pub token: Option<secrecy::SecretString>,
}

pub fn routes(table: &mut RouteTable) {
    table.get("/metrics", metrics);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Queue {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    depth: i64,
    #[diesel(sql_type = Double)]
    oldest_seconds: f64,
}

/// What the database knows, as gauges in a registry made for this scrape.
fn database_gauges(conn: &mut PgConnection) -> Result<Registry, ApiError> {
    let registry = Registry::new_custom(Some("wasit".into()), None).map_err(ApiError::internal)?;
    let statuses: Vec<&str> = BookingStatus::ALL.iter().map(|s| s.as_str()).collect();
    counts_gauge(
        conn,
        &registry,
        Opts::new("bookings", "Bookings by status"),
        ("status", &statuses),
        "SELECT status AS label, count(*) AS n FROM bookings GROUP BY status",
    )?;
    let depth = register(
        &registry,
        IntGaugeVec::new(
            Opts::new("jobs_queued", "Jobs waiting (due or scheduled) by kind"),
            &["kind"],
        )
        .map_err(ApiError::internal)?,
    );
    let oldest = register(
        &registry,
        GaugeVec::new(
            Opts::new(
                "jobs_oldest_due_seconds",
                "Age of the oldest due job still waiting, by kind",
            ),
            &["kind"],
        )
        .map_err(ApiError::internal)?,
    );
    // Every known kind reports, zero included: a gauge that vanishes at zero reads as "no data".
    for kind in Job::KINDS {
        depth.with_label_values(&[kind]).set(0);
        oldest.with_label_values(&[kind]).set(0.0);
    }
    for row in diesel::sql_query(
        "SELECT kind, count(*) AS depth, \
         coalesce(extract(epoch FROM now() - min(run_at) FILTER (WHERE run_at <= now())), 0)::float8 \
         AS oldest_seconds FROM jobs WHERE state = 'queued' GROUP BY kind",
    )
    .load::<Queue>(conn)?
    {
        depth.with_label_values(&[&row.kind]).set(row.depth);
        oldest.with_label_values(&[&row.kind]).set(row.oldest_seconds);
    }
    counts_gauge(
        conn,
        &registry,
        Opts::new("jobs_dead", "Jobs parked dead, by kind"),
        ("kind", &Job::KINDS),
        "SELECT kind AS label, count(*) AS n FROM jobs WHERE state = 'dead' GROUP BY kind",
    )?;
    Ok(registry)
}

/// A gauge in `registry` set from `sql`, which answers one (label, n) row per label value;
/// every `known` value reports, zero when `sql` has no row for it.
fn counts_gauge(
    conn: &mut PgConnection,
    registry: &Registry,
    opts: Opts,
    (label, known): (&str, &[&str]),
    sql: &str,
) -> Result<(), ApiError> {
    let gauge = register(
        registry,
        IntGaugeVec::new(opts, &[label]).map_err(ApiError::internal)?,
    );
    for value in known {
        gauge.with_label_values(&[*value]).set(0);
    }
    for row in diesel::sql_query(sql).load::<Count>(conn)? {
        gauge.with_label_values(&[&row.label]).set(row.n);
    }
    Ok(())
}

async fn authorised(req: &HttpRequest, access: &MetricsAccess) -> Result<(), ApiError> {
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::MissingToken)?;
    if let Some(token) = &access.token {
        let token = token.expose_secret().as_bytes();
        // Constant time: the token is a secret.
        if token.len() == presented.len()
            && token
                .iter()
                .zip(presented.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        {
            return Ok(());
        }
    }
    crate::auth::caller::authenticate(req, Some(&[Role::Admin]))
        .await
        .map(drop)
}

async fn metrics(
    req: HttpRequest,
    access: web::Data<MetricsAccess>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    authorised(&req, &access).await?;
    let gauges = run_blocking(&pool, database_gauges).await?;
    let mut families = METRICS.registry.gather();
    families.extend(gauges.gather());
    let mut body = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut body)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
