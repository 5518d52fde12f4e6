//! Webhooks to providers, signed per Standard Webhooks: `webhook-id` (stable across
//! retries), `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`. During a secret rotation's overlap both signatures are sent,
//! space-separated. Every attempt is logged; a 410 Gone turns the provider's webhooks off.
//! Deliveries go through the outbound client: a redirect, a refused address or an answer
//! over `outbound.max_body_bytes` is a failed attempt.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use crate::db::{PgPool, run_blocking};
use crate::http::outbound::{Outbound, OutboundError, Reply};
use crate::jobs::{Job, queue};
use crate::schema::{providers, webhook_deliveries};

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// The HMAC key inside a `whsec_<base64>` secret.
pub fn signing_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix("whsec_")?).ok()
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = signed_content(key, id, timestamp, body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The HMAC over Standard Webhooks' signed content, `{id}.{timestamp}.{body}`.
fn signed_content(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a signed request we receive (an SMS receipt or reply) was refused, by header.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{header}: {reason}")]
pub struct Refused {
    pub header: &'static str,
    pub reason: &'static str,
}

/// Checks a request signed the way we sign ours: `webhook-timestamp` within `tolerance_secs`
/// of `now` either way (replays), and one of the space-separated `v1,` signatures in
/// `webhook-signature` the HMAC of `{webhook-id}.{timestamp}.{body}` (compared in constant
/// time). Headers are given as read (`None`: absent).
pub fn verify(
    key: &[u8],
    (id, timestamp, signatures): (Option<&str>, Option<&str>, Option<&str>),
    body: &[u8],
    tolerance_secs: u64,
    now: i64,
) -> Result<(), Refused> {
    let refused = |header, reason| Refused { header, reason };
    let id = id
        .filter(|id| !id.is_empty())
        .ok_or(refused("webhook-id", "is missing"))?;
    let timestamp: i64 = timestamp
        .ok_or(refused("webhook-timestamp", "is missing"))?
        .trim()
        .parse()
        .map_err(|_| refused("webhook-timestamp", "must be Unix seconds"))?;
    if timestamp.abs_diff(now) > tolerance_secs {
        return Err(refused("webhook-timestamp", "is too far from now"));
    }
    let signatures = signatures.ok_or(refused("webhook-signature", "is missing"))?;
    let expected = signed_content(key, id, timestamp, body);
    let matches = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|signature| expected.clone().verify_slice(&signature).is_ok());
    if matches {
        Ok(())
    } else {
        Err(refused("webhook-signature", "no v1 signature matches"))
    }
}

/// How one delivery attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered {
    Accepted,
    /// 410 Gone: the provider's webhooks are now off.
    Gone,
    /// No URL any more, or turned off: nothing to do.
    Skipped,
}

/// A failed attempt, and how long the receiver asked us to wait (`Retry-After`).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failed {
    pub error: String,
    pub retry_after: Option<Duration>,
}

pub struct Message<'a> {
    pub provider_id: Uuid,
    pub message_id: &'a str,
    pub event_type: &'a str,
    pub timestamp: DateTime<Utc>,
    pub data: &'a serde_json::Value,
    pub attempt: i32,
}

#[derive(Queryable)]
struct Endpoint {
    url: Option<String>,
    secret: String,
    previous: Option<String>,
    rotated_at: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
}

impl Endpoint {
    /// The current secret's signature, then the previous secret's during a rotation's
    /// overlap, so a receiver still on the old secret accepts the message.
    fn signatures(&self, message_id: &str, timestamp: i64, body: &[u8]) -> Vec<String> {
        let previous = self.previous.as_ref().filter(|_| {
            self.rotated_at
                .is_some_and(|at| at + ROTATION_OVERLAP > Utc::now())
        });
        [Some(&self.secret), previous]
            .into_iter()
            .flatten()
            .filter_map(|secret| signing_key(secret))
            .map(|key| sign(&key, message_id, timestamp, body))
            .collect()
    }
}

/// How the receiver answered one attempt.
struct Answer {
    /// `None` when no answer came.
    status: Option<i32>,
    retry_after: Option<Duration>,
    /// Why the attempt failed, if it did.
    error: Option<String>,
}

