//! Typed settings: `config/default.toml` < `config/{WASIT_ENV}.toml` < `WASIT__SECTION__KEY`.
//!
//! Every key is explained in `config/default.toml`. Unknown keys are errors, and
//! [`Settings::validate`] names the key it rejects. Secrets are `SecretString`, whose
//! `Debug` prints `[REDACTED]`, so a settings dump in a log leaks nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

mod cidr;
pub mod subkey;
mod validate;

pub use cidr::Cidr;

/// Which `config/{name}.toml` layer applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }

    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" | "prod" => Ok(Self::Production),
            other => Err(ConfigError::Invalid {
                key: "WASIT_ENV".into(),
                reason: format!("`{other}` is not one of development, test, production"),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub search: SearchSettings,
    pub outbound: OutboundSettings,
    pub bookings: BookingSettings,
    pub packages: PackageSettings,
    pub jobs: JobSettings,
    pub idempotency: IdempotencySettings,
    pub email: EmailSettings,
    pub sms: SmsSettings,
    pub pricing: PricingSettings,
    pub payments: PaymentSettings,
    pub billing: BillingSettings,
    pub invoices: InvoiceSettings,
    pub zatca: ZatcaSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
    pub waitlist: WaitlistSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    pub provider_timeout_ms: u64,
    pub max_stay_nights: u32,
    pub max_window_days: u32,
    pub horizon_days: u32,
    pub max_guests: u32,
    pub max_rooms: u32,
    pub offer_ttl_secs: u64,
    pub cache_ms: u64,
    pub cache_budget_bytes: usize,
    /// At most this many requests at once to one outside provider within a search.
    pub requests_per_provider: u32,
}

impl SearchSettings {
    pub fn provider_timeout(&self) -> Duration {
        Duration::from_millis(self.provider_timeout_ms)
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ms)
    }
}

/// Calls to addresses an admin typed: providers' FHIR and CalDAV servers, webhook URLs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundSettings {
    /// Opens loopback and the private ranges (never link-local or cloud metadata).
    pub allow_private: bool,
    pub max_body_bytes: u64,
    pub timeout_ms: u64,
}

impl OutboundSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailBackend {
    Smtp,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub backend: EmailBackend,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    #[serde(default)]
    pub smtp_username: Option<String>,
    #[serde(default)]
    pub smtp_password: Option<SecretString>,
    pub file_dir: String,
    /// The customer site that links in emails open (verify an email, reset a password).
    pub site_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsBackend {
    /// A Unifonic-shaped REST gateway (`notify::sms::gateway::HttpSmsGateway`).
    Http,
    /// One file per message under `file_dir` (development, tests).
    File,
}

/// Text messages (`notify::sms`): the gateway, and the secret the gateway's receipts and
/// inbound replies are signed with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    pub backend: SmsBackend,
    pub file_dir: String,
    /// The gateway's send endpoint (a form POST).
    pub api_url: String,
    /// The gateway account's application id (secret).
    #[serde(default)]
    pub app_sid: Option<SecretString>,
    /// The sender name recipients see (registered with the gateway and the CST).
    pub sender_id: String,
    /// `whsec_<base64>`: receipts and inbound replies are signed with it, Standard Webhooks
    /// style (secret). Unset: both routes answer 404.
    #[serde(default)]
    pub receipt_secret: Option<SecretString>,
    /// A receipt signed further from now than this is refused (replays).
    pub receipt_tolerance_secs: u64,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    pub workers: usize,
    /// Jobs a worker claims in one statement and runs side by side.
    pub concurrency: usize,
    pub poll_ms: u64,
    pub lease_secs: u64,
    pub job_timeout_secs: u64,
    pub expire_holds_cron: String,
    pub complete_bookings_cron: String,
    pub purge_cron: String,
    pub reminders_cron: String,
    pub flag_unacknowledged_cron: String,
    pub retention: RetentionSettings,
}

/// How long records past their use are kept (`worker::retention`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    pub idempotency_keys_hours: u32,
    pub login_throttles_hours: u32,
    pub expired_tokens_days: u32,
    pub finished_jobs_days: u32,
    pub webhook_deliveries_days: u32,
    /// Texts (their number and words) once sent, delivered or given up on.
    pub sms_messages_days: u32,
    /// A hospital booking's patient, counted from the end of the appointment.
    pub booking_patients_days: u32,
}

