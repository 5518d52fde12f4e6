//! Workers: claim due jobs, run each under a timeout, and record the outcome. Any number of
//! workers on any number of instances share the queue; `FOR UPDATE SKIP LOCKED` and the
//! lease make each job run once (or again only if its worker died before finishing it).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::bookings::service::Bookings;
use crate::bookings::system::BookingJobError;
use crate::config::JobSettings;
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;
use crate::jobs::Job;
use crate::jobs::queue::{self, JobRow};
use crate::notify::email::{self, MailError};
use crate::notify::{account_mail, billing_mail, sms, webhooks};
use tracing::Instrument;

#[derive(Clone)]
pub struct Worker {
    pub id: String,
    pub pool: PgPool,
    pub bookings: Bookings,
    /// A package's saga (`settle_package`).
    pub packages: crate::packages::service::Packages,
    pub wake: Arc<Notify>,
    pub mailer: Arc<crate::notify::email::Mailer>,
    /// The SMS channel's gateway.
    pub sms: Arc<crate::notify::sms::Sms>,
    pub billing: crate::billing::Billing,
    /// Makes password-reset links and derives every emailed link's token.
    pub auth: Arc<crate::auth::AuthConfig>,
    pub settings: JobSettings,
}

/// How one run of a job ended.
enum Outcome {
    Done,
    /// Try again after the delay (the job's schedule, or what the other side asked for).
    Failed(String, chrono::Duration),
    /// Can never succeed: park it now.
    Unrunnable(String),
}

impl Worker {
    /// Runs every due job it can claim, in batches, until none is left; returns how many ran.
    pub async fn drain(&self) -> Result<usize, ApiError> {
        let mut total = 0;
        loop {
            let ran = self.run_batch().await?;
            if ran == 0 {
                return Ok(total);
            }
            total += ran;
        }
    }

    /// Claims up to `jobs.concurrency` due jobs in one statement and runs them side by side,
    /// waiting for all of them; returns how many ran. Each runs at once under its own timeout, shorter than the lease
    /// (the config checks it), so none waits behind another while its lease runs out and
    /// another worker takes it.
    pub async fn run_batch(&self) -> Result<usize, ApiError> {
        let (worker, lease, limit) = (
            self.id.clone(),
            chrono::Duration::seconds(self.settings.lease_secs as i64),
            i64::try_from(self.settings.concurrency).unwrap_or(1),
        );
        let batch = run_blocking(&self.pool, move |conn| {
            Ok(queue::claim(conn, &worker, limit, lease)?)
        })
        .await?;
        // A task each, so the runtime spreads them over its threads: one job's CPU work (an
        // email's rendering) does not hold up another's delivery.
        let count = batch.len();
        let mut running = tokio::task::JoinSet::new();
        for job in batch {
            let worker = self.clone();
            running.spawn(async move { worker.run_one(&job).await });
        }
        let mut outcome = Ok(());
        while let Some(ran) = running.join_next().await {
            if let Err(error) = ran.map_err(ApiError::internal).and_then(|ran| ran) {
                outcome = outcome.and(Err(error));
            }
        }
        outcome.map(|()| count)
    }

    async fn run_one(&self, row: &JobRow) -> Result<(), ApiError> {
        let span =
            tracing::info_span!("job", job_id = row.id, kind = %row.kind, attempt = row.attempts);
        // The span follows the job across its awaits (an entered guard would not).
        self.run_in_span(row).instrument(span).await
    }

