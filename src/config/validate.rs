//! What types cannot check: ranges, lengths, relations between keys. One function per
//! section; each names the key it rejects and never echoes a secret.

use secrecy::ExposeSecret;

use super::{
    Argon2Settings, AuthSettings, BillingSettings, BookingSettings, ConfigError, DatabaseSettings,
    EmailSettings, Environment, GatewayKind, IdempotencySettings, InvoiceSettings, JobSettings,
    LogSettings, LoginThrottleSettings, MIN_JWT_SECRET_BYTES, MailThrottleSettings,
    MetricsSettings, OutboundSettings, PackageSettings, PaymentSettings, PricingSettings,
    SearchSettings, ServerSettings, Settings, SmsBackend, SmsSettings, StripeSettings,
    WaitlistSettings, ZatcaSettings, invalid,
};

/// What a job's or a renewal's schedule must look like.
const CRON_WITH_SECONDS: &str =
    "must be a cron expression with seconds: `sec min hour day month weekday`";

impl Settings {
    /// Checks what types cannot: ranges, lengths, relations between keys. Returns the first
    /// problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_server(&self.server)?;
        validate_database(&self.database)?;
        validate_auth(&self.auth)?;
        validate_search(&self.search)?;
        validate_outbound(&self.outbound)?;
        validate_bookings(&self.bookings)?;
        validate_packages(&self.packages)?;
        validate_idempotency(&self.idempotency)?;
        validate_billing(&self.billing)?;
        validate_payments(&self.payments)?;
        validate_invoices(&self.invoices)?;
        validate_zatca(&self.zatca)?;
        validate_jobs(&self.jobs)?;
        validate_email(&self.email)?;
        validate_sms(&self.sms)?;
        validate_pricing(&self.pricing)?;
        validate_metrics(&self.metrics)?;
        validate_log(&self.log)?;
        validate_waitlist(&self.waitlist)
    }
}

impl Settings {
    /// What only some environments forbid: production on the sandbox gateway (any card
    /// "pays", an invoice is issued, no money moves) unless `payments.allow_sandbox` says so.
    pub fn validate_for(&self, environment: Environment) -> Result<(), ConfigError> {
        if environment == Environment::Production
            && self.payments.gateway == GatewayKind::Sandbox
            && !self.payments.allow_sandbox
        {
            return Err(invalid(
                "payments.gateway",
                "is the sandbox, which moves no money: set payments.gateway = \"stripe\", or \
                 payments.allow_sandbox = true to run production on the sandbox on purpose",
            ));
        }
        Ok(())
    }
}

fn validate_server(server: &ServerSettings) -> Result<(), ConfigError> {
    if server.host.trim().is_empty() {
        return Err(invalid("server.host", "must not be empty"));
    }
    if server.max_body_bytes < 1024 {
        return Err(invalid("server.max_body_bytes", "must be at least 1024"));
    }
    if !(16..=65_536).contains(&server.max_connections) {
        return Err(invalid(
            "server.max_connections",
            "must be between 16 and 65536",
        ));
    }
    Ok(())
}

fn validate_database(database: &DatabaseSettings) -> Result<(), ConfigError> {
    let url = database.url.expose_secret();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        // Never echo the value: it may carry a password.
        return Err(invalid(
            "database.url",
            "must be a postgres:// or postgresql:// URL",
        ));
    }
    let replica = database.replica_url.expose_secret();
    if !(replica.is_empty()
        || replica.starts_with("postgres://")
        || replica.starts_with("postgresql://"))
    {
        return Err(invalid(
            "database.replica_url",
            "must be empty or a postgres:// or postgresql:// URL",
        ));
    }
    if database.pool_max_size == 0 {
        return Err(invalid("database.pool_max_size", "must be at least 1"));
    }
    for (key, value) in [
        (
            "database.statement_timeout_ms",
            database.statement_timeout_ms,
        ),
        ("database.lock_timeout_ms", database.lock_timeout_ms),
        (
            "database.idle_in_transaction_timeout_ms",
            database.idle_in_transaction_timeout_ms,
        ),
    ] {
        if value > 3_600_000 {
            return Err(invalid(
                key,
                "must be at most 3600000 (an hour); 0 turns it off",
            ));
        }
    }
    if database.connect_timeout_secs == 0 {
        return Err(invalid(
            "database.connect_timeout_secs",
            "must be at least 1",
        ));
    }
    Ok(())
}

