//! `AppState`: everything the service builds once from its settings (the pool, the
//! adapters' clients, the gateway, the mailer and each capability's service), and the
//! handles that give each handler the one piece it asks for (`web::Data<Bookings>`, …), so
//! no capability depends on this file.

use std::sync::Arc;

use actix_web::web;
use secrecy::ExposeSecret;

use crate::auth::AuthConfig;
use crate::billing::Billing;
use crate::bookings::hold::HoldLimits;
use crate::bookings::service::Bookings;
use crate::config::{JobSettings, PackageSettings, SearchSettings, Settings};
use crate::db::PgPool;
use crate::domain::money::FeePolicy;
use crate::http::client::TrustedProxies;
use crate::http::outbound::AddressPolicy;
use crate::http::rate_limit::RateLimit;
use crate::idempotency::{Fingerprints, Idempotency, Secrets};
use crate::notify::email::Mailer;
use crate::notify::sms::Sms;
use crate::ops::scrape::MetricsAccess;
use crate::packages::service::Packages;
use crate::providers::adapter::HttpClients;
use crate::providers::answer_cache::AnswerCache;
use crate::providers::offer::OfferSigner;
use crate::providers::search::Searcher;
use crate::worker::Worker;

/// What every handler may reach, built once and shared by all workers.
pub struct AppState {
    pub pool: PgPool,
    pub auth: Arc<AuthConfig>,
    pub searcher: Arc<Searcher>,
    pub bookings: Bookings,
    pub packages: Packages,
    pub mailer: Arc<crate::notify::email::Mailer>,
    pub sms: Arc<Sms>,
    pub billing: crate::billing::Billing,
    pub search_limits: SearchSettings,
    pub package_settings: PackageSettings,
    pub metrics_token: Option<secrecy::SecretString>,
}

impl AppState {
    pub fn new(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        let searcher = Searcher {
            pool: pool.clone(),
            read: crate::db::ReadPool::new(pool.clone(), &settings.database),
            clients: HttpClients::new(&settings.outbound, &settings.search)?,
            fees: FeePolicy {
                service_fee: settings.pricing.service_fee,
                vat_rate: settings.pricing.vat_rate,
            },
            signer: OfferSigner::new(settings.auth.jwt_secret.expose_secret().as_bytes()),
            provider_timeout: settings.search.provider_timeout(),
            offer_ttl: chrono::Duration::seconds(settings.search.offer_ttl_secs as i64),
            answers: AnswerCache::new(
                settings.search.cache_ttl(),
                settings.search.cache_budget_bytes,
            ),
            plans: Arc::new(crate::billing::subscriptions::SearchDiscounts),
        };
        let searcher = Arc::new(searcher);
        let wake = Arc::new(tokio::sync::Notify::new());
        let payments = &settings.payments;
        let billing = crate::billing::Billing {
            pool: pool.clone(),
            bookings: Arc::new(crate::bookings::pay::PaymentHooks),
            gateway: Arc::new(crate::billing::gateway::Gateway::from_settings(
                payments,
                settings.auth.jwt_secret.expose_secret().as_bytes(),
            )?),
            issuer: Arc::new(crate::billing::invoices::Issuer::from_settings(
                &settings.invoices,
                &settings.zatca,
            )?),
            zatca: crate::billing::invoices::zatca::report::Reporter::from_settings(
                &settings.zatca,
            )?
            .map(Arc::new),
            vat_rate: settings.pricing.vat_rate,
            action_window: chrono::Duration::minutes(i64::from(payments.action_minutes)),
            return_url: payments.return_url.clone(),
            dunning_days: payments.dunning_retry_days.clone().into(),
            staff_refund_limit: settings.billing.staff_refund_limit,
            wake: wake.clone(),
        };
        let bookings = Bookings {
            pool: pool.clone(),
            billing: billing.clone(),
            searcher: searcher.clone(),
            hold: chrono::Duration::minutes(i64::from(settings.bookings.hold_minutes)),
            wake,
            ack_deadline: chrono::Duration::minutes(i64::from(
                settings.bookings.ack_deadline_minutes,
            )),
            no_show_window: chrono::Duration::hours(i64::from(
                settings.bookings.no_show_window_hours,
            )),
            hold_limits: HoldLimits {
                max_live: settings.bookings.max_live_holds,
                per_address: RateLimit {
                    name: "hold",
                    code: "booking.rate_limited",
                    limit: settings.bookings.holds_per_address_per_hour,
                    window: chrono::Duration::hours(1),
                },
            },
            client_links: crate::bookings::consent::LinkSettings {
                keys: crate::auth::links::LinkKeys::for_client_links(
                    settings.auth.jwt_secret.expose_secret().as_bytes(),
                ),
                consent_required: settings.bookings.consent_required,
            },
            waitlist_offer: chrono::Duration::minutes(i64::from(settings.waitlist.offer_minutes)),
        };
        Ok(Self {
            packages: Packages {
                pool: pool.clone(),
                bookings: bookings.clone(),
                on_part_refused: settings.packages.on_part_refused,
            },
            bookings,
            billing,
            package_settings: settings.packages.clone(),
            mailer: Arc::new(crate::notify::email::Mailer::from_settings(
                &settings.email,
            )?),
            sms: Arc::new(Sms::from_settings(&settings.sms)?),
            pool,
            auth: Arc::new(AuthConfig::new(&settings.auth)?),
            searcher,
            search_limits: settings.search.clone(),
            metrics_token: settings.metrics.token.clone(),
        })
    }
}

