//! `GET /metrics` in the Prometheus text format. Counters and histograms are recorded where
//! things happen (the request middleware, the search, the webhook and mail senders); what
//! the database already knows (bookings by status, the job queue) is counted when scraped,
//! so every instance reports the same truth and nothing drifts.
//!
//! Access: the bearer token in `metrics.token` (what Prometheus sends), or an admin's JWT.

use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use secrecy::ExposeSecret;

use crate::auth::Role;
use crate::db::run_blocking;
use crate::error::ApiError;
use crate::http::RouteTable;
use crate::startup::AppState;

/// The process's instruments, in their own registry.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    provider_seconds: HistogramVec,
    provider_failures: IntCounterVec,
    search_answers: IntCounterVec,
    webhook_deliveries: IntCounterVec,
    emails_sent: IntCounter,
    smtp_failures: IntCounter,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

/// Request and provider latencies: from a millisecond to the longest provider timeout.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new_custom(Some("wasit".into()), None).expect("registry");
    let histogram =
        |name: &str, help: &str| HistogramOpts::new(name, help).buckets(BUCKETS.to_vec());
    Metrics {
        http_requests: register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "http_requests_total",
                    "HTTP requests by route pattern and status",
                ),
                &["method", "route", "status"],
            )
            .expect("metric"),
        ),
        http_seconds: register(
            &registry,
            HistogramVec::new(
                histogram("http_request_duration_seconds", "HTTP request latency"),
                &["method", "route", "status"],
            )
            .expect("metric"),
        ),
        provider_seconds: register(
            &registry,
            HistogramVec::new(
                histogram(
                    "provider_search_duration_seconds",
                    "Provider search latency",
                ),
                &["provider", "adapter"],
            )
            .expect("metric"),
        ),
        provider_failures: register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "provider_search_failures_total",
                    "Provider searches that failed",
                ),
                &["provider", "adapter", "kind"],
            )
            .expect("metric"),
        ),
        search_answers: register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "search_answers_total",
                    "Searches answered from the answer cache or by asking the providers",
                ),
                &["source"],
            )
            .expect("metric"),
        ),
        webhook_deliveries: register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "webhook_deliveries_total",
                    "Webhook delivery attempts by outcome",
                ),
                &["outcome"],
            )
            .expect("metric"),
        ),
        emails_sent: register(
            &registry,
            IntCounter::new("emails_sent_total", "Emails accepted by the mail server")
                .expect("metric"),
        ),
        smtp_failures: register(
            &registry,
            IntCounter::new(
                "smtp_failures_total",
                "Emails the mail server did not accept",
            )
            .expect("metric"),
        ),
        registry,
    }
});

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_seconds
            .with_label_values(&labels)
            .observe(seconds);
    }

    /// One provider's part of a search; `failure` is `timeout` or `error` when it failed.
    pub fn observe_provider(
        &self,
        provider: &str,
        adapter: &str,
        seconds: f64,
        failure: Option<&str>,
    ) {
        self.provider_seconds
            .with_label_values(&[provider, adapter])
            .observe(seconds);
        if let Some(kind) = failure {
            self.provider_failures
                .with_label_values(&[provider, adapter, kind])
                .inc();
        }
    }

    /// `cache` or `providers`.
    pub fn search_answer(&self, source: &str) {
        self.search_answers.with_label_values(&[source]).inc();
    }

    /// `delivered`, `failed` or `gone`.
    pub fn webhook_delivery(&self, outcome: &str) {
        self.webhook_deliveries.with_label_values(&[outcome]).inc();
    }

    pub fn email(&self, accepted: bool) {
        if accepted {
            self.emails_sent.inc();
        } else {
            self.smtp_failures.inc();
        }
    }
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
    counts_gauge(
        conn,
        &registry,
        Opts::new("bookings", "Bookings by status"),
        "status",
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
        "kind",
        "SELECT kind AS label, count(*) AS n FROM jobs WHERE state = 'dead' GROUP BY kind",
    )?;
    Ok(registry)
}

/// A gauge in `registry` set from `sql`, which answers one (label, n) row per label value.
fn counts_gauge(
    conn: &mut PgConnection,
    registry: &Registry,
    opts: Opts,
    label: &str,
    sql: &str,
) -> Result<(), ApiError> {
    let gauge = register(
        registry,
        IntGaugeVec::new(opts, &[label]).map_err(ApiError::internal)?,
    );
    for row in diesel::sql_query(sql).load::<Count>(conn)? {
        gauge.with_label_values(&[&row.label]).set(row.n);
    }
    Ok(())
}

fn authorised(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::MissingToken)?;
    if let Some(token) = &state.metrics_token {
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
    let caller = crate::auth::caller::authenticate(req)?;
    caller.require(&[Role::Admin])
}

async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorised(&req, &state)?;
    let gauges = run_blocking(&state.pool, database_gauges).await?;
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
