//! Customers and their cards: a Stripe Customer per customer, and each card a PaymentMethod
//! attached to it, so later charges (off-session renewals too) need no card details again.
//!
//! Cards typed in (`CardInput::Card`) become a PaymentMethod created from the raw number:
//! only Stripe test mode (and localstripe, the test peer) allow that; live mode takes the
//! `pm_…` token Stripe.js produced in the browser.

use reqwest::StatusCode;
use serde::Deserialize;

use super::Stripe;
use super::client::{ApiError, CallError, IdOnly};
use crate::billing::gateway::{CardInput, GatewayError, SavedCard};

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

impl Stripe {
    /// `PaymentGateway::create_customer`: the Customer saved cards hang on (`cus_…`).
    pub(super) async fn new_customer(
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

    /// `PaymentGateway::save_card`: a typed card or a Stripe.js token, attached to the
    /// customer, because Stripe charges a PaymentMethod more than once only when it belongs
    /// to a customer.
    pub(super) async fn attach_card(
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
                self.method_from_number(number, *exp_month, *exp_year, cvc)
                    .await?
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

    /// The id of a PaymentMethod made from a typed card, not yet attached to anyone.
    async fn method_from_number(
        &self,
        number: &str,
        exp_month: u32,
        exp_year: u32,
        cvc: &str,
    ) -> Result<String, GatewayError> {
        let (exp_month, exp_year) = (exp_month.to_string(), exp_year.to_string());
        let form = [
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", exp_month.as_str()),
            ("card[exp_year]", exp_year.as_str()),
            ("card[cvc]", cvc),
        ];
        match self
            .post::<IdOnly>("/v1/payment_methods", &form, None)
            .await
        {
            Ok(method) => Ok(method.id),
            // Only the card's fields vary here: a 400 is a bad number or expiry
            // (Stripe says 402 `card_error`, localstripe says 400).
            Err(CallError::Card(error))
            | Err(CallError::Refused {
                status: StatusCode::BAD_REQUEST,
                error,
                ..
            }) => Err(card_refused(error, "invalid_card")),
            Err(other) => Err(other.into_gateway()),
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

/// Stripe ids are `[A-Za-z0-9_]`; anything else must not reach a URL path.
fn is_stripe_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