impl Answer {
    fn of(sent: &Result<Reply, OutboundError>) -> Self {
        match sent {
            Ok(reply) => {
                let status = reply.status;
                let retry_after = reply
                    .headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let error =
                    (!status.is_success()).then(|| format!("the endpoint answered {status}"));
                Self {
                    status: Some(i32::from(status.as_u16())),
                    retry_after,
                    error,
                }
            }
            Err(error) => Self {
                status: None,
                retry_after: None,
                error: Some(format!("could not deliver: {error}")),
            },
        }
    }
}

fn failed(error: String) -> Failed {
    Failed {
        error,
        retry_after: None,
    }
}

pub async fn deliver(
    pool: &PgPool,
    client: &Outbound,
    message: &Message<'_>,
) -> Result<Delivered, Failed> {
    let endpoint = load_endpoint(pool, message.provider_id).await?;
    let Some(url) = endpoint
        .url
        .as_deref()
        .filter(|_| endpoint.disabled_at.is_none())
    else {
        return Ok(Delivered::Skipped);
    };
    let body = serde_json::to_vec(&serde_json::json!({
        "type": message.event_type,
        "timestamp": message.timestamp,
        "data": message.data,
    }))
    .map_err(|e| failed(e.to_string()))?;
    // A fresh timestamp per attempt: receivers reject old ones (5 minutes by the spec).
    let now = Utc::now().timestamp();
    let signatures = endpoint.signatures(message.message_id, now, &body);
    let started = Instant::now();
    let sent = client
        .fetch(
            client
                .request(Method::POST, url)
                .header("content-type", "application/json")
                .header("webhook-id", message.message_id)
                .header("webhook-timestamp", now.to_string())
                .header("webhook-signature", signatures.join(" "))
                .body(body),
        )
        .await;
    let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let Answer {
        status,
        retry_after,
        error,
    } = Answer::of(&sent);
    log_attempt(pool, message, status, latency_ms, error.clone()).await;
    crate::metrics::METRICS.webhook_delivery(match (status, &error) {
        (Some(410), _) => "gone",
        (_, None) => "delivered",
        _ => "failed",
    });
    match (status, error) {
        (Some(410), _) => {
            turn_off(pool, message.provider_id).await?;
            Ok(Delivered::Gone)
        }
        (_, None) => Ok(Delivered::Accepted),
        (_, Some(error)) => Err(Failed { error, retry_after }),
    }
}

async fn load_endpoint(pool: &PgPool, provider_id: Uuid) -> Result<Endpoint, Failed> {
    run_blocking(pool, move |conn| {
        Ok(providers::table
            .find(provider_id)
            .select((
                providers::webhook_url,
                providers::webhook_secret,
                providers::previous_webhook_secret,
                providers::webhook_secret_rotated_at,
                providers::webhook_disabled_at,
            ))
            .first(conn)?)
    })
    .await
    .map_err(|e| failed(e.describe()))
}

/// A 410 Gone means the receiver wants no more: no webhook goes out until an admin sets a
/// new URL.
async fn turn_off(pool: &PgPool, provider_id: Uuid) -> Result<(), Failed> {
    run_blocking(pool, move |conn| {
        diesel::update(providers::table.find(provider_id))
            .set(providers::webhook_disabled_at.eq(Some(Utc::now())))
            .execute(conn)?;
        Ok(())
    })
    .await
    .map_err(|e| failed(e.describe()))?;
    tracing::warn!(%provider_id, "webhook endpoint answered 410 Gone: webhooks turned off");
    Ok(())
}

