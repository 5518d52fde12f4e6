//! The Stripe gateway: Stripe's REST API over reqwest (form-encoded requests, JSON answers,
//! the secret key as the basic-auth user), plus the pure pieces of its webhooks: the
//! `Stripe-Signature` check and the few event fields the billing code reads.
//!
//! Every call that moves money sends our idempotency key as `Idempotency-Key`: Stripe then
//! answers a repeated request with the first answer instead of charging or refunding again.
//! That is why a network failure, a timeout or a 5xx is `Unavailable` (retry with the same
//! key) and never a decline.
//!
//! Cards typed in (`CardInput::Card`) become a PaymentMethod created from the raw number:
//! only Stripe test mode (and localstripe, the test peer) allow that; live mode takes the
//! `pm_…` token Stripe.js produced in the browser.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use super::{
    CardInput, ChargeOutcome, ChargeRequest, GatewayError, PaymentGateway, RefundRequest,
    SavedCard, to_minor_units,
};
use crate::config::StripeSettings;

/// Optional PaymentIntent parameters a Stripe-compatible fake may not know: localstripe
/// answers `400 Unexpected description, return_url`, and the charge is then sent once more
/// without them (and later charges go without them from the start). Stripe itself knows
/// both, so this never happens against Stripe.
const DROPPABLE_PARAMS: [&str; 2] = ["description", "return_url"];

pub struct Stripe {
    client: reqwest::Client,
    /// Without a trailing slash, e.g. `https://api.stripe.com`.
    api_base: String,
    secret_key: SecretString,
    webhook_secret: Option<SecretString>,
    webhook_tolerance_secs: u64,
    /// The optional parameters this server refused (see [`DROPPABLE_PARAMS`]).
    unknown_params: Mutex<Vec<&'static str>>,
}

impl Stripe {
    pub fn new(settings: &StripeSettings) -> anyhow::Result<Self> {
        let secret_key = settings.secret_key.clone().context(
            "payments.stripe.secret_key is not set (WASIT__PAYMENTS__STRIPE__SECRET_KEY)",
        )?;
        crate::providers::adapter::install_crypto_provider();
        let timeout = Duration::from_millis(settings.timeout_ms);
        let client = reqwest::Client::builder()
            .user_agent(concat!("wasit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            // Stripe never redirects an API call; a redirect would resend the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the Stripe HTTP client")?;
        Ok(Self {
            client,
            api_base: settings.api_base.trim_end_matches('/').to_owned(),
            secret_key,
            webhook_secret: settings.webhook_secret.clone(),
            webhook_tolerance_secs: settings.webhook_tolerance_secs,
            unknown_params: Mutex::new(Vec::new()),
        })
    }

    /// Checks a webhook's `Stripe-Signature` against the configured secret (and the clock),
    /// then reads the event.
    pub fn verify_webhook(
        &self,
        signature_header: &str,
        payload: &[u8],
    ) -> Result<StripeEvent, WebhookError> {
        let secret = self
            .webhook_secret
            .as_ref()
            .ok_or(WebhookError::NotConfigured)?;
        verify_signature(
            signature_header,
            payload,
            secret.expose_secret(),
            self.webhook_tolerance_secs,
            chrono::Utc::now().timestamp(),
        )?;
        Ok(parse_event(payload)?)
    }

    /// The optional parameters this server refused, after adding `refused` to them.
    fn unknown_params(&self, refused: &[&'static str]) -> Vec<&'static str> {
        let mut known = self
            .unknown_params
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for name in refused {
            if !known.contains(name) {
                known.push(name);
            }
        }
        known.clone()
    }

    /// POSTs a form to `path`; `Ok` is the 2xx answer read as `T`.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> Result<T, CallError> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.api_base))
            .basic_auth(self.secret_key.expose_secret(), None::<&str>)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encode_form(form));
        if let Some(key) = idempotency_key {
            let value = reqwest::header::HeaderValue::from_str(key).map_err(|_| {
                CallError::Invalid(format!("the idempotency key {key:?} cannot be a header"))
            })?;
            request = request.header("Idempotency-Key", value);
        }
        let response = request
            .send()
            .await
            .map_err(|error| CallError::Unavailable(transport_error(path, &error)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| CallError::Unavailable(transport_error(path, &error)))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|error| {
                CallError::Unavailable(format!("POST {path}: unreadable answer: {error}"))
            });
        }
        let error = serde_json::from_slice::<ErrorBody>(&body)
            .map(|body| body.error)
            .unwrap_or_else(|_| ApiError {
                message: Some(String::from_utf8_lossy(&body).chars().take(200).collect()),
                ..ApiError::default()
            });
        Err(
            if status == StatusCode::PAYMENT_REQUIRED || error.kind.as_deref() == Some("card_error")
            {
                CallError::Card(error)
            } else if status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                // A concurrent request with the same idempotency key is still running.
                || status == StatusCode::CONFLICT
            {
                CallError::Unavailable(format!("POST {path}: {}", error.describe(status)))
            } else {
                CallError::Refused {
                    status,
                    message: format!("POST {path}: {}", error.describe(status)),
                    error,
                }
            },
        )
    }
}

