//! Stripe's webhooks: the `Stripe-Signature` check (an HMAC of the body under the endpoint's
//! secret, with a timestamp against replays) and the few fields of an event the billing code
//! acts on. The check and the parsing are pure functions, so they are tested without Stripe.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;

use super::Stripe;

impl Stripe {
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
