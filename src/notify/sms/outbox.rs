//! The one way a text leaves: [`queue`] writes its `sms_messages` row (once per dedup key)
//! and the `send_sms` job in the caller's transaction; the job ([`send`]) hands it to the
//! gateway; receipts ([`apply_receipt`]) say whether it arrived. Consent is asked at both
//! ends, so an opt-out between queueing and sending still stops the message.

use chrono::Utc;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::consent::{self, Standing};
use super::gateway::{OutgoingSms, SmsError, SmsGateway};
use super::segments;
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;
use crate::jobs::{Job, queue as jobs};
use crate::schema::sms_messages;

/// A message's life: `queued` until the gateway takes it (`sent`) or refuses it for good
/// (`failed`), then what a receipt says; `skipped_*` were never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsStatus {
    Queued,
    Sent,
    Delivered,
    Failed,
    Undelivered,
    SkippedOptedOut,
    SkippedNoConsent,
}

impl SmsStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Undelivered => "undelivered",
            Self::SkippedOptedOut => "skipped_opted_out",
            Self::SkippedNoConsent => "skipped_no_consent",
        }
    }

    /// Why a customer who may not be texted gets nothing.
    fn skipped(standing: Standing) -> Option<Self> {
        match standing {
            Standing::OptedIn => None,
            Standing::OptedOut => Some(Self::SkippedOptedOut),
            Standing::NeverAsked => Some(Self::SkippedNoConsent),
        }
    }
}

/// A text to queue.
pub struct NewSms<'a> {
    pub customer_id: Uuid,
    /// E.164.
    pub to: &'a str,
    pub body: &'a str,
    /// What it is for: `booking_confirmed`, `booking_reminder`, …
    pub purpose: &'a str,
    /// One message per key: `{purpose}:{what it is about}`.
    pub dedup_key: &'a str,
}

/// Queues a text in the caller's transaction, once per dedup key; to a customer who may not
/// be texted it is written as skipped, with why, and nothing is sent. Returns the new id.
pub fn queue(conn: &mut PgConnection, new: &NewSms<'_>) -> QueryResult<Option<Uuid>> {
    let status =
        SmsStatus::skipped(consent::standing(conn, new.customer_id)?).unwrap_or(SmsStatus::Queued);
    let counted = segments::count(new.body);
    let id: Option<Uuid> = diesel::insert_into(sms_messages::table)
        .values((
            sms_messages::id.eq(Uuid::new_v4()),
            sms_messages::customer_id.eq(new.customer_id),
            sms_messages::to_phone.eq(new.to),
            sms_messages::body.eq(new.body),
            sms_messages::purpose.eq(new.purpose),
            sms_messages::encoding.eq(counted.encoding.as_str()),
            sms_messages::segments.eq(i32::try_from(counted.parts).unwrap_or(i32::MAX)),
            sms_messages::status.eq(status.as_str()),
            sms_messages::dedup_key.eq(new.dedup_key),
        ))
        .on_conflict(sms_messages::dedup_key)
        .do_nothing()
        .returning(sms_messages::id)
        .get_result(conn)
        .optional()?;
    if let Some(message_id) = id.filter(|_| status == SmsStatus::Queued) {
        let key = format!("sms:{message_id}");
        jobs::enqueue(conn, &Job::SendSms { message_id }, Some(&key), Utc::now())?;
    }
    Ok(id)
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sms_messages, check_for_backend(diesel::pg::Pg))]
struct Pending {
    customer_id: Uuid,
    to_phone: String,
    body: String,
    status: String,
    provider_message_id: Option<String>,
}