/// Medical-travel packages (`packages`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSettings {
    /// What happens when one part's provider refuses after the package was paid.
    pub on_part_refused: OnPartRefused,
    /// The most nights a package search may add before or after the appointment.
    pub max_nights_around: u32,
    /// How many clinic slots a package search pairs, and hotel stays per slot.
    pub max_slots: u32,
    pub stays_per_slot: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnPartRefused {
    /// The other part is cancelled and everything refunded at once.
    Refund,
    /// The package is flagged for an agent to offer an alternative; cancelling it then
    /// refunds everything.
    FlagAgent,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingSettings {
    pub hold_minutes: u32,
    pub ack_deadline_minutes: u32,
    /// Held (unpaid, unexpired) bookings one customer may have at once.
    pub max_live_holds: u32,
    /// Holds one client address may make per hour (0: no limit).
    pub holds_per_address_per_hour: u32,
    /// How long after its end a confirmed booking stays open to a no-show mark before the
    /// sweep completes it.
    pub no_show_window_hours: u32,
    /// When a booking an agent holds for a client waits for the client's approval by link.
    pub consent_required: ConsentRequired,
}

/// `bookings.consent_required`: `never`, `new_clients` (no booking of theirs went ahead
/// before), `always`, or `above:<amount SAR>` (the booking's total is above it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ConsentRequired {
    Never,
    NewClients,
    Always,
    Above(rust_decimal::Decimal),
}

impl TryFrom<String> for ConsentRequired {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        match raw.trim() {
            "never" => Ok(Self::Never),
            "new_clients" => Ok(Self::NewClients),
            "always" => Ok(Self::Always),
            other => other
                .strip_prefix("above:")
                .and_then(|amount| amount.trim().parse().ok())
                .map(Self::Above)
                .ok_or_else(|| {
                    format!(
                        "bookings.consent_required: `{other}` is not never, new_clients, always or above:<amount>"
                    )
                }),
        }
    }
}

/// Waitlists (#16 point 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitlistSettings {
    /// How long an offer holds the freed inventory for its waiter before it passes on.
    pub offer_minutes: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingSettings {
    #[serde(with = "rust_decimal::serde::str")]
    pub service_fee: rust_decimal::Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub vat_rate: rust_decimal::Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    Sandbox,
    Stripe,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    pub gateway: GatewayKind,
    /// Production runs on the sandbox gateway (no money moves) only when this says so.
    pub allow_sandbox: bool,
    pub action_minutes: u32,
    pub return_url: String,
    pub dunning_retry_days: Vec<u32>,
    pub renewals_cron: String,
    pub stripe: StripeSettings,
}

/// `Idempotency-Key` records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    /// After this long without an answer, a key's first request is taken to have died and a
    /// retry with the key runs again.
    pub lock_timeout_secs: u64,
}

/// Who may move how much money.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    /// The largest refund an agent may make at once (SAR); more needs an admin.
    #[serde(with = "rust_decimal::serde::str")]
    pub staff_refund_limit: rust_decimal::Decimal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    pub api_base: String,
    #[serde(default)]
    pub secret_key: Option<SecretString>,
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    pub webhook_tolerance_secs: u64,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// The bearer token Prometheus presents on `GET /metrics` (admins' JWTs work too).
    #[serde(default)]
    pub token: Option<SecretString>,
}

/// The seller on every tax invoice.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceSettings {
    pub seller_name_ar: String,
    pub seller_name_en: String,
    pub vat_number: String,
    pub commercial_registration: String,
    pub address_ar: String,
    pub address_en: String,
    /// The national address, as ZATCA's XML carries it.
    pub street: String,
    pub building_number: String,
    pub district: String,
    pub city: String,
    pub postal_code: String,
}