fn transport_error(path: &str, error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("POST {path}: no answer in time")
    } else {
        format!("POST {path}: {error}")
    }
}

/// How a call to Stripe failed.
#[derive(Debug)]
enum CallError {
    /// Network, timeout, 5xx, 429, 409, unreadable 2xx: retry with the same key.
    Unavailable(String),
    /// 402 or `type: card_error`: the card was refused.
    Card(ApiError),
    /// We could not even send it.
    Invalid(String),
    /// Any other 4xx.
    Refused {
        status: StatusCode,
        message: String,
        error: ApiError,
    },
}

impl CallError {
    /// The mapping where a card error has no special meaning (customers, refunds).
    fn into_gateway(self) -> GatewayError {
        match self {
            CallError::Unavailable(message) => GatewayError::Unavailable(message),
            CallError::Card(error) => {
                GatewayError::Rejected(error.describe(StatusCode::PAYMENT_REQUIRED))
            }
            CallError::Invalid(message) | CallError::Refused { message, .. } => {
                GatewayError::Rejected(message)
            }
        }
    }
}

/// Stripe's `{"error": {…}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ApiError,
}

#[derive(Debug, Default, Deserialize)]
struct ApiError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
    /// Stripe includes the PaymentIntent a declined confirmation belongs to.
    payment_intent: Option<IdOnly>,
}

impl ApiError {
    /// The most specific reason code: the issuer's `decline_code`, else Stripe's `code`.
    fn reason(&self) -> Option<String> {
        self.decline_code.clone().or_else(|| self.code.clone())
    }

    fn describe(&self, status: StatusCode) -> String {
        let mut text = status.as_u16().to_string();
        if let Some(code) = self.reason() {
            let _ = write!(text, " {code}");
        }
        if let Some(message) = &self.message {
            let _ = write!(text, ": {message}");
        }
        text
    }
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Deserialize)]
struct PaymentMethodObject {
    id: String,
    card: Option<CardDetails>,
}