    async fn run_in_span(&self, row: &JobRow) -> Result<(), ApiError> {
        let outcome = match serde_json::from_value::<Job>(row.payload.clone()) {
            Err(error) => Outcome::Unrunnable(format!("the payload no longer parses: {error}")),
            Ok(job) => {
                let limit = Duration::from_secs(self.settings.job_timeout_secs);
                let delay = job
                    .retry_delay(row.attempts)
                    .unwrap_or_else(|| queue::backoff(row.attempts, jitter()));
                let ran = tokio::time::timeout(limit, self.execute(&job, row))
                    .await
                    .unwrap_or(Err(JobError::TimedOut(limit)));
                match ran {
                    Ok(()) => Outcome::Done,
                    Err(error) => {
                        let asked = error
                            .retry_after()
                            .and_then(|d| chrono::Duration::from_std(d).ok())
                            .unwrap_or_default();
                        Outcome::Failed(error.to_string(), delay.max(asked))
                    }
                }
            }
        };
        let (row, worker) = (row.clone(), self.id.clone());
        match outcome {
            Outcome::Done => {
                self.record(move |conn| Ok(queue::complete(conn, row.id, &worker)?))
                    .await?;
            }
            Outcome::Failed(error, delay) => {
                tracing::warn!(%error, "job failed");
                let dead = self
                    .record(move |conn| Ok(queue::fail(conn, &row, &worker, &error, delay)?))
                    .await?;
                if dead {
                    tracing::error!("job is dead after its last attempt");
                }
            }
            Outcome::Unrunnable(error) => {
                tracing::error!(%error, "job parked as dead");
                self.record(move |conn| Ok(queue::bury(conn, &row, &worker, &error)?))
                    .await?;
            }
        }
        Ok(())
    }

    /// Writes a job's outcome, trying again while the database is unavailable (for up to half
    /// the lease): a job that ran just before an outage is recorded when the database is back,
    /// not left to its lease, and neither are the jobs claimed with it.
    async fn record<T, F>(&self, write: F) -> Result<T, ApiError>
    where
        F: Fn(&mut diesel::PgConnection) -> Result<T, ApiError> + Clone + Send + 'static,
        T: Send + 'static,
    {
        let give_up = std::time::Instant::now() + Duration::from_secs(self.settings.lease_secs / 2);
        loop {
            match run_blocking(&self.pool, write.clone()).await {
                Err(ApiError::Unavailable(error)) if std::time::Instant::now() < give_up => {
                    tracing::warn!(%error, "could not record a job's outcome; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(self.settings.poll_ms)).await;
                }
                result => return result,
            }
        }
    }

    /// Runs a job: the one registry of job kinds, each handed to the capability that does it.
    /// Long because it is one arm per kind, and each arm only calls.
    async fn execute(&self, job: &Job, row: &JobRow) -> Result<(), JobError> {
        let last_attempt = row.attempts >= row.max_attempts;
        match job {
            Job::ExpireHolds => self.bookings.expire_due().await.map(drop)?,
            Job::CompletePastBookings => self.bookings.complete_past().await.map(drop)?,
            Job::SendReminders => self.bookings.enqueue_reminders().await.map(drop)?,
            Job::FlagUnacknowledged => self
                .bookings
                .flag_unacknowledged(self.bookings.ack_deadline)
                .await
                .map(drop)?,
            Job::ConfirmBooking { booking_id } => {
                if let Err(error) = self.bookings.confirm_with_provider(*booking_id).await {
                    if last_attempt {
                        // Out of chances: the booking fails (and is refunded) rather than wait.
                        self.bookings
                            .fail_unconfirmed(*booking_id, &error.describe())
                            .await?;
                    }
                    return Err(error.into());
                }
            }
            Job::CancelAtProvider { booking_id } => {
                self.bookings
                    .cancel_at_provider(*booking_id, last_attempt)
                    .await?
            }
            Job::ReconcileProvider { booking_id } => {
                self.bookings
                    .reconcile_provider(*booking_id, last_attempt)
                    .await?
            }
            Job::SettlePackage { package_id } => self.packages.settle(*package_id).await?,
            Job::SettleChangeAtProvider { change_id } => {
                self.bookings.settle_change_at_provider(*change_id).await?
            }
            Job::PurgeExpired => {
                let keep = self.settings.retention.clone();
                let purged = run_blocking(&self.pool, move |conn| {
                    Ok(super::retention::purge_expired(conn, &keep)?)
                })
                .await?;
                tracing::info!(?purged, "purged expired records");
            }
            Job::RenewSubscriptions => {
                self.billing.renew_due(chrono::Utc::now()).await.map(drop)?
            }
            Job::ReconcilePayments => self.billing.reconcile_processing().await.map(drop)?,
            Job::ExecuteRefund { refund_id } => self.billing.execute_refund(*refund_id).await?,
            Job::SendSubscriptionEmail {
                subscription_id,
                event,
                payment_id,
            } => {
                billing_mail::send_subscription_email(
                    &self.pool,
                    &self.mailer,
                    *subscription_id,
                    *event,
                    *payment_id,
                )
                .await?
            }
            Job::ReportInvoice { invoice_id } => self.billing.report_invoice(*invoice_id).await?,
            Job::SendInvoiceEmail { invoice_id } => {
                billing_mail::send_invoice_email(&self.pool, &self.mailer, *invoice_id).await?
            }
            Job::SendBookingEmail { booking_id, event } => {
                email::send_booking_email(&self.pool, &self.mailer, *booking_id, *event).await?
            }
            Job::SendBookingSms { booking_id, event } => {
                sms::booking::queue_booking_sms(
                    &self.pool,
                    self.mailer.site_url(),
                    *booking_id,
                    *event,
                )
                .await?
            }
            Job::SendSms { message_id } => {
                sms::outbox::send(
                    &self.pool,
                    self.sms.gateway.as_ref(),
                    *message_id,
                    last_attempt,
                )
                .await?
            }
            Job::SendClientLink { link_id } => {
                crate::notify::client_links::send_client_link(
                    &self.pool,
                    &self.mailer,
                    &self.bookings.client_links.keys,
                    *link_id,
                )
                .await?
            }
            Job::SendAccountEmail { link_id } => {
                account_mail::send_account_email(
                    &self.pool,
                    &self.mailer,
                    &self.auth.links,
                    *link_id,
                )
                .await?
            }
            Job::StartPasswordReset { email, link_id } => {
                // Queues the link's mail (`SendAccountEmail`) when the account exists.
                crate::auth::accounts::start_password_reset(
                    &self.pool,
                    &self.auth,
                    email.clone(),
                    *link_id,
                )
                .await
                .map(drop)?
            }
            Job::OfferWaitlist { unit_id } => {
                self.bookings.offer_waitlist(*unit_id).await.map(drop)?
            }
            Job::DeliverWebhook {
                provider_id,
                message_id,
                event_type,
                timestamp,
                data,
            } => {
                let message = webhooks::Message {
                    provider_id: *provider_id,
                    message_id,
                    event_type,
                    timestamp: *timestamp,
                    data,
                    attempt: row.attempts,
                };
                webhooks::deliver(
                    &self.pool,
                    &self.bookings.searcher.clients.webhooks,
                    &message,
                )
                .await
                .map(drop)?
            }
        }
        Ok(())
    }

    /// Runs until the process stops: drains the queue, then sleeps until woken (by a job
    /// committed on any instance, through the listener, or by a local enqueue) or until the
    /// poll interval, the fallback while the listener is down.
    pub async fn run(self) {
        let poll = Duration::from_millis(self.settings.poll_ms);
        loop {
            // Listening before the claim: a job committed while it runs is not slept through.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.run_batch().await {
                Ok(0) => {
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep(poll) => {}
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "could not claim jobs; retrying shortly");
                    tokio::time::sleep(poll).await;
                }
            }
        }
    }
}