/// Logs one attempt. The log does not wait for its WAL flush (`synchronous_commit` off for
/// this statement's transaction), as the job's bookkeeping does not: an attempt lost in a
/// crash of PostgreSQL goes with its job's completion, and the job runs (and logs) again.
async fn log_attempt(
    pool: &PgPool,
    message: &Message<'_>,
    status: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
) {
    use diesel::sql_types::{Integer, Jsonb, Nullable, Text, Uuid as SqlUuid};
    let (provider_id, message_id, event_type, payload, attempt) = (
        message.provider_id,
        message.message_id.to_owned(),
        message.event_type.to_owned(),
        message.data.clone(),
        message.attempt,
    );
    let logged = run_blocking(pool, move |conn| {
        diesel::sql_query(
            "INSERT INTO webhook_deliveries \
                    (provider_id, message_id, event_type, payload, attempt, status_code, latency_ms, error) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
               FROM (SELECT set_config('synchronous_commit', 'off', true)) unflushed",
        )
        .bind::<SqlUuid, _>(provider_id)
        .bind::<Text, _>(message_id)
        .bind::<Text, _>(event_type)
        .bind::<Jsonb, _>(payload)
        .bind::<Integer, _>(attempt)
        .bind::<Nullable<Integer>, _>(status)
        .bind::<Integer, _>(latency_ms)
        .bind::<Nullable<Text>, _>(error)
        .execute(conn)?;
        Ok(())
    })
    .await;
    if let Err(error) = logged {
        tracing::warn!(error = %error.describe(), "could not log a webhook attempt");
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct DeliveryRow {
    pub id: i64,
    pub message_id: String,
    pub event_type: String,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
    #[serde(skip)]
    pub payload: serde_json::Value,
}

/// A page of a provider's delivery attempts, newest first; `after` is the (at, id) of the
/// last one the previous page showed (keyset, as `http::cursor` encodes it).
pub fn list_deliveries(
    conn: &mut PgConnection,
    provider_id: Uuid,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::provider_id.eq(provider_id))
        .select(DeliveryRow::as_select())
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            webhook_deliveries::at.lt(at).or(webhook_deliveries::at
                .eq(at)
                .and(webhook_deliveries::id.lt(id))),
        );
    }
    query
        .order((webhook_deliveries::at.desc(), webhook_deliveries::id.desc()))
        .limit(limit)
        .load(conn)
}

/// Sends a logged message again, under the same `webhook-id`.
pub fn resend(conn: &mut PgConnection, provider_id: Uuid, message_id: &str) -> QueryResult<bool> {
    let last: Option<DeliveryRow> = webhook_deliveries::table
        .filter(webhook_deliveries::provider_id.eq(provider_id))
        .filter(webhook_deliveries::message_id.eq(message_id))
        .order(webhook_deliveries::id.desc())
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?;
    let Some(last) = last else { return Ok(false) };
    let job = Job::DeliverWebhook {
        provider_id,
        message_id: last.message_id.clone(),
        event_type: last.event_type.clone(),
        timestamp: Utc::now(),
        data: last.payload,
    };
    let dedup = format!(
        "resend:{}:{}",
        last.message_id,
        Utc::now().timestamp_millis()
    );
    queue::enqueue(conn, &job, Some(&dedup), Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn signs_the_specifications_test_vector() {
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_need_their_prefix_and_base64() {
        assert!(signing_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(signing_key("whsec_not base64!").is_none());
    }

    #[test]
    fn verifies_what_it_signs_within_the_tolerance_only() {
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let (id, at, body) = ("msg_1", 1_700_000_000, br#"{"status":"delivered"}"#);
        let good = format!("v1,bm9wZQ== {}", sign(&key, id, at, body));
        let good = good.as_str();
        let stamp = at.to_string();
        let headers = |signature| (Some(id), Some(stamp.as_str()), signature);
        assert_eq!(
            verify(&key, headers(Some(good)), body, 300, at + 300),
            Ok(())
        );
        let header_of = |result: Result<(), Refused>| result.unwrap_err().header;
        assert_eq!(
            header_of(verify(&key, headers(Some(good)), body, 300, at + 301)),
            "webhook-timestamp"
        );
        assert_eq!(
            header_of(verify(&key, headers(Some(good)), b"{}", 300, at)),
            "webhook-signature"
        );
        assert_eq!(
            header_of(verify(&key, headers(None), body, 300, at)),
            "webhook-signature"
        );
        assert_eq!(
            header_of(verify(&key, (None, Some("1"), Some(good)), body, 300, at)),
            "webhook-id"
        );
    }
}