#[derive(Debug, Deserialize)]
struct CardDetails {
    brand: String,
    last4: String,
    exp_month: u32,
    exp_year: u32,
    /// Stripe's fingerprint of the card number (the same for every copy of the card).
    #[serde(default)]
    fingerprint: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PaymentIntentObject {
    id: String,
    status: String,
    client_secret: Option<String>,
    next_action: Option<NextAction>,
    last_payment_error: Option<ApiError>,
}

#[derive(Debug, Deserialize)]
struct NextAction {
    #[serde(rename = "type")]
    kind: Option<String>,
    redirect_to_url: Option<RedirectToUrl>,
}

#[derive(Debug, Deserialize)]
struct RedirectToUrl {
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RefundObject {
    id: String,
    status: Option<String>,
}

/// SAR to halalas, refusing amounts that are not positive or finer than a halala.
fn halalas(amount: Decimal) -> Result<i64, GatewayError> {
    match to_minor_units(amount) {
        Some(halalas) if halalas > 0 => Ok(halalas),
        _ => Err(GatewayError::Rejected(format!(
            "{amount} SAR is not a positive whole number of halalas"
        ))),
    }
}

/// Stripe ids are `[A-Za-z0-9_]`; anything else must not reach a URL path.
fn is_stripe_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The parameters of a 400 `Unexpected a, b` when every one of them may be dropped.
fn droppable_unexpected(error: &ApiError) -> Option<Vec<&'static str>> {
    let names = error.message.as_deref()?.strip_prefix("Unexpected ")?;
    names
        .split(", ")
        .map(|name| {
            DROPPABLE_PARAMS
                .iter()
                .copied()
                .find(|known| *known == name)
        })
        .collect()
}

fn outcome_of(
    intent: PaymentIntentObject,
    return_url: &str,
) -> Result<ChargeOutcome, GatewayError> {
    match intent.status.as_str() {
        "succeeded" => Ok(ChargeOutcome::Succeeded {
            gateway_ref: intent.id,
        }),
        "requires_action" => {
            let redirect_url = action_url(&intent, return_url);
            Ok(ChargeOutcome::RequiresAction {
                gateway_ref: intent.id,
                redirect_url,
            })
        }
        // Confirmation failed (Stripe answers those with a 402; a fake may not) or it was
        // canceled: no money moved.
        "requires_payment_method" | "canceled" => {
            let error = intent.last_payment_error.unwrap_or_default();
            Ok(ChargeOutcome::Declined {
                code: error.reason().unwrap_or_else(|| intent.status.clone()),
                message: error
                    .message
                    .unwrap_or_else(|| format!("the payment is {}", intent.status)),
                gateway_ref: Some(intent.id),
            })
        }
        // `processing` (and anything new): the outcome is not known yet.
        status => Err(GatewayError::Unavailable(format!(
            "payment {} is {status}; its outcome is not known yet",
            intent.id
        ))),
    }
}

/// Where the customer passes the 3-D Secure step. Stripe gives `redirect_to_url.url` when
/// the charge carried a `return_url`; a `use_stripe_sdk` action (localstripe's only kind)
/// has no URL: the customer then goes to our return page with the PaymentIntent and its
/// client secret (the query Stripe itself appends there), and the page finishes the step
/// with Stripe.js (`handleNextAction`).
fn action_url(intent: &PaymentIntentObject, return_url: &str) -> String {
    let action = intent.next_action.as_ref();
    if let Some(url) = action
        .and_then(|action| action.redirect_to_url.as_ref())
        .and_then(|redirect| redirect.url.clone())
    {
        return url;
    }
    let kind = action
        .and_then(|action| action.kind.as_deref())
        .unwrap_or("unknown");
    let query = encode_form(&[
        ("payment_intent", intent.id.as_str()),
        (
            "payment_intent_client_secret",
            intent.client_secret.as_deref().unwrap_or(""),
        ),
        ("next_action", kind),
    ]);
    let separator = if return_url.contains('?') { '&' } else { '?' };
    format!("{return_url}{separator}{query}")
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
        let mut form = vec![("name", name)];
        if let Some(email) = email {
            form.push(("email", email));
        }
        let customer: IdOnly = self
            .post("/v1/customers", &form, None)
            .await
            .map_err(CallError::into_gateway)?;
        Ok(customer.id)
    }