/// Why a `send_sms` run must be retried.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{}", .0.describe())]
    Database(#[from] ApiError),
    #[error(transparent)]
    Gateway(#[from] SmsError),
}

/// Job: sends a queued message. Safe to run twice: only a `queued` message is sent, and its
/// id goes to the gateway as the correlation id a duplicate can be recognised by. A refusal
/// is `failed` and the job done; an unavailable gateway is retried, and after the last
/// attempt the text is `failed` and the job dead, so a person can retry it (`POST
/// /v1/admin/jobs/{id}/retry`): a run finding a text the gateway never accepted `failed`
/// queues it again first.
pub async fn send(
    pool: &PgPool,
    gateway: &dyn SmsGateway,
    message_id: Uuid,
    last_attempt: bool,
) -> Result<(), SendError> {
    let pending = run_blocking(pool, move |conn| {
        let pending: Pending = sms_messages::table
            .find(message_id)
            .select(Pending::as_select())
            .first(conn)?;
        let never_accepted =
            pending.status == SmsStatus::Failed.as_str() && pending.provider_message_id.is_none();
        if never_accepted {
            requeue(conn, message_id)?;
        } else if pending.status != SmsStatus::Queued.as_str() {
            return Ok(None);
        }
        if let Some(skipped) = SmsStatus::skipped(consent::standing(conn, pending.customer_id)?) {
            set_status(conn, message_id, skipped, None)?;
            tracing::info!(%message_id, status = skipped.as_str(), "text not sent");
            return Ok(None);
        }
        Ok(Some(pending))
    })
    .await?;
    let Some(pending) = pending else {
        return Ok(());
    };
    let outgoing = OutgoingSms {
        id: message_id,
        to: &pending.to_phone,
        body: &pending.body,
    };
    match gateway.send(&outgoing).await {
        Ok(provider_id) => {
            run_blocking(pool, move |conn| {
                Ok(record_sent(conn, message_id, &provider_id)?)
            })
            .await?
        }
        Err(error @ SmsError::Unavailable(_)) if !last_attempt => return Err(error.into()),
        Err(error) => {
            let reason = error.to_string();
            tracing::warn!(%message_id, %reason, "text failed");
            run_blocking(pool, move |conn| {
                Ok(set_status(
                    conn,
                    message_id,
                    SmsStatus::Failed,
                    Some(&reason),
                )?)
            })
            .await?;
            if matches!(error, SmsError::Unavailable(_)) {
                // Out of attempts: the job goes dead, for a person to retry.
                return Err(error.into());
            }
        }
    }
    Ok(())
}

/// A text the gateway never accepted, `queued` again for another try.
fn requeue(conn: &mut PgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(
        sms_messages::table
            .find(id)
            .filter(sms_messages::status.eq(SmsStatus::Failed.as_str()))
            .filter(sms_messages::provider_message_id.is_null()),
    )
    .set((
        sms_messages::status.eq(SmsStatus::Queued.as_str()),
        sms_messages::error.eq(None::<String>),
        sms_messages::status_at.eq(Utc::now()),
    ))
    .execute(conn)
    .map(drop)
}

/// A queued message leaves that state once (a receipt may have overtaken the send).
fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: SmsStatus,
    error: Option<&str>,
) -> QueryResult<()> {
    diesel::update(
        sms_messages::table
            .find(id)
            .filter(sms_messages::status.eq(SmsStatus::Queued.as_str())),
    )
    .set((
        sms_messages::status.eq(status.as_str()),
        sms_messages::error.eq(error),
        sms_messages::status_at.eq(Utc::now()),
    ))
    .execute(conn)
    .map(drop)
}

fn record_sent(conn: &mut PgConnection, id: Uuid, provider_id: &str) -> QueryResult<()> {
    diesel::update(sms_messages::table.find(id))
        .set((
            sms_messages::provider_message_id.eq(provider_id),
            sms_messages::sent_at.eq(Utc::now()),
        ))
        .execute(conn)?;
    set_status(conn, id, SmsStatus::Sent, None)
}

/// A delivery receipt, as the gateway (or the relay in front of it) posts it, signed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The gateway's message id (what the send answered).
    pub message_id: Option<String>,
    /// Ours, when the gateway echoes the `CorrelationID` it was sent.
    pub correlation_id: Option<Uuid>,
    pub status: ReceiptStatus,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Delivered,
    Undelivered,
    Failed,
}

/// What a receipt did to its message.
#[derive(Debug, Serialize)]
pub struct ReceiptApplied {
    pub id: Uuid,
    /// The message's status now.
    pub status: String,
    /// False when the message had its final status already (a repeated or late receipt).
    pub changed: bool,
}

/// Applies a receipt once: a message still `queued` or `sent` takes its status; a final
/// status stays (the first receipt wins, a repeat changes nothing). 404 for no such message.
pub fn apply_receipt(
    conn: &mut PgConnection,
    receipt: &Receipt,
) -> Result<ReceiptApplied, ApiError> {
    let id: Uuid = match (receipt.correlation_id, &receipt.message_id) {
        (Some(ours), _) => ours,
        (None, Some(theirs)) => sms_messages::table
            .filter(sms_messages::provider_message_id.eq(theirs))
            .select(sms_messages::id)
            .first(conn)?,
        (None, None) => {
            return Err(ApiError::Validation(vec![crate::error::FieldError::new(
                "message_id",
                "message_id or correlation_id is required",
            )]));
        }
    };
    let status = match receipt.status {
        ReceiptStatus::Delivered => SmsStatus::Delivered,
        ReceiptStatus::Undelivered => SmsStatus::Undelivered,
        ReceiptStatus::Failed => SmsStatus::Failed,
    };
    let changed = diesel::update(sms_messages::table.find(id).filter(
        sms_messages::status.eq_any([SmsStatus::Queued.as_str(), SmsStatus::Sent.as_str()]),
    ))
    .set((
        sms_messages::status.eq(status.as_str()),
        sms_messages::error.eq(receipt.error.as_deref()),
        sms_messages::status_at.eq(Utc::now()),
    ))
    .execute(conn)?
        == 1;
    let now: String = sms_messages::table
        .find(id)
        .select(sms_messages::status)
        .first(conn)?;
    Ok(ReceiptApplied {
        id,
        status: now,
        changed,
    })
}
