//! Follow-up work as data: the job payloads (`Job`) and the queue in PostgreSQL (`queue`),
//! which any capability enqueues to in its own transaction. Nothing here runs a job: the
//! worker (`crate::worker`) claims them and hands each kind to the capability that does it.
//! Every job is safe to run twice: a job may be retried after a crash or a lost lease.

pub mod queue;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A unit of work, stored as JSON in `jobs.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Job {
    /// Sweep: held bookings past `hold_expires_at` become `expired` and give back their inventory.
    ExpireHolds,
    /// Hand a `pending` booking to its provider; after the last attempt it becomes `failed`.
    ConfirmBooking { booking_id: Uuid },
    /// Sweep: confirmed bookings that have ended become `completed`.
    CompletePastBookings,
    /// Sweep: confirmed bookings starting within a day get their reminder email (once).
    SendReminders,
    /// Sweep: bookings a provider has not answered in time are flagged for an agent.
    FlagUnacknowledged,
    /// Sweep: records past their retention are deleted (`worker::retention`).
    PurgeExpired,
    /// Email the customer about a booking event (rendered when sent, in their language).
    SendBookingEmail {
        booking_id: Uuid,
        event: BookingEmail,
    },
    /// Cancel an ended booking's copy at its outside provider (CalDAV event, FHIR
    /// appointment); after the last attempt the booking is flagged for an agent.
    CancelAtProvider { booking_id: Uuid },
    /// Finish a change at its outside provider: once applied, move the booking's copy onto
    /// what the change claimed and give back the old; once failed, give back what it claimed.
    SettleChangeAtProvider { change_id: Uuid },
    /// Settle a hold whose booking at its outside provider got no answer: ask the provider
    /// by our reference, then keep what it holds or give it back and end the booking; after
    /// the last attempt the booking is flagged for an agent.
    ReconcileProvider { booking_id: Uuid },
    /// Sweep: subscriptions due for renewal or a dunning retry are charged (or ended).
    RenewSubscriptions,
    /// Sweep: payments left `processing` by a crash or a timeout are settled.
    ReconcilePayments,
    /// Refund a decided refund through the gateway, then write its credit note.
    ExecuteRefund { refund_id: Uuid },
    /// Email the customer about their subscription (started, renewed, declined, ended).
    SendSubscriptionEmail {
        subscription_id: Uuid,
        event: SubscriptionEmail,
        payment_id: Option<Uuid>,
    },
    /// Email an invoice or credit note with its printable page attached.
    SendInvoiceEmail { invoice_id: Uuid },
    /// Report an invoice or credit note to ZATCA (phase 2, within 24 hours of issue).
    ReportInvoice { invoice_id: Uuid },
    /// Email an account's link (verify the address, reset the password), rendered when
    /// sent in the account's language; nothing once the link is used or expired.
    SendAccountEmail { link_id: Uuid },
    /// Someone asked to reset the password of `email`: if an active account has it, make
    /// the reset link `link_id` and queue its mail. Queued whatever the email, so the request
    /// does the same work for an unknown address as for a known one.
    StartPasswordReset { email: String, link_id: Uuid },
    /// Queue the booking's text about `event` (confirmation, reminder) to its customer's
    /// phone, rendered in their language, if they opted in.
    SendBookingSms {
        booking_id: Uuid,
        event: BookingEmail,
    },
    /// Send one queued text (`sms_messages`) through the SMS gateway.
    SendSms { message_id: Uuid },
    /// Inventory of our unit `unit_id` was given back (or opened): offer it to the first
    /// waiters in line whose request now fits, each a hold of their own (`bookings::waitlist`).
    OfferWaitlist { unit_id: Uuid },
    /// Text and email a phone client the link an agent sent them (consent or pay), rendered
    /// in their language; nothing once the link is used, replaced or its hold over.
    SendClientLink { link_id: Uuid },
    /// Deliver one signed webhook to a provider (the same `message_id` on every retry).
    DeliverWebhook {
        provider_id: Uuid,
        message_id: String,
        event_type: String,
        timestamp: chrono::DateTime<chrono::Utc>,
        data: serde_json::Value,
    },
    /// A part of package `package_id` was ended by its provider's side: cancel the other
    /// part with everything refunded, or flag the package for an agent (`packages::saga`).
    SettlePackage { package_id: Uuid },
}

impl Job {
    /// Every kind, for gauges that report zero rather than vanish (a test keeps it whole).
    pub const KINDS: [&'static str; 24] = [
        "expire_holds",
        "confirm_booking",
        "complete_past_bookings",
        "send_reminders",
        "flag_unacknowledged",
        "purge_expired",
        "deliver_webhook",
        "send_booking_email",
        "cancel_at_provider",
        "settle_change_at_provider",
        "reconcile_provider",
        "renew_subscriptions",
        "reconcile_payments",
        "execute_refund",
        "send_subscription_email",
        "send_invoice_email",
        "report_invoice",
        "send_account_email",
        "start_password_reset",
        "send_booking_sms",
        "send_sms",
        "settle_package",
        "offer_waitlist",
        "send_client_link",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            Job::ExpireHolds => "expire_holds",
            Job::ConfirmBooking { .. } => "confirm_booking",
            Job::CompletePastBookings => "complete_past_bookings",
            Job::SendReminders => "send_reminders",
            Job::FlagUnacknowledged => "flag_unacknowledged",
            Job::PurgeExpired => "purge_expired",
            Job::DeliverWebhook { .. } => "deliver_webhook",
            Job::SendBookingEmail { .. } => "send_booking_email",
            Job::CancelAtProvider { .. } => "cancel_at_provider",
            Job::SettleChangeAtProvider { .. } => "settle_change_at_provider",
            Job::ReconcileProvider { .. } => "reconcile_provider",
            Job::RenewSubscriptions => "renew_subscriptions",
            Job::ReconcilePayments => "reconcile_payments",
            Job::ExecuteRefund { .. } => "execute_refund",
            Job::SendSubscriptionEmail { .. } => "send_subscription_email",
            Job::SendInvoiceEmail { .. } => "send_invoice_email",
            Job::ReportInvoice { .. } => "report_invoice",
            Job::SendAccountEmail { .. } => "send_account_email",
            Job::StartPasswordReset { .. } => "start_password_reset",
            Job::SendBookingSms { .. } => "send_booking_sms",
            Job::SendSms { .. } => "send_sms",
            Job::SettlePackage { .. } => "settle_package",
            Job::OfferWaitlist { .. } => "offer_waitlist",
            Job::SendClientLink { .. } => "send_client_link",
        }
    }

    /// Sweeps run again on the next tick anyway; a provider confirmation gets more chances.
    pub fn max_attempts(&self) -> i32 {
        match self {
            Job::ConfirmBooking { .. }
            | Job::CancelAtProvider { .. }
            | Job::SettleChangeAtProvider { .. }
            | Job::ReconcileProvider { .. } => 6,
            // Money owed back: keep asking the gateway for about a day before a person looks.
            Job::ExecuteRefund { .. } => 10,
            // ZATCA wants a simplified invoice within 24 hours: backoff doubles up to an hour,
            // so 30 attempts keep trying for about 20 hours before an admin is needed.
            Job::ReportInvoice { .. } => 30,
            Job::DeliverWebhook { .. } => 1 + WEBHOOK_RETRIES.len() as i32,
            // A text minutes late is still of use, a day late is not: backoff doubles, so 10
            // attempts ride out about 17 minutes of a gateway being down, then it is `failed`.
            Job::SendSms { .. } => 10,
            _ => 3,
        }
    }

    /// The wait before the next attempt, when this kind has its own schedule.
    pub fn retry_delay(&self, attempts: i32) -> Option<chrono::Duration> {
        match self {
            Job::DeliverWebhook { .. } => {
                let index = usize::try_from(attempts - 1)
                    .unwrap_or(0)
                    .min(WEBHOOK_RETRIES.len() - 1);
                Some(chrono::Duration::seconds(WEBHOOK_RETRIES[index]))
            }
            _ => None,
        }
    }
}

/// Which booking email to send, named in the job so it is rendered when sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingEmail {
    Held,
    Confirmed,
    Cancelled,
    Expired,
    Failed,
    /// A day before the stay or appointment.
    Reminder,
    /// Its dates, room or service changed (sent once per change).
    Changed,
    /// Marked a no-show: what the provider keeps and what comes back.
    NoShow,
    /// Staff waived a no-show's fee.
    NoShowWaived,
    /// A waitlist offer: the freed rooms or slot are held for them until they pay or it lapses.
    WaitlistOffer,
}

impl BookingEmail {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Reminder => "reminder",
            Self::Changed => "changed",
            Self::NoShow => "no-show",
            Self::NoShowWaived => "no-show-waived",
            Self::WaitlistOffer => "waitlist-offer",
        }
    }
}

/// Which subscription email to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionEmail {
    Started,
    Renewed,
    PaymentFailed,
    Canceled,
}

impl SubscriptionEmail {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Renewed => "renewed",
            Self::PaymentFailed => "payment-failed",
            Self::Canceled => "canceled",
        }
    }
}

/// Webhook retries (seconds): about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h.
const WEBHOOK_RETRIES: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 86_400];

#[cfg(test)]
mod schedule_tests {
    use super::Job;

    #[test]
    fn webhooks_retry_on_their_own_schedule() {
        let job = Job::DeliverWebhook {
            provider_id: uuid::Uuid::new_v4(),
            message_id: "msg_1".into(),
            event_type: "booking.confirmed".into(),
            timestamp: chrono::Utc::now(),
            data: serde_json::json!({}),
        };
        let waits: Vec<i64> = (1..=8)
            .map(|a| job.retry_delay(a).unwrap().num_seconds())
            .collect();
        assert_eq!(waits, [5, 300, 1800, 7200, 18_000, 36_000, 86_400, 86_400]);
        assert_eq!(job.max_attempts(), 8);
        assert!(Job::ExpireHolds.retry_delay(1).is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::Job;

    #[test]
    fn every_kind_is_listed() {
        let id = uuid::Uuid::new_v4();
        let every = [
            Job::ExpireHolds,
            Job::ConfirmBooking { booking_id: id },
            Job::CompletePastBookings,
            Job::SendReminders,
            Job::FlagUnacknowledged,
            Job::PurgeExpired,
            Job::SendBookingEmail {
                booking_id: id,
                event: super::BookingEmail::Held,
            },
            Job::CancelAtProvider { booking_id: id },
            Job::SettleChangeAtProvider { change_id: id },
            Job::ReconcileProvider { booking_id: id },
            Job::RenewSubscriptions,
            Job::ReconcilePayments,
            Job::ExecuteRefund { refund_id: id },
            Job::SendSubscriptionEmail {
                subscription_id: id,
                event: super::SubscriptionEmail::Started,
                payment_id: None,
            },
            Job::SendInvoiceEmail { invoice_id: id },
            Job::ReportInvoice { invoice_id: id },
            Job::SendAccountEmail { link_id: id },
            Job::StartPasswordReset {
                email: "a@example.com".into(),
                link_id: id,
            },
            Job::SendBookingSms {
                booking_id: id,
                event: super::BookingEmail::Confirmed,
            },
            Job::SendSms { message_id: id },
            Job::OfferWaitlist { unit_id: id },
            Job::SettlePackage { package_id: id },
            Job::SendClientLink { link_id: id },
            Job::DeliverWebhook {
                provider_id: id,
                message_id: "msg_1".into(),
                event_type: "booking.confirmed".into(),
                timestamp: chrono::Utc::now(),
                data: serde_json::json!({}),
            },
        ];
        let mut kinds: Vec<&str> = every.iter().map(Job::kind).collect();
        kinds.sort_unstable();
        let mut listed = Job::KINDS.to_vec();
        listed.sort_unstable();
        assert_eq!(kinds, listed);
    }

    #[test]
    fn jobs_round_trip_through_their_json() {
        let job = Job::ConfirmBooking {
            booking_id: uuid::Uuid::new_v4(),
        };
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["kind"], job.kind());
        assert_eq!(serde_json::from_value::<Job>(json).unwrap(), job);
        assert!(
            serde_json::from_value::<Job>(serde_json::json!({ "kind": "launch_rockets" })).is_err()
        );
    }
}
