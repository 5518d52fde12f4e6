//! Builds the application from settings: the pool, shared state, middleware, routes and an
//! HTTP server on an already-bound listener (port 0 in tests).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};

use crate::auth::AuthConfig;
use crate::billing::money::FeePolicy;
use crate::bookings::service::Bookings;
use crate::config::SearchSettings;
use crate::config::Settings;
use crate::db::{self, PgPool};
use crate::error::ApiError;
use crate::http::{BodyLimit, RouteTable, fallback};
use crate::providers::adapter::HttpClients;
use crate::providers::answer_cache::AnswerCache;
use crate::providers::offer::OfferSigner;
use crate::providers::search::Searcher;
use crate::{auth, bookings, health, idempotency, providers, telemetry};
use secrecy::ExposeSecret;

/// At most this much memory holds kept search answers: over a thousand typical answers, while
/// a kept answer lives about a second.
const SEARCH_CACHE_BYTES: usize = 4 << 20;

/// What every handler may reach, built once and shared by all workers.
pub struct AppState {
    pub pool: PgPool,
    pub auth: Arc<AuthConfig>,
    pub searcher: Arc<Searcher>,
    pub bookings: Bookings,
    pub mailer: Arc<crate::notify::email::Mailer>,
    pub billing: crate::billing::Billing,
    pub search_limits: SearchSettings,
    pub trust_forwarded_for: bool,
    pub metrics_token: Option<secrecy::SecretString>,
}

impl AppState {
    pub fn new(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        let searcher = Searcher {
            pool: pool.clone(),
            clients: HttpClients::new(settings.search.provider_timeout())?,
            fees: FeePolicy {
                service_fee: settings.pricing.service_fee,
                vat_rate: settings.pricing.vat_rate,
            },
            signer: OfferSigner::new(settings.auth.jwt_secret.expose_secret().as_bytes()),
            provider_timeout: settings.search.provider_timeout(),
            offer_ttl: chrono::Duration::seconds(settings.search.offer_ttl_secs as i64),
            answers: AnswerCache::new(settings.search.cache_ttl(), SEARCH_CACHE_BYTES),
        };
        let searcher = Arc::new(searcher);
        let wake = Arc::new(tokio::sync::Notify::new());
        let payments = &settings.payments;
        Ok(Self {
            billing: crate::billing::Billing {
                pool: pool.clone(),
                gateway: Arc::new(crate::billing::gateway::Gateway::from_settings(payments)?),
                seller: Arc::new((&settings.invoices).into()),
                vat_rate: settings.pricing.vat_rate,
                action_window: chrono::Duration::minutes(i64::from(payments.action_minutes)),
                return_url: payments.return_url.clone(),
                dunning_days: payments.dunning_retry_days.clone().into(),
                staff_refund_limit: settings.billing.staff_refund_limit,
                wake: wake.clone(),
            },
            bookings: Bookings {
                pool: pool.clone(),
                searcher: searcher.clone(),
                hold: chrono::Duration::minutes(i64::from(settings.bookings.hold_minutes)),
                wake,
                ack_deadline: chrono::Duration::minutes(i64::from(
                    settings.bookings.ack_deadline_minutes,
                )),
            },
            mailer: Arc::new(crate::notify::email::Mailer::from_settings(
                &settings.email,
            )?),
            pool,
            auth: Arc::new(AuthConfig::new(&settings.auth)?),
            searcher,
            search_limits: settings.search.clone(),
            trust_forwarded_for: settings.server.trust_forwarded_for,
            metrics_token: settings.metrics.token.clone(),
        })
    }
}

/// Every route the API serves. `openapi.yaml` must list exactly these (tests/api/contract.rs).
pub fn route_table() -> RouteTable {
    let mut table = RouteTable::default();
    health::routes(&mut table);
    crate::metrics::routes(&mut table);
    auth::routes::routes(&mut table);
    providers::routes::routes(&mut table);
    bookings::routes::routes(&mut table);
    crate::billing::routes::routes(&mut table);
    crate::jobs::routes::routes(&mut table);
    crate::notify::routes::routes(&mut table);
    crate::customers::routes::routes(&mut table);
    crate::audit::routes::routes(&mut table);
    table
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
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .map_err(|e| {
                anyhow::anyhow!(
                    "binding {}:{}: {e}",
                    settings.server.host,
                    settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState::new(settings, pool)?);
        let shared = state.clone();
        let body_limit = settings.server.max_body_bytes;
        // What the middleware needs, registered on its own (the idempotency layer knows no
        // AppState).
        let pool_data = web::Data::new(state.pool.clone());
        let auth_data = web::Data::from(state.auth.clone());
        let idempotency_data = web::Data::new(settings.idempotency.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                // The last `wrap` runs first: the request context sees the final response.
                .wrap(ErrorHandlers::new().default_handler(fallback::problem_fallback))
                .wrap(from_fn(idempotency::idempotency))
                .wrap(from_fn(telemetry::request_context))
                // Outermost: gzip for clients that ask (the site's scripts, big JSON pages).
                .wrap(actix_web::middleware::Compress::default())
                .app_data(state.clone())
                .app_data(pool_data.clone())
                .app_data(auth_data.clone())
                .app_data(idempotency_data.clone())
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
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(10));
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