/// ZATCA phase 2: the stamp and the reporting API (`billing::invoices::zatca`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZatcaSettings {
    /// Report every simplified invoice and credit note. Off: documents are still stamped.
    pub enabled: bool,
    /// The e-invoicing API's base URL (production, simulation or the developer sandbox).
    pub api_base: String,
    /// The production CSID: `binarySecurityToken` and `secret` (secrets).
    pub csid_token: SecretString,
    pub csid_secret: SecretString,
    /// PEM files of the stamp's private key and its certificate (the CSID's). Unset: a
    /// development stamp with a self-signed certificate, made at start-up.
    pub private_key_path: String,
    pub certificate_path: String,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    /// Connections each HTTP worker serves at once (the rest wait to be accepted).
    pub max_connections: usize,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// Our own reverse proxies (CIDRs): behind them the caller is the right-most
    /// X-Forwarded-For address outside these blocks (`http::client`).
    pub trusted_proxies: Vec<Cidr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_max_size: u32,
    pub connect_timeout_secs: u64,
    /// Guards set on every pooled connection (PostgreSQL's own settings, in ms; 0 is off).
    pub statement_timeout_ms: u64,
    pub lock_timeout_ms: u64,
    pub idle_in_transaction_timeout_ms: u64,
    /// A streaming replica for read-only work (searches); empty: the primary does all.
    pub replica_url: SecretString,
    /// A replica further behind than this is skipped until it catches up.
    pub replica_max_lag_ms: u64,
}

impl DatabaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u32,
    pub jwt_leeway_secs: u64,
    pub password_min_length: usize,
    /// Sign-ups one client address may make per hour (0: no limit).
    pub signups_per_address_per_hour: u32,
    /// How long an emailed verification link works.
    pub verify_token_hours: u32,
    /// How long an emailed password-reset link works.
    pub reset_token_minutes: u32,
    /// No refresh carries a session past this many days from its sign-in.
    pub session_max_days: u32,
    /// How long an instance trusts its last look at an account's sessions (0: every request).
    pub session_recheck_ms: u64,
    pub argon2: Argon2Settings,
    pub login_throttle: LoginThrottleSettings,
    pub mail_throttle: MailThrottleSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginThrottleSettings {
    pub account_max_failures: u32,
    pub address_max_failures: u32,
    pub window_secs: u64,
    pub lockout_secs: u64,
    pub max_lockout_secs: u64,
}

/// Mail anyone may ask for (a password reset, another verification link), per address and
/// per client within a window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailThrottleSettings {
    pub email_max_requests: u32,
    pub address_max_requests: u32,
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// The smallest HMAC key we accept: the SHA-256 block of entropy HS256 needs.
const MIN_JWT_SECRET_BYTES: usize = 32;

impl Settings {
    /// Loads from `WASIT_CONFIG_DIR` (or `./config`), the `WASIT_ENV` layer and the process
    /// environment, then validates.
    pub fn load() -> Result<(Settings, Environment), ConfigError> {
        let dir = std::env::var_os("WASIT_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        let environment = match std::env::var("WASIT_ENV") {
            Ok(value) => Environment::parse(&value)?,
            Err(_) => Environment::Development,
        };
        let vars: HashMap<String, String> = std::env::vars().collect();
        let settings = Self::load_from(&dir, environment, vars)?;
        Ok((settings, environment))
    }

