//! The built-in test gateway: no money moves, and each test card always does the same thing
//! (numbers as Stripe's test cards, so a tester needs to learn one set):
//!
//! | card                  | outcome                                                        |
//! |-----------------------|----------------------------------------------------------------|
//! | 4242 4242 4242 4242   | every charge succeeds                                          |
//! | 4000 0000 0000 0002   | every charge is declined (`card_declined`)                     |
//! | 4000 0000 0000 9995   | every charge is declined (`insufficient_funds`)                |
//! | 4000 0000 0000 0069   | every charge is declined (`expired_card`)                      |
//! | 4000 0000 0000 0341   | succeeds with the customer present; renewals are declined      |
//! | 4000 0027 6000 3184   | needs a 3-D Secure step (the sandbox's page at `/sandbox/3ds/…`)|
//!
//! Any other valid number behaves like 4242. The sandbox keeps no state: a saved card's id
//! names its behaviour, and a charge's id is derived from its idempotency key, so repeating
//! a charge with the same key gives the same charge. A card's fingerprint is an HMAC of its
//! number under a key derived from the deployment's secret, so the same number always has
//! the same one and the number cannot be recovered from it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::{
    CardInput, ChargeOutcome, ChargeRequest, GatewayError, PaymentGateway, RefundRequest, SavedCard,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Succeeds,
    Declined(&'static str),
    DeclinedOffSession,
    NeedsAuthentication,
}

impl Behaviour {
    fn of_number(number: &str) -> Self {
        match number {
            "4000000000000002" => Self::Declined("card_declined"),
            "4000000000009995" => Self::Declined("insufficient_funds"),
            "4000000000000069" => Self::Declined("expired_card"),
            "4000000000000341" => Self::DeclinedOffSession,
            "4000002760003184" => Self::NeedsAuthentication,
            _ => Self::Succeeds,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Succeeds => "ok",
            Self::Declined("insufficient_funds") => "funds",
            Self::Declined("expired_card") => "expired",
            Self::Declined(_) => "declined",
            Self::DeclinedOffSession => "renewfail",
            Self::NeedsAuthentication => "3ds",
        }
    }

    fn of_tag(tag: &str) -> Option<Self> {
        Some(match tag {
            "ok" => Self::Succeeds,
            "funds" => Self::Declined("insufficient_funds"),
            "expired" => Self::Declined("expired_card"),
            "declined" => Self::Declined("card_declined"),
            "renewfail" => Self::DeclinedOffSession,
            "3ds" => Self::NeedsAuthentication,
            _ => return None,
        })
    }
}

/// The path of the sandbox's 3-D Secure page for a charge (served by `billing::routes`).
pub fn authentication_path(charge_ref: &str) -> String {
    format!("/sandbox/3ds/{charge_ref}")
}

/// The page of a charge whose return names a page of the site (`…#/pay/<token>`): the
/// fragment rides along as `back`, so the browser comes back to that page, as a bank's
/// page returns to the charge's `return_url`.
fn authentication_path_returning(charge_ref: &str, return_url: &str) -> String {
    match return_url.split_once('#').map(|(_, page)| page) {
        Some(page) if is_site_page(page) => {
            format!("{}?back={page}", authentication_path(charge_ref))
        }
        _ => authentication_path(charge_ref),
    }
}

/// A page of the site as a fragment names it (`/pay/<token>`): only these characters, so it
/// needs no escaping and cannot lead the browser off the site.
pub fn is_site_page(page: &str) -> bool {
    page.starts_with('/')
        && page.len() <= 100
        && page
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'))
}

#[derive(Clone)]
pub struct Sandbox {
    fingerprint_key: Vec<u8>,
}

impl Sandbox {
    /// `root_secret`: the deployment's secret; the fingerprint key is derived from it under
    /// a label, so the two uses never mix.
    pub fn new(root_secret: &[u8]) -> Self {
        Self {
            fingerprint_key: crate::config::subkey::derive(
                root_secret,
                b"wasit sandbox card fingerprint key v1",
            ),
        }
    }

    /// The card number's fingerprint: 32 hex digits of an HMAC-SHA256 under our key.
    fn fingerprint(&self, number: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.fingerprint_key)
            .expect("HMAC takes any key length");
        mac.update(number.as_bytes());
        mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn brand(number: &str) -> &'static str {
    match number.as_bytes().first() {
        Some(b'4') => "visa",
        Some(b'5') | Some(b'2') => "mastercard",
        Some(b'3') => "amex",
        _ => "card",
    }
}

