//! Cron entries (tokio-cron-scheduler, expressions from `[jobs]` in the config) that only
//! enqueue. Every instance runs the same schedule; the dedup key (job kind + the minute of
//! the tick) lets exactly one copy of each tick into the queue.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_cron_scheduler::{Job as CronJob, JobScheduler};

use crate::config::Settings;
use crate::db::{PgPool, run_blocking};
use crate::jobs::Job;
use crate::jobs::queue;

/// Enqueues one tick of a sweep; returns whether this instance's copy was the one kept.
pub async fn enqueue_tick(pool: &PgPool, job: Job) -> Result<bool, crate::error::ApiError> {
    let key = format!("{}:{}", job.kind(), Utc::now().format("%Y%m%dT%H%M"));
    run_blocking(pool, move |conn| {
        Ok(queue::enqueue(conn, &job, Some(&key), Utc::now())?)
    })
    .await
}

/// Every sweep and when it runs. Each `Job` that works on "whatever is due" is here; the
/// test below fails if one is added without a schedule.
pub fn entries(settings: &Settings) -> Vec<(String, Job)> {
    let jobs = &settings.jobs;
    vec![
        (jobs.expire_holds_cron.clone(), Job::ExpireHolds),
        // Payments a crash left unsettled are looked at as often as holds expire.
        (jobs.expire_holds_cron.clone(), Job::ReconcilePayments),
        (
            jobs.complete_bookings_cron.clone(),
            Job::CompletePastBookings,
        ),
        (jobs.purge_cron.clone(), Job::PurgeExpired),
        (jobs.reminders_cron.clone(), Job::SendReminders),
        (
            jobs.flag_unacknowledged_cron.clone(),
            Job::FlagUnacknowledged,
        ),
        (
            settings.payments.renewals_cron.clone(),
            Job::RenewSubscriptions,
        ),
    ]
}

pub async fn start(
    pool: PgPool,
    settings: &Settings,
    wake: Arc<Notify>,
) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    let entries = entries(settings);
    for (cron, job) in entries {
        let (pool, wake) = (pool.clone(), wake.clone());
        let entry = CronJob::new_async(cron.as_str(), move |_, _| {
            let (pool, wake, job) = (pool.clone(), wake.clone(), job.clone());
            Box::pin(async move {
                match enqueue_tick(&pool, job).await {
                    Ok(_) => wake.notify_waiters(),
                    Err(error) => tracing::warn!(%error, "could not enqueue a scheduled job"),
                }
            })
        })
        .map_err(|e| anyhow::anyhow!("jobs schedule `{cron}`: {e}"))?;
        scheduler.add(entry).await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sweep_is_scheduled() {
        let settings = crate::config::Settings::load_from(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            crate::config::Environment::Test,
            [("WASIT__AUTH__JWT_SECRET".to_owned(), "x".repeat(64))]
                .into_iter()
                .collect(),
        )
        .expect("test settings");
        let mut scheduled: Vec<&str> = entries(&settings).iter().map(|(_, j)| j.kind()).collect();
        scheduled.sort_unstable();
        // The jobs that take no argument are the sweeps.
        let mut sweeps: Vec<&str> = [
            Job::ExpireHolds,
            Job::ReconcilePayments,
            Job::CompletePastBookings,
            Job::PurgeExpired,
            Job::SendReminders,
            Job::FlagUnacknowledged,
            Job::RenewSubscriptions,
        ]
        .iter()
        .map(Job::kind)
        .collect();
        sweeps.sort_unstable();
        assert_eq!(scheduled, sweeps);
    }
}