    async fn save_card(
        &self,
        customer_ref: &str,
        card: &CardInput,
    ) -> Result<SavedCard, GatewayError> {
        let method_id = match card {
            CardInput::Card {
                number,
                exp_month,
                exp_year,
                cvc,
            } => {
                let (exp_month, exp_year) = (exp_month.to_string(), exp_year.to_string());
                let form = [
                    ("type", "card"),
                    ("card[number]", number.as_str()),
                    ("card[exp_month]", exp_month.as_str()),
                    ("card[exp_year]", exp_year.as_str()),
                    ("card[cvc]", cvc.as_str()),
                ];
                match self
                    .post::<IdOnly>("/v1/payment_methods", &form, None)
                    .await
                {
                    Ok(method) => method.id,
                    // Only the card's fields vary here: a 400 is a bad number or expiry
                    // (Stripe says 402 `card_error`, localstripe says 400).
                    Err(CallError::Card(error))
                    | Err(CallError::Refused {
                        status: StatusCode::BAD_REQUEST,
                        error,
                        ..
                    }) => return Err(card_refused(error, "invalid_card")),
                    Err(other) => return Err(other.into_gateway()),
                }
            }
            CardInput::Token(token) => {
                if !is_stripe_id(token) {
                    return Err(GatewayError::CardRefused {
                        code: "invalid_token".into(),
                        message: "not a Stripe payment method id".into(),
                    });
                }
                token.clone()
            }
        };
        let attached: PaymentMethodObject = self
            .post(
                &format!("/v1/payment_methods/{method_id}/attach"),
                &[("customer", customer_ref)],
                None,
            )
            .await
            .map_err(|error| match error {
                CallError::Card(error) => card_refused(error, "card_declined"),
                other => other.into_gateway(),
            })?;
        let card = attached.card.ok_or_else(|| {
            GatewayError::Rejected(format!("payment method {} is not a card", attached.id))
        })?;
        Ok(SavedCard {
            gateway_ref: attached.id,
            brand: card.brand,
            last4: card.last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            fingerprint: card.fingerprint,
        })
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let amount = halalas(request.amount)?.to_string();
        let mut form = vec![
            ("amount", amount.as_str()),
            ("currency", "sar"),
            ("customer", request.customer_ref.as_str()),
            ("payment_method", request.method_ref.as_str()),
            // Cards only: no redirect-based methods, so off-session needs no return_url.
            ("payment_method_types[0]", "card"),
            ("confirm", "true"),
            (
                "metadata[idempotency_key]",
                request.idempotency_key.as_str(),
            ),
        ];
        if !request.description.is_empty() {
            form.push(("description", request.description.as_str()));
        }
        if request.off_session {
            form.push(("off_session", "true"));
        } else {
            form.push(("return_url", request.return_url.as_str()));
        }
        let skipped = self.unknown_params(&[]);
        form.retain(|(name, _)| !skipped.contains(name));
        let key = Some(request.idempotency_key.as_str());
        let mut result = self
            .post::<PaymentIntentObject>("/v1/payment_intents", &form, key)
            .await;
        if let Err(CallError::Refused {
            status: StatusCode::BAD_REQUEST,
            error,
            ..
        }) = &result
            && let Some(unknown) = droppable_unexpected(error)
        {
            tracing::debug!(
                ?unknown,
                "the Stripe API does not know these parameters: resending without them"
            );
            let skipped = self.unknown_params(&unknown);
            form.retain(|(name, _)| !skipped.contains(name));
            result = self.post("/v1/payment_intents", &form, key).await;
        }
        match result {
            Ok(intent) => outcome_of(intent, &request.return_url),
            Err(CallError::Card(error)) => Ok(ChargeOutcome::Declined {
                gateway_ref: error
                    .payment_intent
                    .as_ref()
                    .map(|intent| intent.id.clone()),
                code: error.reason().unwrap_or_else(|| "card_declined".into()),
                message: error
                    .message
                    .unwrap_or_else(|| "the card was declined".into()),
            }),
            Err(other) => Err(other.into_gateway()),
        }
    }