fn declined(gateway_ref: Option<String>, code: &str) -> ChargeOutcome {
    let message = match code {
        "insufficient_funds" => "Your card has insufficient funds.",
        "expired_card" => "Your card has expired.",
        "authentication_required" => "This charge needs the cardholder to authenticate.",
        _ => "Your card was declined.",
    };
    ChargeOutcome::Declined {
        gateway_ref,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

impl PaymentGateway for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create_customer(
        &self,
        name: &str,
        email: Option<&str>,
    ) -> Result<String, GatewayError> {
        let nonce = uuid::Uuid::new_v4().to_string();
        Ok(format!(
            "cus_sb_{}",
            digest(&[name, email.unwrap_or(""), &nonce])
        ))
    }

    async fn save_card(
        &self,
        customer_ref: &str,
        card: &CardInput,
    ) -> Result<SavedCard, GatewayError> {
        match card {
            CardInput::Card {
                number,
                exp_month,
                exp_year,
                ..
            } => {
                let behaviour = Behaviour::of_number(number);
                Ok(SavedCard {
                    gateway_ref: format!(
                        "pm_sb_{}_{}",
                        behaviour.tag(),
                        digest(&[customer_ref, number, &uuid::Uuid::new_v4().to_string()])
                    ),
                    brand: brand(number).to_owned(),
                    last4: number[number.len().saturating_sub(4)..].to_owned(),
                    exp_month: *exp_month,
                    exp_year: *exp_year,
                    fingerprint: Some(self.fingerprint(number)),
                })
            }
            CardInput::Token(_) => Err(GatewayError::CardRefused {
                code: "token_unsupported".into(),
                message: "the sandbox takes test card numbers, not tokens".into(),
            }),
        }
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let behaviour = request
            .method_ref
            .strip_prefix("pm_sb_")
            .and_then(|rest| rest.split('_').next())
            .and_then(Behaviour::of_tag)
            .ok_or_else(|| GatewayError::Rejected("not a sandbox payment method".into()))?;
        let charge_ref = format!("pi_sb_{}", digest(&[&request.idempotency_key]));
        Ok(match behaviour {
            Behaviour::Succeeds => ChargeOutcome::Succeeded {
                gateway_ref: charge_ref,
            },
            Behaviour::Declined(code) => declined(Some(charge_ref), code),
            Behaviour::DeclinedOffSession if request.off_session => {
                declined(Some(charge_ref), "card_declined")
            }
            Behaviour::DeclinedOffSession => ChargeOutcome::Succeeded {
                gateway_ref: charge_ref,
            },
            Behaviour::NeedsAuthentication if request.off_session => {
                declined(Some(charge_ref), "authentication_required")
            }
            Behaviour::NeedsAuthentication => ChargeOutcome::RequiresAction {
                redirect_url: authentication_path_returning(&charge_ref, &request.return_url),
                gateway_ref: charge_ref,
            },
        })
    }

    async fn refund(&self, request: &RefundRequest) -> Result<String, GatewayError> {
        if !request.charge_ref.starts_with("pi_sb_") {
            return Err(GatewayError::Rejected("not a sandbox charge".into()));
        }
        Ok(format!("re_sb_{}", digest(&[&request.idempotency_key])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    async fn charge_with(number: &str, key: &str, off_session: bool) -> ChargeOutcome {
        let sandbox = Sandbox::new(b"test secret");
        let card = CardInput::Card {
            number: number.into(),
            exp_month: 12,
            exp_year: 2099,
            cvc: "123".into(),
        };
        let saved = sandbox.save_card("cus_sb_x", &card).await.unwrap();
        sandbox
            .charge(&ChargeRequest {
                idempotency_key: key.into(),
                customer_ref: "cus_sb_x".into(),
                method_ref: saved.gateway_ref,
                amount: dec!(10.00),
                description: "test".into(),
                off_session,
                return_url: "http://127.0.0.1/".into(),
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn each_test_card_does_what_it_says() {
        assert!(matches!(
            charge_with("4242424242424242", "a", false).await,
            ChargeOutcome::Succeeded { .. }
        ));
        for (number, code) in [
            ("4000000000000002", "card_declined"),
            ("4000000000009995", "insufficient_funds"),
            ("4000000000000069", "expired_card"),
        ] {
            match charge_with(number, "b", false).await {
                ChargeOutcome::Declined { code: got, .. } => assert_eq!(got, code),
                other => panic!("{number}: {other:?}"),
            }
        }
        assert!(matches!(
            charge_with("4000000000000341", "c", false).await,
            ChargeOutcome::Succeeded { .. }
        ));
        assert!(matches!(
            charge_with("4000000000000341", "c", true).await,
            ChargeOutcome::Declined { .. }
        ));
        match charge_with("4000002760003184", "d", false).await {
            ChargeOutcome::RequiresAction {
                gateway_ref,
                redirect_url,
            } => assert_eq!(redirect_url, authentication_path(&gateway_ref)),
            other => panic!("3ds: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_same_key_gives_the_same_charge() {
        let first = charge_with("4242424242424242", "key-1", false).await;
        let again = charge_with("4242424242424242", "key-1", false).await;
        let other = charge_with("4242424242424242", "key-2", false).await;
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[tokio::test]
    async fn a_card_has_one_keyed_fingerprint_that_is_not_its_number() {
        let save = |sandbox: Sandbox, number: &'static str| async move {
            let card = CardInput::Card {
                number: number.into(),
                exp_month: 12,
                exp_year: 2099,
                cvc: "123".into(),
            };
            let saved = sandbox.save_card("cus_sb_x", &card).await.unwrap();
            (saved.gateway_ref, saved.fingerprint.unwrap())
        };
        let ours = Sandbox::new(b"one secret");
        let (first_ref, first) = save(ours.clone(), "4242424242424242").await;
        let (again_ref, again) = save(ours.clone(), "4242424242424242").await;
        assert_ne!(
            first_ref, again_ref,
            "each save is a payment method of its own"
        );
        assert_eq!(first, again, "the same number has the same fingerprint");
        assert_ne!(first, save(ours, "4000000000000002").await.1);
        assert_ne!(
            first,
            save(Sandbox::new(b"another secret"), "4242424242424242")
                .await
                .1,
            "the fingerprint is keyed"
        );
        assert!(!first.contains("4242"), "{first}");
    }
}
