//! Charges and refunds: a charge is a PaymentIntent confirmed at once on a saved card, a
//! refund takes part or all of one back. Both carry our idempotency key, so repeating them
//! after a timeout moves money once. What a PaymentIntent's status means for the payment
//! (paid, a 3-D Secure step, declined, not known yet) is decided here.

use std::sync::PoisonError;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::Stripe;
use super::client::{ApiError, CallError, encode_form};
use crate::billing::gateway::{
    ChargeOutcome, ChargeRequest, GatewayError, RefundRequest, to_minor_units,
};

/// Optional PaymentIntent parameters a Stripe-compatible fake may not know: localstripe
/// answers `400 Unexpected description, return_url`, and the charge is then sent once more
/// without them (and later charges go without them from the start). Stripe itself knows
/// both, so this never happens against Stripe.
const DROPPABLE_PARAMS: [&str; 2] = ["description", "return_url"];

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

impl Stripe {
    /// `PaymentGateway::charge`: a PaymentIntent created and confirmed in one call, so the
    /// money moves (or the 3-D Secure step starts) at once.
    pub(super) async fn charge_card(
        &self,
        request: &ChargeRequest,
    ) -> Result<ChargeOutcome, GatewayError> {
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
        let key = Some(request.idempotency_key.as_str());
        match self.create_intent(form, key).await {
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

    /// POSTs the PaymentIntent without the optional parameters this server is known to
    /// refuse, and once more without those it refuses now (see [`DROPPABLE_PARAMS`]).
    async fn create_intent(
        &self,
        mut form: Vec<(&'static str, &str)>,
        key: Option<&str>,
    ) -> Result<PaymentIntentObject, CallError> {
        let skipped = self.unknown_params(&[]);
        form.retain(|(name, _)| !skipped.contains(name));
        let result = self.post("/v1/payment_intents", &form, key).await;
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
            return self.post("/v1/payment_intents", &form, key).await;
        }
        result
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

    /// `PaymentGateway::refund`. A refund Stripe answers as failed or canceled moved no
    /// money, so it is refused.
    pub(super) async fn refund_charge(
        &self,
        request: &RefundRequest,
    ) -> Result<String, GatewayError> {
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

/// SAR to halalas, refusing amounts that are not positive or finer than a halala.
fn halalas(amount: Decimal) -> Result<i64, GatewayError> {
    match to_minor_units(amount) {
        Some(halalas) if halalas > 0 => Ok(halalas),
        _ => Err(GatewayError::Rejected(format!(
            "{amount} SAR is not a positive whole number of halalas"
        ))),
    }
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

#[cfg(test)]
mod tests {
    use rust_decimal::dec;

    use super::*;

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
}
