//! Text messages, the channel beside email: consent links, payment links, waitlist offers,
//! booking confirmations and reminders all go through it. A text is queued with
//! [`outbox::queue`] (its row and its `send_sms` job, in the caller's transaction), sent by
//! the job through the configured [`gateway::SmsGateway`], and followed by signed delivery
//! receipts; inbound STOP replies and the customer's profile record consent
//! ([`consent`]), which both ends of the outbox honour.

pub mod booking;
pub mod consent;
pub mod gateway;
pub mod outbox;
pub mod routes;
pub mod segments;

use secrecy::ExposeSecret;

use crate::config::SmsSettings;

/// The channel as built from `[sms]`: where texts go, and how callbacks are checked.
pub struct Sms {
    pub gateway: Box<dyn gateway::SmsGateway>,
    /// The HMAC key receipts and inbound replies are signed with; none: both routes 404.
    receipt_key: Option<Vec<u8>>,
    receipt_tolerance_secs: u64,
}

impl Sms {
    pub fn from_settings(settings: &SmsSettings) -> anyhow::Result<Self> {
        let receipt_key = match &settings.receipt_secret {
            None => None,
            Some(secret) => Some(
                crate::notify::webhooks::signing_key(secret.expose_secret()).ok_or_else(|| {
                    anyhow::anyhow!("sms.receipt_secret must be whsec_ followed by base64")
                })?,
            ),
        };
        Ok(Self {
            gateway: gateway::from_settings(settings)?,
            receipt_key,
            receipt_tolerance_secs: settings.receipt_tolerance_secs,
        })
    }
}