    async fn refund(&self, request: &RefundRequest) -> Result<String, GatewayError> {
        let amount = halalas(request.amount)?.to_string();
        // A PaymentIntent is what `charge` returns; a bare charge id works as well.
        let target = if request.charge_ref.starts_with("ch_") {
            "charge"
        } else {
            "payment_intent"
        };
        let form = [
            (target, request.charge_ref.as_str()),
            ("amount", amount.as_str()),
            (
                "metadata[idempotency_key]",
                request.idempotency_key.as_str(),
            ),
        ];
        let refund: RefundObject = self
            .post("/v1/refunds", &form, Some(request.idempotency_key.as_str()))
            .await
            .map_err(CallError::into_gateway)?;
        match refund.status.as_deref() {
            Some(status @ ("failed" | "canceled")) => Err(GatewayError::Rejected(format!(
                "refund {} is {status}",
                refund.id
            ))),
            _ => Ok(refund.id),
        }
    }
}

fn card_refused(error: ApiError, default_code: &str) -> GatewayError {
    GatewayError::CardRefused {
        code: error.reason().unwrap_or_else(|| default_code.to_owned()),
        message: error
            .message
            .unwrap_or_else(|| "the card was refused".into()),
    }
}

/// `application/x-www-form-urlencoded`, as Stripe's API takes it: nested keys are spelled
/// `card[number]`, lists `payment_method_types[0]`; everything but `A-Za-z0-9*-._` is
/// percent-encoded as UTF-8, a space as `+`.
pub fn encode_form<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        encode_component(&mut out, key.as_ref());
        out.push('=');
        encode_component(&mut out, value.as_ref());
    }
    out
}

fn encode_component(out: &mut String, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

/// Why a webhook's `Stripe-Signature` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header: {0}")]
    Malformed(&'static str),
    #[error("signed at {signed_at}, {skew_secs} s away from now (tolerance {tolerance_secs} s)")]
    TimestampOutOfTolerance {
        signed_at: i64,
        skew_secs: u64,
        tolerance_secs: u64,
    },
    #[error("no v1 signature matches")]
    NoMatch,
}

/// Why [`Stripe::verify_webhook`] refused a webhook.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("payments.stripe.webhook_secret is not set")]
    NotConfigured,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("unreadable event: {0}")]
    Payload(#[from] serde_json::Error),
}

