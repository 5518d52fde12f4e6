//! Stripe's REST API over HTTP: form-encoded POSTs with the secret key as the basic-auth
//! user, JSON answers, and Stripe's error answers sorted by what the caller may do next
//! (retry with the same key, tell the customer the card was refused, or give up).

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Stripe;
use crate::billing::gateway::GatewayError;

/// The client every call goes through; `timeout` bounds one whole call.
pub(super) fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    crate::providers::adapter::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("wasit/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        // Stripe never redirects an API call; a redirect would resend the key elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the Stripe HTTP client")
}

impl Stripe {
    /// POSTs a form to `path`; `Ok` is the 2xx answer read as `T`.
    pub(super) async fn post<T: DeserializeOwned>(
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
        Err(CallError::from_answer(path, status, &body))
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
pub(super) enum CallError {
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
    /// A non-2xx answer to `POST path`. A body that is not Stripe's error shape (a proxy's
    /// page, a fake's plain text) is kept as the message, cut short.
    fn from_answer(path: &str, status: StatusCode, body: &[u8]) -> Self {
        let error = serde_json::from_slice::<ErrorBody>(body)
            .map(|body| body.error)
            .unwrap_or_else(|_| ApiError {
                message: Some(String::from_utf8_lossy(body).chars().take(200).collect()),
                ..ApiError::default()
            });
        if status == StatusCode::PAYMENT_REQUIRED || error.kind.as_deref() == Some("card_error") {
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
        }
    }

    /// The mapping where a card error has no special meaning (customers, refunds).
    pub(super) fn into_gateway(self) -> GatewayError {
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
pub(super) struct ApiError {
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) code: Option<String>,
    pub(super) decline_code: Option<String>,
    pub(super) message: Option<String>,
    /// Stripe includes the PaymentIntent a declined confirmation belongs to.
    pub(super) payment_intent: Option<IdOnly>,
}

impl ApiError {
    /// The most specific reason code: the issuer's `decline_code`, else Stripe's `code`.
    pub(super) fn reason(&self) -> Option<String> {
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
pub(super) struct IdOnly {
    pub(super) id: String,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
