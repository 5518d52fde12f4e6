//! Typed settings: `config/default.toml` < `config/{WASIT_ENV}.toml` < `WASIT__SECTION__KEY`.
//!
//! Every key is explained in `config/default.toml`. Unknown keys are errors, and
//! [`Settings::validate`] names the key it rejects. Secrets are `SecretString`, whose
//! `Debug` prints `[REDACTED]`, so a settings dump in a log leaks nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

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
    pub bookings: BookingSettings,
    pub jobs: JobSettings,
    pub idempotency: IdempotencySettings,
    pub email: EmailSettings,
    pub pricing: PricingSettings,
    pub payments: PaymentSettings,
    pub billing: BillingSettings,
    pub invoices: InvoiceSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
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
}

impl SearchSettings {
    pub fn provider_timeout(&self) -> Duration {
        Duration::from_millis(self.provider_timeout_ms)
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ms)
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    pub workers: usize,
    pub poll_ms: u64,
    pub lease_secs: u64,
    pub job_timeout_secs: u64,
    pub expire_holds_cron: String,
    pub complete_bookings_cron: String,
    pub purge_idempotency_cron: String,
    pub reminders_cron: String,
    pub flag_unacknowledged_cron: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingSettings {
    pub hold_minutes: u32,
    pub ack_deadline_minutes: u32,
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

/// The seller on every tax invoice (ZATCA phase 1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceSettings {
    pub seller_name_ar: String,
    pub seller_name_en: String,
    pub vat_number: String,
    pub commercial_registration: String,
    pub address_ar: String,
    pub address_en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_max_size: u32,
    pub connect_timeout_secs: u64,
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
    pub argon2: Argon2Settings,
    pub login_throttle: LoginThrottleSettings,
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
        Ok(settings)
    }

    fn validate_payments(&self) -> Result<(), ConfigError> {
        if !(1..=3600).contains(&self.idempotency.lock_timeout_secs) {
            return Err(invalid(
                "idempotency.lock_timeout_secs",
                "must be between 1 and 3600",
            ));
        }
        if self.billing.staff_refund_limit < rust_decimal::Decimal::ZERO
            || self.billing.staff_refund_limit.scale() > 2
        {
            return Err(invalid(
                "billing.staff_refund_limit",
                "must be an amount of SAR, zero or more",
            ));
        }
        let payments = &self.payments;
        if !(1..=120).contains(&payments.action_minutes) {
            return Err(invalid(
                "payments.action_minutes",
                "must be between 1 and 120",
            ));
        }
        if !payments.return_url.starts_with("http") {
            return Err(invalid("payments.return_url", "must be an http(s) URL"));
        }
        let retries = &payments.dunning_retry_days;
        if retries.is_empty() || retries.windows(2).any(|w| w[0] >= w[1]) || retries[0] == 0 {
            return Err(invalid(
                "payments.dunning_retry_days",
                "must be a non-empty, strictly increasing list of positive days",
            ));
        }
        if payments.renewals_cron.split_whitespace().count() != 6 {
            return Err(invalid(
                "payments.renewals_cron",
                "must be a cron expression with seconds: `sec min hour day month weekday`",
            ));
        }
        if payments.gateway == GatewayKind::Stripe {
            let stripe = &payments.stripe;
            if stripe
                .secret_key
                .as_ref()
                .is_none_or(|k| !k.expose_secret().starts_with("sk_"))
            {
                return Err(invalid(
                    "payments.stripe.secret_key",
                    "must be set to an sk_… key when payments.gateway is stripe \
                     (WASIT__PAYMENTS__STRIPE__SECRET_KEY)",
                ));
            }
            if stripe.webhook_secret.is_none() {
                return Err(invalid(
                    "payments.stripe.webhook_secret",
                    "must be set when payments.gateway is stripe \
                     (WASIT__PAYMENTS__STRIPE__WEBHOOK_SECRET)",
                ));
            }
        }
        let invoices = &self.invoices;
        // A Saudi VAT registration number: 15 digits, starting and ending with 3.
        let vat = invoices.vat_number.as_bytes();
        if vat.len() != 15
            || !vat.iter().all(u8::is_ascii_digit)
            || vat[0] != b'3'
            || vat[14] != b'3'
        {
            return Err(invalid(
                "invoices.vat_number",
                "must be 15 digits starting and ending with 3",
            ));
        }
        for (key, value) in [
            ("invoices.seller_name_ar", &invoices.seller_name_ar),
            ("invoices.seller_name_en", &invoices.seller_name_en),
            (
                "invoices.commercial_registration",
                &invoices.commercial_registration,
            ),
        ] {
            // The ZATCA QR stores each value's length in one byte.
            if value.trim().is_empty() || value.len() > 255 {
                return Err(invalid(key, "must be 1 to 255 bytes"));
            }
        }
        Ok(())
    }