impl AppState {
    /// The pieces handlers and middleware ask for, each its own `web::Data`.
    pub fn handles(&self, settings: &Settings) -> Handles {
        Handles {
            pool: web::Data::new(self.pool.clone()),
            auth: web::Data::from(self.auth.clone()),
            searcher: web::Data::from(self.searcher.clone()),
            bookings: web::Data::new(self.bookings.clone()),
            packages: web::Data::new(self.packages.clone()),
            package_settings: web::Data::new(self.package_settings.clone()),
            billing: web::Data::new(self.billing.clone()),
            mailer: web::Data::from(self.mailer.clone()),
            sms: web::Data::from(self.sms.clone()),
            search_limits: web::Data::new(self.search_limits.clone()),
            idempotency: web::Data::new(Idempotency {
                lock_timeout: chrono::Duration::seconds(
                    settings.idempotency.lock_timeout_secs as i64,
                ),
                fingerprints: Fingerprints::new(
                    settings.auth.jwt_secret.expose_secret().as_bytes(),
                ),
                // Every kind of secret an answer may carry, read back on replay.
                secrets: Secrets::new(vec![
                    Arc::new(crate::billing::replay::ActionUrls),
                    Arc::new(crate::providers::replay::WebhookSecrets),
                    Arc::new(crate::bookings::patients::PatientDetails),
                ]),
                claimed_in_work: crate::bookings::routes::CLAIMED_IN_WORK,
            }),
            proxies: web::Data::new(TrustedProxies(settings.server.trusted_proxies.clone())),
            addresses: web::Data::new(AddressPolicy::from(&settings.outbound)),
            metrics: web::Data::new(MetricsAccess {
                token: self.metrics_token.clone(),
            }),
        }
    }
}

/// What `App` registers: cheap to clone into every server worker.
#[derive(Clone)]
pub struct Handles {
    pool: web::Data<PgPool>,
    auth: web::Data<AuthConfig>,
    searcher: web::Data<Searcher>,
    bookings: web::Data<Bookings>,
    packages: web::Data<Packages>,
    package_settings: web::Data<PackageSettings>,
    billing: web::Data<Billing>,
    mailer: web::Data<Mailer>,
    sms: web::Data<Sms>,
    search_limits: web::Data<SearchSettings>,
    idempotency: web::Data<Idempotency>,
    proxies: web::Data<TrustedProxies>,
    /// Which addresses an admin may save as a provider's or a webhook's URL.
    addresses: web::Data<AddressPolicy>,
    metrics: web::Data<MetricsAccess>,
}

impl Handles {
    pub fn register(&self, config: &mut web::ServiceConfig) {
        config
            .app_data(self.pool.clone())
            .app_data(self.auth.clone())
            .app_data(self.searcher.clone())
            .app_data(self.bookings.clone())
            .app_data(self.packages.clone())
            .app_data(self.package_settings.clone())
            .app_data(self.billing.clone())
            .app_data(self.mailer.clone())
            .app_data(self.sms.clone())
            .app_data(self.search_limits.clone())
            .app_data(self.idempotency.clone())
            .app_data(self.proxies.clone())
            .app_data(self.addresses.clone())
            .app_data(self.metrics.clone());
    }
}

impl Worker {
    /// A worker sharing the app's pool and wake-up signal, named `<host>-<pid>`.
    pub fn for_state(state: &AppState, settings: &JobSettings) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "wasit".into());
        Self {
            id: format!("{host}-{}", std::process::id()),
            pool: state.pool.clone(),
            bookings: state.bookings.clone(),
            packages: state.packages.clone(),
            wake: state.bookings.wake.clone(),
            mailer: state.mailer.clone(),
            sms: state.sms.clone(),
            billing: state.billing.clone(),
            auth: state.auth.clone(),
            settings: settings.clone(),
        }
    }
}