/// Why a job's run failed. The queue records its text (with the whole cause) and retries
/// after the job's backoff, or after what the other side asked for.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("{}", .0.describe())]
    Api(#[from] ApiError),
    #[error(transparent)]
    Booking(#[from] BookingJobError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Sms(#[from] sms::outbox::SendError),
    #[error(transparent)]
    Webhook(#[from] webhooks::Failed),
    #[error(transparent)]
    Zatca(#[from] crate::billing::invoices::zatca::report::TryAgain),
    #[error("did not finish within {0:?}")]
    TimedOut(Duration),
}

impl JobError {
    /// How long the other side asked us to wait (a webhook receiver's `Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Webhook(failed) => failed.retry_after,
            Self::Zatca(again) => again.retry_after,
            _ => None,
        }
    }
}

/// A number in [0, 1) for retry jitter.
fn jitter() -> f64 {
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    f64::from(u16::from_le_bytes(byte)) / 65536.0
}

/// Starts `count` workers named after this process, and the listener that wakes them when
/// a job commits (on `database_url`, outside the pool). Without it they would still poll.
pub fn spawn_workers(template: &Worker, count: usize, database_url: &str) {
    if count == 0 {
        return;
    }
    if let Err(error) = super::listener::spawn(database_url, &template.wake) {
        tracing::warn!(%error, "could not start the job listener; workers poll instead");
    }
    for n in 0..count {
        let mut worker = template.clone();
        worker.id = format!("{}-{n}", template.id);
        tokio::spawn(worker.run());
    }
}
