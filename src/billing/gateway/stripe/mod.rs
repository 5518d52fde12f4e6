//! The Stripe gateway: Stripe's REST API over reqwest (form-encoded requests, JSON answers,
//! the secret key as the basic-auth user), plus the pure pieces of its webhooks: the
//! `Stripe-Signature` check and the few event fields the billing code reads.
//!
//! Every call that moves money sends our idempotency key as `Idempotency-Key`: Stripe then
//! answers a repeated request with the first answer instead of charging or refunding again.
//! That is why a network failure, a timeout or a 5xx is `Unavailable` (retry with the same
//! key) and never a decline.
//!
//! The gateway and how it serves [`PaymentGateway`] are here; each use case has its file:
//! `cards` (customers and their saved cards), `intents` (charges and refunds), `webhook`
//! (`Stripe-Signature` and the event's fields); `client` is the HTTP side and the sorting of
//! Stripe's error answers.

mod cards;
mod client;
mod intents;
mod webhook;

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;

pub use client::encode_form;
pub use webhook::{SignatureError, StripeEvent, WebhookError, parse_event, verify_signature};

use super::{
    CardInput, ChargeOutcome, ChargeRequest, GatewayError, PaymentGateway, RefundRequest, SavedCard,
};
use crate::config::StripeSettings;

pub struct Stripe {
    client: reqwest::Client,
    /// Without a trailing slash, e.g. `https://api.stripe.com`.
    api_base: String,
    secret_key: SecretString,
    webhook_secret: Option<SecretString>,
    webhook_tolerance_secs: u64,
    /// The optional PaymentIntent parameters this server refused (see `intents`), so later
    /// charges leave them out from the start.
    unknown_params: Mutex<Vec<&'static str>>,
}

impl Stripe {
    pub fn new(settings: &StripeSettings) -> anyhow::Result<Self> {
        let secret_key = settings.secret_key.clone().context(
            "payments.stripe.secret_key is not set (WASIT__PAYMENTS__STRIPE__SECRET_KEY)",
        )?;
        let client = client::http_client(Duration::from_millis(settings.timeout_ms))?;
        Ok(Self {
            client,
            api_base: settings.api_base.trim_end_matches('/').to_owned(),
            secret_key,
            webhook_secret: settings.webhook_secret.clone(),
            webhook_tolerance_secs: settings.webhook_tolerance_secs,
            unknown_params: Mutex::new(Vec::new()),
        })
    }
}

impl PaymentGateway for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn create_customer(
        &self,
        name: &str,
        email: Option<&str>,
    ) -> Result<String, GatewayError> {
        self.new_customer(name, email).await
    }

    async fn save_card(
        &self,
        customer_ref: &str,
        card: &CardInput,
    ) -> Result<SavedCard, GatewayError> {
        self.attach_card(customer_ref, card).await
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        self.charge_card(request).await
    }

    async fn refund(&self, request: &RefundRequest) -> Result<String, GatewayError> {
        self.refund_charge(request).await
    }
}