    /// Checks what types cannot: ranges, lengths, relations between keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.host.trim().is_empty() {
            return Err(invalid("server.host", "must not be empty"));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        let url = self.database.url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            // Never echo the value: it may carry a password.
            return Err(invalid(
                "database.url",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        if self.database.pool_max_size == 0 {
            return Err(invalid("database.pool_max_size", "must be at least 1"));
        }
        if self.database.connect_timeout_secs == 0 {
            return Err(invalid(
                "database.connect_timeout_secs",
                "must be at least 1",
            ));
        }
        let auth = &self.auth;
        if auth.jwt_secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
            return Err(invalid(
                "auth.jwt_secret",
                format!(
                    "must be at least {MIN_JWT_SECRET_BYTES} bytes (set WASIT__AUTH__JWT_SECRET)"
                ),
            ));
        }
        if auth.jwt_issuer.is_empty() {
            return Err(invalid("auth.jwt_issuer", "must not be empty"));
        }
        if auth.jwt_audience.is_empty() {
            return Err(invalid("auth.jwt_audience", "must not be empty"));
        }
        if !(60..=86_400).contains(&auth.access_token_ttl_secs) {
            return Err(invalid(
                "auth.access_token_ttl_secs",
                "must be between 60 and 86400",
            ));
        }
        if auth.refresh_token_ttl_days == 0 {
            return Err(invalid("auth.refresh_token_ttl_days", "must be at least 1"));
        }
        if !(8..=128).contains(&auth.password_min_length) {
            return Err(invalid(
                "auth.password_min_length",
                "must be between 8 and 128",
            ));
        }
        if auth.argon2.memory_kib < 8 * auth.argon2.parallelism.max(1) {
            return Err(invalid(
                "auth.argon2.memory_kib",
                "must be at least 8 KiB per lane",
            ));
        }
        if auth.argon2.iterations == 0 {
            return Err(invalid("auth.argon2.iterations", "must be at least 1"));
        }
        if auth.argon2.parallelism == 0 {
            return Err(invalid("auth.argon2.parallelism", "must be at least 1"));
        }
        let throttle = &auth.login_throttle;
        if throttle.account_max_failures == 0 {
            return Err(invalid(
                "auth.login_throttle.account_max_failures",
                "must be at least 1",
            ));
        }
        if throttle.address_max_failures < throttle.account_max_failures {
            return Err(invalid(
                "auth.login_throttle.address_max_failures",
                "must be at least account_max_failures",
            ));
        }
        if throttle.lockout_secs == 0 || throttle.max_lockout_secs < throttle.lockout_secs {
            return Err(invalid(
                "auth.login_throttle.max_lockout_secs",
                "must be at least lockout_secs, which must be positive",
            ));
        }
        if throttle.window_secs == 0 {
            return Err(invalid(
                "auth.login_throttle.window_secs",
                "must be positive",
            ));
        }
        let search = &self.search;
        if !(50..=60_000).contains(&search.provider_timeout_ms) {
            return Err(invalid(
                "search.provider_timeout_ms",
                "must be between 50 and 60000",
            ));
        }
        for (key, value) in [
            ("search.max_stay_nights", search.max_stay_nights),
            ("search.max_window_days", search.max_window_days),
            ("search.horizon_days", search.horizon_days),
            ("search.max_guests", search.max_guests),
            ("search.max_rooms", search.max_rooms),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if !(1..=10_080).contains(&self.bookings.ack_deadline_minutes) {
            return Err(invalid(
                "bookings.ack_deadline_minutes",
                "must be between 1 and 10080",
            ));
        }
        if !(1..=1440).contains(&self.bookings.hold_minutes) {
            return Err(invalid(
                "bookings.hold_minutes",
                "must be between 1 and 1440",
            ));
        }
        self.validate_payments()?;
        let jobs = &self.jobs;
        if !(1..=64).contains(&jobs.workers) {
            return Err(invalid("jobs.workers", "must be between 1 and 64"));
        }
        if !(10..=60_000).contains(&jobs.poll_ms) {
            return Err(invalid("jobs.poll_ms", "must be between 10 and 60000"));
        }
        if jobs.lease_secs <= jobs.job_timeout_secs {
            return Err(invalid(
                "jobs.lease_secs",
                "must be longer than jobs.job_timeout_secs",
            ));
        }
        for (key, cron) in [
            ("jobs.expire_holds_cron", &jobs.expire_holds_cron),
            ("jobs.complete_bookings_cron", &jobs.complete_bookings_cron),
            ("jobs.purge_idempotency_cron", &jobs.purge_idempotency_cron),
            ("jobs.reminders_cron", &jobs.reminders_cron),
            (
                "jobs.flag_unacknowledged_cron",
                &jobs.flag_unacknowledged_cron,
            ),
        ] {
            if cron.split_whitespace().count() != 6 {
                return Err(invalid(
                    key,
                    "must be a cron expression with seconds: `sec min hour day month weekday`",
                ));
            }
        }
        if self.email.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "email.from",
                "must be an address such as `Wasit <no-reply@example.com>`",
            ));
        }
        if self.email.smtp_username.is_some() != self.email.smtp_password.is_some() {
            return Err(invalid(
                "email.smtp_password",
                "set both smtp_username and smtp_password, or neither",
            ));
        }
        if search.offer_ttl_secs < 60 {
            return Err(invalid("search.offer_ttl_secs", "must be at least 60"));
        }
        if self.pricing.service_fee.is_sign_negative() || self.pricing.service_fee.scale() > 2 {
            return Err(invalid(
                "pricing.service_fee",
                "must be a non-negative amount with at most 2 decimals",
            ));
        }
        if self.pricing.vat_rate.is_sign_negative()
            || self.pricing.vat_rate >= rust_decimal::Decimal::ONE
        {
            return Err(invalid("pricing.vat_rate", "must be between 0 and 1"));
        }
        if let Err(e) = self.log.filter.parse::<tracing_subscriber::EnvFilter>() {
            return Err(invalid("log.filter", e.to_string()));
        }
        Ok(())
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

    #[test]
    fn every_environment_file_loads() {
        for environment in [
            Environment::Development,
            Environment::Test,
            Environment::Production,
        ] {
            load(environment, &[]).unwrap_or_else(|e| panic!("{environment:?}: {e}"));
        }
    }

    #[test]
    fn environment_layer_overrides_default() {
        assert_eq!(
            load(Environment::Development, &[]).unwrap().log.format,
            LogFormat::Pretty
        );
        let production = load(Environment::Production, &[]).unwrap();
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
        ];
        for (var, value, key) in cases {
            assert_eq!(
                rejected_key(load(Environment::Test, &[(var, value)])),
                key,
                "{var}"
            );
        }
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
