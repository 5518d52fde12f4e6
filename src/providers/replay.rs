//! A provider's webhook signing secret is shown at creation and rotation only. Those answers,
//! kept for an Idempotency-Key, are kept without it; a replay reads it back from the
//! provider, where it lives (and where a later rotation would have changed it).

use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::idempotency::KeptSecrets;
use crate::schema::providers;

pub struct WebhookSecrets;

impl KeptSecrets for WebhookSecrets {
    fn strip(&self, body: &mut Value) -> bool {
        match body.get_mut("webhook_secret") {
            Some(secret) if !secret.is_null() => {
                *secret = Value::Null;
                true
            }
            _ => false,
        }
    }

    fn restore(&self, conn: &mut PgConnection, body: &mut Value) -> QueryResult<bool> {
        let kept_without = body.get("webhook_secret").is_some_and(Value::is_null);
        let Some(id) = body["id"].as_str().and_then(|id| id.parse::<Uuid>().ok()) else {
            return Ok(false);
        };
        if !kept_without {
            return Ok(false);
        }
        let secret: Option<String> = providers::table
            .find(id)
            .select(providers::webhook_secret)
            .first(conn)
            .optional()?;
        body["webhook_secret"] = secret.map_or(Value::Null, Value::String);
        Ok(true)
    }
}
