//! Builds the application from settings: the pool, shared state, middleware, routes and an
//! HTTP server bound to its address (port 0 in tests).

use std::net::ToSocketAddrs;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};

use crate::config::Settings;
use crate::db::{self, PgPool};
use crate::error::ApiError;
use crate::http::{BodyLimit, RouteTable, fallback};
use crate::state::AppState;
use crate::{auth, bookings, idempotency, providers, telemetry};

/// Connections the kernel keeps waiting to be accepted (capped by `net.core.somaxconn`).
const ACCEPT_BACKLOG: u32 = 4096;

/// Every route the API serves. `openapi.yaml` must list exactly these (tests/api/contract.rs).
pub fn route_table() -> RouteTable {
    let mut table = RouteTable::default();
    crate::ops::routes(&mut table);
    auth::routes::routes(&mut table);
    providers::routes::routes(&mut table);
    bookings::routes::routes(&mut table);
    bookings::waitlist::routes::routes(&mut table);
    bookings::link_routes::routes(&mut table);
    crate::billing::routes::routes(&mut table);
    crate::worker::routes::routes(&mut table);
    crate::notify::routes::routes(&mut table);
    crate::notify::sms::routes::routes(&mut table);
    crate::customers::routes::routes(&mut table);
    crate::audit::routes::routes(&mut table);
    crate::packages::routes::routes(&mut table);
    table
}

/// Measures the read replica's lag every second while the process runs (nothing without
/// a replica), for the search's choice of pool and for `wasit_replica_lag_seconds`.
fn watch_replica(read: db::ReadPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match read.measure_lag().await {
                None => return,
                Some(lag) => crate::metrics::METRICS.replica_lag(lag),
            }
        }
    });
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let pool = db::build_pool(&settings.database);
        Self::build_with_pool(settings, pool)
    }

    pub fn build_with_pool(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        // The first address the host names, as one listener (port 0: a free port, as tests use).
        let address = (settings.server.host.as_str(), settings.server.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| anyhow::anyhow!("server.host names no address"))?;
        let state = web::Data::new(AppState::new(settings, pool)?);
        watch_replica(state.searcher.read.clone());
        let shared = state.clone();
        let body_limit = settings.server.max_body_bytes;
        // Each handler and middleware asks for the one piece it needs.
        let handles = state.handles(settings);
        let mut server = HttpServer::new(move || {
            App::new()
                // The last `wrap` runs first: the request context sees the final response.
                .wrap(ErrorHandlers::new().default_handler(fallback::problem_fallback))
                .wrap(from_fn(idempotency::idempotency))
                .wrap(from_fn(telemetry::request_context))
                // Outermost: gzip for clients that ask (the site's scripts, big JSON pages).
                .wrap(actix_web::middleware::Compress::default())
                .configure(|config| handles.register(config))
                .app_data(BodyLimit(body_limit))
                .app_data(web::PathConfig::default().error_handler(fallback::path_error))
                .app_data(web::QueryConfig::default().error_handler(fallback::query_error))
                .app_data(
                    web::JsonConfig::default()
                        .limit(body_limit)
                        .error_handler(fallback::json_error),
                )
                .configure(|config| route_table().mount(config))
                .configure(crate::web::mount)
                .default_service(web::to(route_not_found))
        })
        // A crowd waits in the kernel's accept queue, not in our memory (config/default.toml):
        // the queue (set before binding) holds what `max_connections` leaves waiting.
        .backlog(ACCEPT_BACKLOG)
        .max_connections(settings.server.max_connections)
        .bind(address)
        .map_err(|e| {
            anyhow::anyhow!(
                "binding {}:{}: {e}",
                settings.server.host,
                settings.server.port
            )
        })?
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(10));
        let port = server
            .addrs()
            .first()
            .map(|addr| addr.port())
            .ok_or_else(|| anyhow::anyhow!("bound no address"))?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            state: shared,
        })
    }

    /// The state the handlers share, e.g. for the job workers started beside them.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests finish (up to
    /// `server.shutdown_timeout_secs`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn route_not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}