    /// Loads with explicit inputs, so tests need not touch the process environment.
    pub fn load_from(
        dir: &Path,
        environment: Environment,
        vars: HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let base = dir.join("default.toml");
        if !base.is_file() {
            return Err(invalid(
                "WASIT_CONFIG_DIR",
                format!("{} not found", base.display()),
            ));
        }
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(base))
            .add_source(config::File::from(
                dir.join(format!("{}.toml", environment.as_str())),
            ))
            .add_source(
                config::Environment::with_prefix("WASIT")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(vars.into_iter().collect())),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        settings.validate_for(environment)?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("WASIT__AUTH__JWT_SECRET".into())
            .or_insert_with(|| "x".repeat(40));
        // Production's SMS gateway credential, as an operator sets it.
        map.entry("WASIT__SMS__APP_SID".into())
            .or_insert_with(|| "app-sid".into());
        map
    }

    fn load(environment: Environment, pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_from(&config_dir(), environment, vars(pairs))
    }

    fn rejected_key(result: Result<Settings, ConfigError>) -> String {
        match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            Err(other) => panic!("expected a named key, got {other}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    /// Production as the tests run it: no real gateway, so the sandbox on purpose.
    const SANDBOX_ON_PURPOSE: (&str, &str) = ("WASIT__PAYMENTS__ALLOW_SANDBOX", "true");

    #[test]
    fn every_environment_file_loads() {
        for environment in [
            Environment::Development,
            Environment::Test,
            Environment::Production,
        ] {
            load(environment, &[SANDBOX_ON_PURPOSE])
                .unwrap_or_else(|e| panic!("{environment:?}: {e}"));
        }
    }

    #[test]
    fn the_http_sms_gateway_needs_its_credential_and_a_sender() {
        let production = load(Environment::Production, &[SANDBOX_ON_PURPOSE]).unwrap();
        assert_eq!(production.sms.backend, SmsBackend::Http);
        assert_eq!(
            load(Environment::Development, &[]).unwrap().sms.backend,
            SmsBackend::File
        );
        let without = [SANDBOX_ON_PURPOSE, ("WASIT__SMS__APP_SID", " ")];
        assert_eq!(
            rejected_key(load(Environment::Production, &without)),
            "sms.app_sid"
        );
        let long_sender = [
            SANDBOX_ON_PURPOSE,
            ("WASIT__SMS__SENDER_ID", "WasitBookings"),
        ];
        assert_eq!(
            rejected_key(load(Environment::Production, &long_sender)),
            "sms.sender_id"
        );
        let bad_secret = [("WASIT__SMS__RECEIPT_SECRET", "hunter2")];
        assert_eq!(
            rejected_key(load(Environment::Test, &bad_secret)),
            "sms.receipt_secret"
        );
    }

    #[test]
    fn production_refuses_the_sandbox_gateway_unless_told() {
        assert_eq!(
            rejected_key(load(Environment::Production, &[])),
            "payments.gateway"
        );
        assert!(load(Environment::Development, &[]).is_ok());
    }

    #[test]
    fn environment_layer_overrides_default() {
        assert_eq!(
            load(Environment::Development, &[]).unwrap().log.format,
            LogFormat::Pretty
        );
        let production = load(Environment::Production, &[SANDBOX_ON_PURPOSE]).unwrap();
        assert_eq!(production.log.format, LogFormat::Json);
        assert_eq!(production.server.host, "0.0.0.0");
        assert_eq!(
            load(Environment::Test, &[]).unwrap().auth.argon2.memory_kib,
            1024
        );
    }

    #[test]
    fn environment_variables_override_files_including_nested_sections() {
        let settings = load(
            Environment::Test,
            &[
                ("WASIT__SERVER__PORT", "9123"),
                ("WASIT__AUTH__ARGON2__ITERATIONS", "3"),
                ("WASIT__LOG__FORMAT", "json"),
            ],
        )
        .unwrap();
        assert_eq!(settings.server.port, 9123);
        assert_eq!(settings.auth.argon2.iterations, 3);
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn zatca_reporting_needs_a_stamp_credentials_and_an_api() {
        let stamp = [
            ("WASIT__ZATCA__ENABLED", "true"),
            (
                "WASIT__ZATCA__PRIVATE_KEY_PATH",
                "/etc/wasit/zatca/private-key.pem",
            ),
            (
                "WASIT__ZATCA__CERTIFICATE_PATH",
                "/etc/wasit/zatca/certificate.pem",
            ),
        ];
        let api = (
            "WASIT__ZATCA__API_BASE",
            "https://zatca.example/e-invoicing/core",
        );
        let rejected = |pairs: &[(&str, &str)]| rejected_key(load(Environment::Development, pairs));
        assert_eq!(rejected(&stamp[..1]), "zatca.private_key_path");
        assert_eq!(rejected(&stamp[1..2]), "zatca.private_key_path");
        assert_eq!(rejected(&stamp), "zatca.api_base");
        assert_eq!(
            rejected(&[stamp[0], stamp[1], stamp[2], api]),
            "zatca.csid_token"
        );
        let complete = [
            stamp[0],
            stamp[1],
            stamp[2],
            api,
            ("WASIT__ZATCA__CSID_TOKEN", "token"),
            ("WASIT__ZATCA__CSID_SECRET", "secret"),
        ];
        assert!(
            load(Environment::Development, &complete)
                .unwrap()
                .zatca
                .enabled
        );
        // ZATCA's rules for the seller's national address.
        assert_eq!(
            rejected(&[("WASIT__INVOICES__BUILDING_NUMBER", "12")]),
            "invoices.building_number"
        );
        assert_eq!(
            rejected(&[("WASIT__INVOICES__POSTAL_CODE", "1234a")]),
            "invoices.postal_code"
        );
    }

    #[test]
    fn a_short_jwt_secret_is_rejected_by_key() {
        let key = rejected_key(load(
            Environment::Development,
            &[("WASIT__AUTH__JWT_SECRET", "short")],
        ));
        assert_eq!(key, "auth.jwt_secret");
    }

    #[test]
    fn out_of_range_values_are_rejected_by_key() {
        let cases = [
            (
                "WASIT__DATABASE__POOL_MAX_SIZE",
                "0",
                "database.pool_max_size",
            ),
            (
                "WASIT__AUTH__PASSWORD_MIN_LENGTH",
                "3",
                "auth.password_min_length",
            ),
            ("WASIT__DATABASE__URL", "mysql://x", "database.url"),
            ("WASIT__LOG__FILTER", "wasit=[", "log.filter"),
            ("WASIT__PRICING__VAT_RATE", "1.5", "pricing.vat_rate"),
            (
                "WASIT__SEARCH__PROVIDER_TIMEOUT_MS",
                "1",
                "search.provider_timeout_ms",
            ),
            (
                "WASIT__OUTBOUND__MAX_BODY_BYTES",
                "10",
                "outbound.max_body_bytes",
            ),
            ("WASIT__OUTBOUND__TIMEOUT_MS", "0", "outbound.timeout_ms"),
            (
                "WASIT__AUTH__RESET_TOKEN_MINUTES",
                "0",
                "auth.reset_token_minutes",
            ),
            (
                "WASIT__AUTH__SESSION_RECHECK_MS",
                "600000",
                "auth.session_recheck_ms",
            ),
            (
                "WASIT__AUTH__MAIL_THROTTLE__ADDRESS_MAX_REQUESTS",
                "1",
                "auth.mail_throttle.address_max_requests",
            ),
            (
                "WASIT__EMAIL__SITE_URL",
                "https://wasit.sa/#/",
                "email.site_url",
            ),
            (
                "WASIT__INVOICES__SELLER_NAME_EN",
                "Wasit\r\nOffice",
                "invoices.seller_name_en",
            ),
        ];
        for (var, value, key) in cases {
            assert_eq!(
                rejected_key(load(Environment::Test, &[(var, value)])),
                key,
                "{var}"
            );
        }
    }

    /// Only the development and test layers call private addresses (their servers are on
    /// loopback); production must say so itself.
    #[test]
    fn only_development_and_test_allow_private_addresses() {
        let allows = |environment| {
            load(environment, &[SANDBOX_ON_PURPOSE])
                .unwrap()
                .outbound
                .allow_private
        };
        assert!(allows(Environment::Development));
        assert!(allows(Environment::Test));
        assert!(!allows(Environment::Production));
    }

    #[test]
    fn mistyped_values_and_unknown_keys_name_the_key() {
        let err = load(Environment::Test, &[("WASIT__SERVER__PORT", "eighty")]).unwrap_err();
        assert!(err.to_string().contains("server.port"), "{err}");
        let err = load(Environment::Test, &[("WASIT__SERVER__PROT", "80")]).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
        let err = load(Environment::Test, &[("WASIT__LOG__FORMAT", "xml")]).unwrap_err();
        assert!(err.to_string().contains("log.format"), "{err}");
    }

    #[test]
    fn an_unknown_environment_name_is_rejected() {
        assert!(
            matches!(Environment::parse("staging"), Err(ConfigError::Invalid { key, .. }) if key == "WASIT_ENV")
        );
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let settings = load(
            Environment::Test,
            &[
                (
                    "WASIT__AUTH__JWT_SECRET",
                    "super-secret-signing-key-0123456789abcdef",
                ),
                ("WASIT__DATABASE__URL", "postgres://app:hunter2@db/wasit"),
            ],
        )
        .unwrap();
        let dump = format!("{settings:?}");
        assert!(!dump.contains("super-secret"), "{dump}");
        assert!(!dump.contains("hunter2"), "{dump}");
    }
}
