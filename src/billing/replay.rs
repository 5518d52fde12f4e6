//! A payment's `action_url` (where the customer passes a 3-D Secure step) is a secret: Stripe's
//! carries the PaymentIntent's client secret, the sandbox's is the step itself. The pay answer
//! kept for its Idempotency-Key is kept without it, and a replay reads it back from the
//! payment, where it lives while the step is open.

use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::payments::PaymentStatus;
use crate::idempotency::KeptSecrets;
use crate::schema::payments;

pub struct ActionUrls;

impl KeptSecrets for ActionUrls {
    fn strip(&self, body: &mut Value) -> bool {
        let mut stripped = false;
        each_payment(body, &mut |payment| {
            if let Some(url) = payment.get_mut("action_url").filter(|url| !url.is_null()) {
                *url = Value::Null;
                stripped = true;
            }
        });
        stripped
    }

    fn restore(&self, conn: &mut PgConnection, body: &mut Value) -> QueryResult<bool> {
        let mut waiting: Vec<Uuid> = Vec::new();
        each_payment(body, &mut |payment| {
            let open = payment["status"] == PaymentStatus::RequiresAction.as_str()
                && payment["action_url"].is_null();
            if open && let Some(id) = payment["id"].as_str().and_then(|id| id.parse().ok()) {
                waiting.push(id);
            }
        });
        if waiting.is_empty() {
            return Ok(false);
        }
        let urls: Vec<(Uuid, Option<String>)> = payments::table
            .filter(payments::id.eq_any(&waiting))
            .select((payments::id, payments::action_url))
            .load(conn)?;
        each_payment(body, &mut |payment| {
            let id = payment["id"]
                .as_str()
                .and_then(|id| id.parse::<Uuid>().ok());
            if let Some((_, Some(url))) = urls.iter().find(|(known, _)| Some(*known) == id) {
                payment["action_url"] = Value::String(url.clone());
            }
        });
        Ok(true)
    }
}

/// Every object in `body` shaped like a payment view (one with an `action_url` member).
fn each_payment(body: &mut Value, visit: &mut impl FnMut(&mut Value)) {
    match body {
        Value::Object(fields) if fields.contains_key("action_url") => visit(body),
        Value::Object(fields) => fields.values_mut().for_each(|v| each_payment(v, visit)),
        Value::Array(items) => items.iter_mut().for_each(|v| each_payment(v, visit)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_kept_copy_of_a_pay_answer_has_no_action_url() {
        let mut body = json!({ "payment": { "id": Uuid::nil(), "status": "requires_action",
            "action_url": "https://pay.example/return?payment_intent_client_secret=pi_1_secret_x" },
            "booking": { "id": Uuid::nil(), "status": "held" } });
        assert!(ActionUrls.strip(&mut body));
        assert!(!body.to_string().contains("secret"), "{body}");
        assert!(body["payment"]["action_url"].is_null());
        assert!(!ActionUrls.strip(&mut json!({ "payment": null, "booking": {} })));
    }
}