fn validate_auth(auth: &AuthSettings) -> Result<(), ConfigError> {
    if auth.jwt_secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
        return Err(invalid(
            "auth.jwt_secret",
            format!("must be at least {MIN_JWT_SECRET_BYTES} bytes (set WASIT__AUTH__JWT_SECRET)"),
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
    for (key, value) in [
        ("auth.verify_token_hours", auth.verify_token_hours),
        ("auth.reset_token_minutes", auth.reset_token_minutes),
        ("auth.session_max_days", auth.session_max_days),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    if auth.session_recheck_ms > 60_000 {
        return Err(invalid(
            "auth.session_recheck_ms",
            "must be at most 60000: a disabled account's tokens must stop working soon",
        ));
    }
    validate_argon2(&auth.argon2)?;
    validate_login_throttle(&auth.login_throttle)?;
    validate_mail_throttle(&auth.mail_throttle)
}

fn validate_mail_throttle(throttle: &MailThrottleSettings) -> Result<(), ConfigError> {
    if throttle.email_max_requests == 0 {
        return Err(invalid(
            "auth.mail_throttle.email_max_requests",
            "must be at least 1",
        ));
    }
    if throttle.address_max_requests < throttle.email_max_requests {
        return Err(invalid(
            "auth.mail_throttle.address_max_requests",
            "must be at least email_max_requests",
        ));
    }
    if throttle.window_secs == 0 {
        return Err(invalid(
            "auth.mail_throttle.window_secs",
            "must be positive",
        ));
    }
    Ok(())
}

fn validate_argon2(argon2: &Argon2Settings) -> Result<(), ConfigError> {
    if argon2.memory_kib < 8 * argon2.parallelism.max(1) {
        return Err(invalid(
            "auth.argon2.memory_kib",
            "must be at least 8 KiB per lane",
        ));
    }
    if argon2.iterations == 0 {
        return Err(invalid("auth.argon2.iterations", "must be at least 1"));
    }
    if argon2.parallelism == 0 {
        return Err(invalid("auth.argon2.parallelism", "must be at least 1"));
    }
    Ok(())
}

fn validate_login_throttle(throttle: &LoginThrottleSettings) -> Result<(), ConfigError> {
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
    Ok(())
}

fn validate_search(search: &SearchSettings) -> Result<(), ConfigError> {
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
        ("search.requests_per_provider", search.requests_per_provider),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    if search.offer_ttl_secs < 60 {
        return Err(invalid("search.offer_ttl_secs", "must be at least 60"));
    }
    Ok(())
}

fn validate_outbound(outbound: &OutboundSettings) -> Result<(), ConfigError> {
    if !(1024..=1 << 30).contains(&outbound.max_body_bytes) {
        return Err(invalid(
            "outbound.max_body_bytes",
            "must be between 1024 and 1073741824",
        ));
    }
    if !(100..=120_000).contains(&outbound.timeout_ms) {
        return Err(invalid(
            "outbound.timeout_ms",
            "must be between 100 and 120000",
        ));
    }
    Ok(())
}

fn validate_bookings(bookings: &BookingSettings) -> Result<(), ConfigError> {
    if !(1..=10_080).contains(&bookings.ack_deadline_minutes) {
        return Err(invalid(
            "bookings.ack_deadline_minutes",
            "must be between 1 and 10080",
        ));
    }
    if !(1..=1440).contains(&bookings.hold_minutes) {
        return Err(invalid(
            "bookings.hold_minutes",
            "must be between 1 and 1440",
        ));
    }
    if bookings.no_show_window_hours > 720 {
        return Err(invalid(
            "bookings.no_show_window_hours",
            "must be between 0 and 720",
        ));
    }
    if let super::ConsentRequired::Above(amount) = bookings.consent_required
        && (amount < rust_decimal::Decimal::ZERO || amount.scale() > 2)
    {
        return Err(invalid(
            "bookings.consent_required",
            "above:<amount> takes an amount in SAR of at least 0 with at most 2 decimals",
        ));
    }
    Ok(())
}

fn validate_packages(packages: &PackageSettings) -> Result<(), ConfigError> {
    if packages.max_nights_around > 30 {
        return Err(invalid(
            "packages.max_nights_around",
            "must be between 0 and 30",
        ));
    }
    if !(1..=50).contains(&packages.max_slots) {
        return Err(invalid("packages.max_slots", "must be between 1 and 50"));
    }
    if !(1..=10).contains(&packages.stays_per_slot) {
        return Err(invalid(
            "packages.stays_per_slot",
            "must be between 1 and 10",
        ));
    }
    Ok(())
}

fn validate_waitlist(waitlist: &WaitlistSettings) -> Result<(), ConfigError> {
    if !(1..=1440).contains(&waitlist.offer_minutes) {
        return Err(invalid(
            "waitlist.offer_minutes",
            "must be between 1 and 1440",
        ));
    }
    Ok(())
}

fn validate_idempotency(idempotency: &IdempotencySettings) -> Result<(), ConfigError> {
    if !(1..=3600).contains(&idempotency.lock_timeout_secs) {
        return Err(invalid(
            "idempotency.lock_timeout_secs",
            "must be between 1 and 3600",
        ));
    }
    Ok(())
}

fn validate_billing(billing: &BillingSettings) -> Result<(), ConfigError> {
    if billing.staff_refund_limit < rust_decimal::Decimal::ZERO
        || billing.staff_refund_limit.scale() > 2
    {
        return Err(invalid(
            "billing.staff_refund_limit",
            "must be an amount of SAR, zero or more",
        ));
    }
    Ok(())
}

fn validate_payments(payments: &PaymentSettings) -> Result<(), ConfigError> {
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
        return Err(invalid("payments.renewals_cron", CRON_WITH_SECONDS));
    }
    if payments.gateway == GatewayKind::Stripe {
        validate_stripe(&payments.stripe)?;
    }
    Ok(())
}

/// Only when `payments.gateway` is stripe: the fake gateway needs no keys.
fn validate_stripe(stripe: &StripeSettings) -> Result<(), ConfigError> {
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
    if stripe
        .webhook_secret
        .as_ref()
        .is_none_or(|s| s.expose_secret().trim().is_empty())
    {
        return Err(invalid(
            "payments.stripe.webhook_secret",
            "must be set when payments.gateway is stripe \
             (WASIT__PAYMENTS__STRIPE__WEBHOOK_SECRET)",
        ));
    }
    Ok(())
}

fn validate_invoices(invoices: &InvoiceSettings) -> Result<(), ConfigError> {
    // A Saudi VAT registration number: 15 digits, starting and ending with 3.
    let vat = invoices.vat_number.as_bytes();
    if vat.len() != 15 || !vat.iter().all(u8::is_ascii_digit) || vat[0] != b'3' || vat[14] != b'3' {
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
    for (key, digits, value) in [
        ("invoices.building_number", 4, &invoices.building_number),
        ("invoices.postal_code", 5, &invoices.postal_code),
    ] {
        // ZATCA's rules for the seller's national address (BR-KSA-37, BR-KSA-66).
        if value.len() != digits || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(key, format!("must be {digits} digits")));
        }
    }
    for (key, value) in [
        ("invoices.street", &invoices.street),
        ("invoices.district", &invoices.district),
        ("invoices.city", &invoices.city),
    ] {
        if value.trim().is_empty() || value.chars().count() > 127 {
            return Err(invalid(key, "must be 1 to 127 characters"));
        }
    }
    for (key, value) in [
        ("invoices.seller_name_ar", &invoices.seller_name_ar),
        ("invoices.seller_name_en", &invoices.seller_name_en),
        ("invoices.address_ar", &invoices.address_ar),
        ("invoices.address_en", &invoices.address_en),
        ("invoices.street", &invoices.street),
        ("invoices.district", &invoices.district),
        ("invoices.city", &invoices.city),
    ] {
        // Printed on every invoice and, for the seller's name, in its QR code, as one line.
        if value.contains(char::is_control) {
            return Err(invalid(key, "must be one line without control characters"));
        }
    }
    Ok(())
}

fn validate_zatca(zatca: &ZatcaSettings) -> Result<(), ConfigError> {
    let (key, certificate) = (
        !zatca.private_key_path.trim().is_empty(),
        !zatca.certificate_path.trim().is_empty(),
    );
    if key != certificate {
        return Err(invalid(
            "zatca.private_key_path",
            "and zatca.certificate_path are set together or not at all",
        ));
    }
    if !zatca.enabled {
        return Ok(());
    }
    if !key {
        // A development stamp's certificate is self-signed: ZATCA would reject every invoice.
        return Err(invalid(
            "zatca.private_key_path",
            "must be set (with zatca.certificate_path) when zatca.enabled: run `wasit zatca onboard`",
        ));
    }
    if !(zatca.api_base.starts_with("https://") || zatca.api_base.starts_with("http://")) {
        return Err(invalid(
            "zatca.api_base",
            "must be an http(s) URL when zatca.enabled",
        ));
    }
    if zatca.csid_token.expose_secret().is_empty() || zatca.csid_secret.expose_secret().is_empty() {
        return Err(invalid(
            "zatca.csid_token",
            "and zatca.csid_secret must be set when zatca.enabled",
        ));
    }
    if !(1000..=120_000).contains(&zatca.timeout_ms) {
        return Err(invalid(
            "zatca.timeout_ms",
            "must be between 1000 and 120000",
        ));
    }
    Ok(())
}

fn validate_jobs(jobs: &JobSettings) -> Result<(), ConfigError> {
    if !(1..=64).contains(&jobs.workers) {
        return Err(invalid("jobs.workers", "must be between 1 and 64"));
    }
    if !(1..=64).contains(&jobs.concurrency) {
        return Err(invalid("jobs.concurrency", "must be between 1 and 64"));
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
        ("jobs.purge_cron", &jobs.purge_cron),
        ("jobs.reminders_cron", &jobs.reminders_cron),
        (
            "jobs.flag_unacknowledged_cron",
            &jobs.flag_unacknowledged_cron,
        ),
    ] {
        if cron.split_whitespace().count() != 6 {
            return Err(invalid(key, CRON_WITH_SECONDS));
        }
    }
    Ok(())
}

/// The HTTP gateway needs its credentials and a sender; a receipt secret, when set, must
/// be a Standard Webhooks secret (so a typo is not a key that verifies nothing).
fn validate_sms(sms: &SmsSettings) -> Result<(), ConfigError> {
    if !(1..=60_000).contains(&sms.timeout_ms) {
        return Err(invalid("sms.timeout_ms", "must be between 1 and 60000"));
    }
    if !(1..=3600).contains(&sms.receipt_tolerance_secs) {
        return Err(invalid(
            "sms.receipt_tolerance_secs",
            "must be between 1 and 3600",
        ));
    }
    if sms
        .receipt_secret
        .as_ref()
        .is_some_and(|s| !s.expose_secret().starts_with("whsec_"))
    {
        return Err(invalid(
            "sms.receipt_secret",
            "must be whsec_ followed by base64 (WASIT__SMS__RECEIPT_SECRET)",
        ));
    }
    if sms.backend == SmsBackend::File {
        return Ok(());
    }
    if !sms.api_url.starts_with("http") {
        return Err(invalid(
            "sms.api_url",
            "must be an http(s) URL when sms.backend is http",
        ));
    }
    if sms
        .app_sid
        .as_ref()
        .is_none_or(|k| k.expose_secret().trim().is_empty())
    {
        return Err(invalid(
            "sms.app_sid",
            "must be set when sms.backend is http (WASIT__SMS__APP_SID)",
        ));
    }
    let sender = sms.sender_id.trim();
    if sender.is_empty() || sender.len() > 11 || !sender.is_ascii() {
        return Err(invalid(
            "sms.sender_id",
            "must be 1 to 11 ASCII characters (the registered sender name)",
        ));
    }
    Ok(())
}

fn validate_email(email: &EmailSettings) -> Result<(), ConfigError> {
    if email.from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(invalid(
            "email.from",
            "must be an address such as `Wasit <no-reply@example.com>`",
        ));
    }
    if email.smtp_username.is_some() != email.smtp_password.is_some() {
        return Err(invalid(
            "email.smtp_password",
            "set both smtp_username and smtp_password, or neither",
        ));
    }
    // Links are built by appending `#/…`: a fragment of its own would swallow them.
    if !(email.site_url.starts_with("http://") || email.site_url.starts_with("https://"))
        || email.site_url.contains('#')
    {
        return Err(invalid(
            "email.site_url",
            "must be an http(s) URL without a `#` fragment",
        ));
    }
    Ok(())
}

fn validate_pricing(pricing: &PricingSettings) -> Result<(), ConfigError> {
    if pricing.service_fee.is_sign_negative() || pricing.service_fee.scale() > 2 {
        return Err(invalid(
            "pricing.service_fee",
            "must be a non-negative amount with at most 2 decimals",
        ));
    }
    if pricing.vat_rate.is_sign_negative() || pricing.vat_rate >= rust_decimal::Decimal::ONE {
        return Err(invalid("pricing.vat_rate", "must be between 0 and 1"));
    }
    Ok(())
}

/// A token that is set must be a token: an empty one would let anyone scrape.
fn validate_metrics(metrics: &MetricsSettings) -> Result<(), ConfigError> {
    if metrics
        .token
        .as_ref()
        .is_some_and(|t| t.expose_secret().trim().len() < 16)
    {
        return Err(invalid(
            "metrics.token",
            "when set, must be at least 16 characters (WASIT__METRICS__TOKEN)",
        ));
    }
    Ok(())
}

fn validate_log(log: &LogSettings) -> Result<(), ConfigError> {
    if let Err(e) = log.filter.parse::<tracing_subscriber::EnvFilter>() {
        return Err(invalid("log.filter", e.to_string()));
    }
    Ok(())
}