/// Checks a `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]` header: one of the
/// `v1` values must be the hex HMAC-SHA256 of `<t>.<payload>` under `secret` (compared in
/// constant time; other schemes are ignored), and `t` must lie within `tolerance_secs` of
/// `now_unix`, either way (replay protection).
pub fn verify_signature(
    header: &str,
    payload: &[u8],
    secret: &str,
    tolerance_secs: u64,
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut timestamp: Option<&str> = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((scheme, value)) = item.trim().split_once('=') else {
            return Err(SignatureError::Malformed("an item is not `key=value`"));
        };
        match scheme {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "t" => return Err(SignatureError::Malformed("more than one timestamp")),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no timestamp"))?;
    let signed_at: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::Malformed("the timestamp is not a number"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no v1 signature"));
    }
    let skew_secs = now_unix.abs_diff(signed_at);
    if skew_secs > tolerance_secs {
        return Err(SignatureError::TimestampOutOfTolerance {
            signed_at,
            skew_secs,
            tolerance_secs,
        });
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    let matches = signatures
        .iter()
        .filter_map(|hex| decode_hex(hex))
        .any(|signature| mac.clone().verify_slice(&signature).is_ok());
    if matches {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The fields of a Stripe event the billing code acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeEvent {
    /// `evt_…`: deliveries repeat; process each id once.
    pub id: String,
    /// Stripe's `type`, e.g. `payment_intent.succeeded`.
    pub kind: String,
    /// `data.object.id`, e.g. the PaymentIntent (`pi_…`).
    pub object_id: Option<String>,
    /// `data.object.status`.
    pub object_status: Option<String>,
    /// `data.object.last_payment_error.decline_code`, else its `code` (else a charge's
    /// `failure_code`).
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
}

/// Reads an event's JSON (after [`verify_signature`] accepted it).
pub fn parse_event(payload: &[u8]) -> Result<StripeEvent, serde_json::Error> {
    #[derive(Deserialize)]
    struct RawEvent {
        id: String,
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        data: Option<RawData>,
    }
    #[derive(Deserialize)]
    struct RawData {
        #[serde(default)]
        object: Option<serde_json::Value>,
    }
    let event: RawEvent = serde_json::from_slice(payload)?;
    let object = event
        .data
        .and_then(|data| data.object)
        .unwrap_or(serde_json::Value::Null);
    let text = |value: &serde_json::Value, key: &str| {
        value.get(key).and_then(|v| v.as_str()).map(str::to_owned)
    };
    let error = object
        .get("last_payment_error")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    Ok(StripeEvent {
        id: event.id,
        kind: event.kind,
        object_id: text(&object, "id"),
        object_status: text(&object, "status"),
        failure_code: text(&error, "decline_code")
            .or_else(|| text(&error, "code"))
            .or_else(|| text(&object, "failure_code")),
        failure_message: text(&error, "message").or_else(|| text(&object, "failure_message")),
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal::dec;

    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_750_000_000;
    const PAYLOAD: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(payload);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn header(timestamp: i64, secret: &str) -> String {
        format!("t={timestamp},v1={}", sign(secret, timestamp, PAYLOAD))
    }

    #[test]
    fn a_good_signature_is_accepted() {
        assert_eq!(
            verify_signature(&header(NOW, SECRET), PAYLOAD, SECRET, 300, NOW),
            Ok(())
        );
        // Within the tolerance either way.
        assert_eq!(
            verify_signature(&header(NOW - 300, SECRET), PAYLOAD, SECRET, 300, NOW),
            Ok(())
        );
        assert_eq!(
            verify_signature(&header(NOW + 300, SECRET), PAYLOAD, SECRET, 300, NOW),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let tampered = br#"{"id":"evt_1","type":"payment_intent.payment_failed"}"#;
        assert_eq!(
            verify_signature(&header(NOW, SECRET), tampered, SECRET, 300, NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn another_secret_is_refused() {
        assert_eq!(
            verify_signature(&header(NOW, "whsec_other"), PAYLOAD, SECRET, 300, NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn a_signature_too_old_or_too_new_is_refused() {
        assert!(matches!(
            verify_signature(&header(NOW - 301, SECRET), PAYLOAD, SECRET, 300, NOW),
            Err(SignatureError::TimestampOutOfTolerance { skew_secs: 301, .. })
        ));
        assert!(matches!(
            verify_signature(&header(NOW + 301, SECRET), PAYLOAD, SECRET, 300, NOW),
            Err(SignatureError::TimestampOutOfTolerance { skew_secs: 301, .. })
        ));
    }

    #[test]
    fn one_valid_v1_among_several_is_enough() {
        // During a secret roll Stripe signs with both secrets; v0 is a test-mode scheme.
        let header = format!(
            "t={NOW}, v1={}, v1={}, v0={}",
            sign("whsec_old", NOW, PAYLOAD),
            sign(SECRET, NOW, PAYLOAD),
            sign("whsec_v0", NOW, PAYLOAD),
        );
        assert_eq!(verify_signature(&header, PAYLOAD, SECRET, 300, NOW), Ok(()));
        let none_valid = format!("t={NOW},v1={},v1=zz", sign("whsec_old", NOW, PAYLOAD));
        assert_eq!(
            verify_signature(&none_valid, PAYLOAD, SECRET, 300, NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert_eq!(
            verify_signature("", PAYLOAD, SECRET, 300, NOW),
            Err(SignatureError::Missing)
        );
        let v1 = sign(SECRET, NOW, PAYLOAD);
        for header in [
            format!("v1={v1}"),
            format!("t=soon,v1={v1}"),
            format!("t={NOW}"),
            format!("t={NOW},v0={v1}"),
            format!("t={NOW},t={NOW},v1={v1}"),
            format!("t={NOW};v1={v1}"),
        ] {
            assert!(
                matches!(
                    verify_signature(&header, PAYLOAD, SECRET, 300, NOW),
                    Err(SignatureError::Malformed(_))
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn sar_become_halalas() {
        assert_eq!(halalas(dec!(12.34)).unwrap(), 1234);
        assert_eq!(halalas(dec!(100)).unwrap(), 10_000);
        assert!(matches!(
            halalas(dec!(12.345)),
            Err(GatewayError::Rejected(_))
        ));
        assert!(matches!(halalas(dec!(0)), Err(GatewayError::Rejected(_))));
        assert!(matches!(halalas(dec!(-1)), Err(GatewayError::Rejected(_))));
    }

    #[test]
    fn forms_encode_nested_keys_and_arabic() {
        assert_eq!(
            encode_form(&[
                ("card[number]", "4242424242424242"),
                ("payment_method_types[0]", "card"),
                ("metadata[key]", "a&b=c+d/é"),
            ]),
            "card%5Bnumber%5D=4242424242424242&payment_method_types%5B0%5D=card\
             &metadata%5Bkey%5D=a%26b%3Dc%2Bd%2F%C3%A9"
        );
        assert_eq!(
            encode_form(&[("description", "حجز فندق")]),
            "description=%D8%AD%D8%AC%D8%B2+%D9%81%D9%86%D8%AF%D9%82"
        );
        assert_eq!(encode_form::<&str, &str>(&[]), "");
    }

    #[test]
    fn only_optional_parameters_are_dropped() {
        let error = |message: &str| ApiError {
            message: Some(message.into()),
            ..ApiError::default()
        };
        assert_eq!(
            droppable_unexpected(&error("Unexpected description, return_url")),
            Some(vec!["description", "return_url"])
        );
        assert_eq!(
            droppable_unexpected(&error("Unexpected description, amount")),
            None
        );
        assert_eq!(droppable_unexpected(&error("Bad request")), None);
    }

    #[test]
    fn an_action_without_a_url_returns_to_our_page() {
        let intent = |next_action| PaymentIntentObject {
            id: "pi_1".into(),
            status: "requires_action".into(),
            client_secret: Some("pi_1_secret_x".into()),
            next_action: Some(next_action),
            last_payment_error: None,
        };
        let redirect = intent(NextAction {
            kind: Some("redirect_to_url".into()),
            redirect_to_url: Some(RedirectToUrl {
                url: Some("https://hooks.stripe.com/3d_secure/x".into()),
            }),
        });
        assert_eq!(
            action_url(&redirect, "https://wasit.example/pay"),
            "https://hooks.stripe.com/3d_secure/x"
        );
        let sdk = intent(NextAction {
            kind: Some("use_stripe_sdk".into()),
            redirect_to_url: None,
        });
        assert_eq!(
            action_url(&sdk, "https://wasit.example/pay?booking=7"),
            "https://wasit.example/pay?booking=7&payment_intent=pi_1\
             &payment_intent_client_secret=pi_1_secret_x&next_action=use_stripe_sdk"
        );
    }

    #[test]
    fn events_give_their_object_and_failure() {
        let failed = br#"{
            "id": "evt_2", "type": "payment_intent.payment_failed",
            "data": {"object": {"id": "pi_9", "status": "requires_payment_method",
                "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds."}}}
        }"#;
        assert_eq!(
            parse_event(failed).unwrap(),
            StripeEvent {
                id: "evt_2".into(),
                kind: "payment_intent.payment_failed".into(),
                object_id: Some("pi_9".into()),
                object_status: Some("requires_payment_method".into()),
                failure_code: Some("insufficient_funds".into()),
                failure_message: Some("Your card has insufficient funds.".into()),
            }
        );
        let succeeded = br#"{"id": "evt_3", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_8", "status": "succeeded", "last_payment_error": null}}}"#;
        let event = parse_event(succeeded).unwrap();
        assert_eq!(event.object_id.as_deref(), Some("pi_8"));
        assert_eq!(event.failure_code, None);
        assert!(parse_event(b"{\"type\": \"x\"}").is_err());
    }
}
