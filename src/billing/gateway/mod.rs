//! Payment gateways: the one interface the billing code talks to, and its implementations,
//! chosen by config (`payments.gateway`): the built-in `sandbox` (deterministic test cards,
//! the default for `scripts/run`) and `stripe` (Stripe's REST API over reqwest).
//!
//! Amounts cross this boundary as SAR `Decimal`s with 2 decimals; each gateway converts to
//! its own unit (Stripe: halalas). Every call that moves money carries our idempotency key,
//! so repeating a call after a crash or a timeout never charges or refunds twice.

pub mod sandbox;
pub mod stripe;

use std::future::Future;

use rust_decimal::Decimal;

/// A card as the customer typed it (sandbox, and Stripe test mode), or a token the
/// gateway's own browser library produced (`pm_…`): we never store a card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardInput {
    Card {
        number: String,
        exp_month: u32,
        exp_year: u32,
        cvc: String,
    },
    Token(String),
}

/// What we keep of a saved card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCard {
    /// The gateway's id of the payment method (`pm_…`).
    pub gateway_ref: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    /// The gateway's fingerprint of the card number: the same card, typed again or by
    /// token, has the same one (per gateway account), so it is saved once. Never the number.
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// Ours, passed to the gateway: the same key returns the same charge, never a second one.
    pub idempotency_key: String,
    /// The gateway's customer id (from `create_customer`).
    pub customer_ref: String,
    /// The gateway's payment method id (from `save_card`).
    pub method_ref: String,
    /// SAR, 2 decimals, > 0.
    pub amount: Decimal,
    pub description: String,
    /// True for renewals: the customer is not there to pass a 3-D Secure step.
    pub off_session: bool,
    /// Where the customer's browser goes back to after a 3-D Secure step.
    pub return_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        gateway_ref: String,
    },
    /// The customer must pass a 3-D Secure step at `redirect_url`; the gateway tells us the
    /// result later (a webhook, or the sandbox's own page).
    RequiresAction {
        gateway_ref: String,
        redirect_url: String,
    },
    Declined {
        gateway_ref: Option<String>,
        /// The gateway's reason code, e.g. `card_declined`, `insufficient_funds`, `expired_card`.
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub idempotency_key: String,
    /// The gateway's id of the captured charge (`ChargeOutcome::Succeeded::gateway_ref`).
    pub charge_ref: String,
    pub amount: Decimal,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The card was refused when saved (bad number, expired, declined on verification).
    #[error("card refused: {code}: {message}")]
    CardRefused { code: String, message: String },
    /// The gateway refused the request itself (e.g. refund above the captured amount).
    #[error("gateway refused the request: {0}")]
    Rejected(String),
    /// Network, timeout, 5xx: the caller may retry with the same idempotency key.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
}

/// The interface every gateway implements.
pub trait PaymentGateway: Send + Sync {
    /// `sandbox` or `stripe`, stored beside every gateway id we keep.
    fn name(&self) -> &'static str;

    /// Creates the gateway's customer record; returns its id (`cus_…`).
    fn create_customer(
        &self,
        name: &str,
        email: Option<&str>,
    ) -> impl Future<Output = Result<String, GatewayError>> + Send;

    /// Saves a card for later charges (also off-session) on that customer.
    fn save_card(
        &self,
        customer_ref: &str,
        card: &CardInput,
    ) -> impl Future<Output = Result<SavedCard, GatewayError>> + Send;

    /// Charges a saved card now (capture at once).
    fn charge(
        &self,
        request: &ChargeRequest,
    ) -> impl Future<Output = Result<ChargeOutcome, GatewayError>> + Send;

    /// Refunds part or all of a captured charge; returns the gateway's refund id.
    fn refund(
        &self,
        request: &RefundRequest,
    ) -> impl Future<Output = Result<String, GatewayError>> + Send;
}

/// SAR to halalas (Stripe's `amount`), refusing anything finer than a halala.
pub fn to_minor_units(amount: Decimal) -> Option<i64> {
    let halalas = amount * Decimal::ONE_HUNDRED;
    (halalas.fract().is_zero()).then(|| i64::try_from(halalas.trunc()).ok())?
}

/// The gateway configured for this deployment (`payments.gateway`). An enum rather than a
/// trait object: the trait's async fns are not object-safe, and there are two gateways.
pub enum Gateway {
    Sandbox(sandbox::Sandbox),
    Stripe(stripe::Stripe),
}

impl Gateway {
    /// `root_secret` keys the sandbox's card fingerprints (the JWT secret, under a label of
    /// its own).
    pub fn from_settings(
        settings: &crate::config::PaymentSettings,
        root_secret: &[u8],
    ) -> anyhow::Result<Self> {
        Ok(match settings.gateway {
            crate::config::GatewayKind::Sandbox => {
                Self::Sandbox(sandbox::Sandbox::new(root_secret))
            }
            crate::config::GatewayKind::Stripe => {
                Self::Stripe(stripe::Stripe::new(&settings.stripe)?)
            }
        })
    }
}

impl PaymentGateway for Gateway {
    fn name(&self) -> &'static str {
        match self {
            Self::Sandbox(g) => g.name(),
            Self::Stripe(g) => g.name(),
        }
    }

    async fn create_customer(
        &self,
        name: &str,
        email: Option<&str>,
    ) -> Result<String, GatewayError> {
        match self {
            Self::Sandbox(g) => g.create_customer(name, email).await,
            Self::Stripe(g) => g.create_customer(name, email).await,
        }
    }

    async fn save_card(
        &self,
        customer_ref: &str,
        card: &CardInput,
    ) -> Result<SavedCard, GatewayError> {
        match self {
            Self::Sandbox(g) => g.save_card(customer_ref, card).await,
            Self::Stripe(g) => g.save_card(customer_ref, card).await,
        }
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        match self {
            Self::Sandbox(g) => g.charge(request).await,
            Self::Stripe(g) => g.charge(request).await,
        }
    }

    async fn refund(&self, request: &RefundRequest) -> Result<String, GatewayError> {
        match self {
            Self::Sandbox(g) => g.refund(request).await,
            Self::Stripe(g) => g.refund(request).await,
        }
    }
}
