//! Workers: claim due jobs, run each under a timeout, and record the outcome. Any number of
//! workers on any number of instances share the queue; `FOR UPDATE SKIP LOCKED` and the
//! lease make each job run once (or again only if its worker died before finishing it).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::bookings::service::Bookings;
use crate::config::JobSettings;
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;
use crate::jobs::Job;
use crate::jobs::queue::{self, JobRow};

#[derive(Clone)]
pub struct Worker {
    pub id: String,
    pub pool: PgPool,
    pub bookings: Bookings,
    pub wake: Arc<Notify>,
    pub mailer: Arc<crate::notify::email::Mailer>,
    pub billing: crate::billing::Billing,
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

    /// Claims one due job and runs it; returns how many ran (0 or 1). One at a time, so
    /// every job runs under a lease of its own: a job claimed in a batch would wait behind
    /// the others while its lease ran out, and another worker would run it again.
    pub async fn run_batch(&self) -> Result<usize, ApiError> {
        let (worker, lease) = (
            self.id.clone(),
            chrono::Duration::seconds(self.settings.lease_secs as i64),
        );
        let batch = run_blocking(&self.pool, move |conn| {
            Ok(queue::claim(conn, &worker, 1, lease)?)
        })
        .await?;
        for job in &batch {
            self.run_one(job).await?;
        }
        Ok(batch.len())
    }

    async fn run_one(&self, row: &JobRow) -> Result<(), ApiError> {
        let span =
            tracing::info_span!("job", job_id = row.id, kind = %row.kind, attempt = row.attempts);
        let _entered = span.enter();
        let outcome = match serde_json::from_value::<Job>(row.payload.clone()) {
            Err(error) => Outcome::Unrunnable(format!("the payload no longer parses: {error}")),
            Ok(job) => {
                let limit = Duration::from_secs(self.settings.job_timeout_secs);
                let delay = job
                    .retry_delay(row.attempts)
                    .unwrap_or_else(|| queue::backoff(row.attempts, jitter()));
                match tokio::time::timeout(limit, self.execute(&job, row)).await {
                    Ok(Ok(())) => Outcome::Done,
                    Ok(Err((error, asked))) => {
                        let asked = asked
                            .and_then(|d| chrono::Duration::from_std(d).ok())
                            .unwrap_or_default();
                        Outcome::Failed(error, delay.max(asked))
                    }
                    Err(_) => Outcome::Failed(format!("did not finish within {limit:?}"), delay),
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

    /// Runs a job; an error may carry how long the other side asked us to wait.
    async fn execute(&self, job: &Job, row: &JobRow) -> Result<(), (String, Option<Duration>)> {
        let plain = |error: String| (error, None);
        let last_attempt = row.attempts >= row.max_attempts;
        match job {
            Job::DeliverWebhook {
                provider_id,
                message_id,
                event_type,
                timestamp,
                data,
            } => {
                let message = crate::notify::webhooks::Message {
                    provider_id: *provider_id,
                    message_id,
                    event_type,
                    timestamp: *timestamp,
                    data,
                    attempt: row.attempts,
                };
                crate::notify::webhooks::deliver(
                    &self.pool,
                    &self.bookings.searcher.clients.webhooks,
                    &message,
                )
                .await
                .map(|_| ())
                .map_err(|failed| (failed.error, failed.retry_after))
            }
            other => self.execute_plain(other, last_attempt).await.map_err(plain),
        }
    }

    async fn execute_plain(&self, job: &Job, last_attempt: bool) -> Result<(), String> {
        match job {
            Job::ExpireHolds => self
                .bookings
                .expire_due()
                .await
                .map(|_| ())
                .map_err(describe),
            Job::CompletePastBookings => self
                .bookings
                .complete_past()
                .await
                .map(|_| ())
                .map_err(describe),
            Job::SendReminders => self
                .bookings
                .enqueue_reminders()
                .await
                .map(|_| ())
                .map_err(describe),
            Job::FlagUnacknowledged => self
                .bookings
                .flag_unacknowledged(self.bookings.ack_deadline)
                .await
                .map(|_| ())
                .map_err(describe),
            Job::ConfirmBooking { booking_id } => {
                let confirmed = self
                    .bookings
                    .confirm_with_provider(*booking_id)
                    .await
                    .map_err(describe);
                match confirmed {
                    Err(error) if last_attempt => {
                        // Out of chances: the booking fails (and is refunded) rather than wait forever.
                        self.bookings
                            .fail_unconfirmed(*booking_id, &error)
                            .await
                            .map_err(describe)?;
                        Err(error)
                    }
                    other => other,
                }
            }
            Job::CancelAtProvider { booking_id } => self
                .bookings
                .cancel_at_provider(*booking_id, last_attempt)
                .await
                .map_err(|e| e.to_string()),
            Job::PurgeIdempotencyKeys => run_blocking(&self.pool, |conn| {
                Ok(crate::idempotency::purge_older_than(
                    conn,
                    chrono::Duration::hours(24),
                )?)
            })
            .await
            .map(|_| ())
            .map_err(|e| e.describe()),
            Job::DeliverWebhook { .. } => Err("delivered elsewhere".into()),
            Job::RenewSubscriptions => self.billing.renew_due(chrono::Utc::now()).await.map(|_| ()),
            Job::ReconcilePayments => self.billing.reconcile_processing().await.map(|_| ()),
            Job::ExecuteRefund { refund_id } => self.billing.execute_refund(*refund_id).await,
            Job::SendSubscriptionEmail {
                subscription_id,
                event,
                payment_id,
            } => {
                crate::notify::billing_mail::send_subscription_email(
                    &self.pool,
                    &self.mailer,
                    *subscription_id,
                    *event,
                    *payment_id,
                )
                .await
            }
            Job::SendInvoiceEmail { invoice_id } => {
                crate::notify::billing_mail::send_invoice_email(
                    &self.pool,
                    &self.mailer,
                    *invoice_id,
                )
                .await
            }
            Job::SendBookingEmail { booking_id, event } => {
                crate::notify::email::send_booking_email(
                    &self.pool,
                    &self.mailer,
                    *booking_id,
                    *event,
                )
                .await
            }
        }
    }

    /// Runs until the process stops: drains the queue, then sleeps until woken by a local
    /// enqueue or the poll interval (which also picks up other instances' jobs).
    pub async fn run(self) {
        let poll = Duration::from_millis(self.settings.poll_ms);
        loop {
            match self.run_batch().await {
                Ok(0) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
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

fn describe(error: ApiError) -> String {
    error.describe()
}

/// A number in [0, 1) for retry jitter.
fn jitter() -> f64 {
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    f64::from(u16::from_le_bytes(byte)) / 65536.0
}

/// Starts `count` workers named after this process.
pub fn spawn_workers(template: &Worker, count: usize) {
    for n in 0..count {
        let mut worker = template.clone();
        worker.id = format!("{}-{n}", template.id);
        tokio::spawn(worker.run());
    }
}
