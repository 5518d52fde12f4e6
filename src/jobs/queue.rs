//! The `jobs` table as a queue: enqueue inside the caller's transaction, claim with
//! `FOR UPDATE SKIP LOCKED` and a lease, finish, or retry with exponential backoff and
//! jitter until the last attempt parks the job as `dead` with its error.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::Job;
use crate::schema::jobs;

/// The channel a trigger on `jobs` NOTIFYs when a job is added (every kind but a hold's
/// "held" email: see migrations/2026-12-05-400000_jobs_wake_workers), and idle workers
/// LISTEN on (`worker::listener`).
pub const WAKE_CHANNEL: &str = "wasit_jobs";

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Serialize)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub dedup_key: Option<String>,
    pub state: String,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    #[serde(skip)]
    pub locked_until: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Adds a job in the caller's transaction, so it exists exactly when the change that
/// caused it commits. A job whose `dedup_key` is already taken is not added again.
pub fn enqueue(
    conn: &mut PgConnection,
    job: &Job,
    dedup_key: Option<&str>,
    run_at: DateTime<Utc>,
) -> QueryResult<bool> {
    let payload = serde_json::to_value(job)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let inserted = diesel::insert_into(jobs::table)
        .values((
            jobs::kind.eq(job.kind()),
            jobs::payload.eq(payload),
            jobs::dedup_key.eq(dedup_key),
            jobs::run_at.eq(run_at),
            jobs::max_attempts.eq(job.max_attempts()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted == 1)
}

/// Queues a signed webhook `event_type` with `data` for a provider, in the caller's
/// transaction, when the provider has a webhook URL that has not answered 410 Gone. The
/// message id (`msg_…`) is the job's dedup key and stays the same on every retry.
pub fn enqueue_webhook(
    conn: &mut PgConnection,
    provider_id: uuid::Uuid,
    event_type: &str,
    data: serde_json::Value,
) -> QueryResult<()> {
    use crate::schema::providers;
    let (url, disabled): (Option<String>, Option<DateTime<Utc>>) = providers::table
        .find(provider_id)
        .select((providers::webhook_url, providers::webhook_disabled_at))
        .first(conn)?;
    if url.is_none() || disabled.is_some() {
        return Ok(());
    }
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let job = Job::DeliverWebhook {
        provider_id,
        message_id: message_id.clone(),
        event_type: event_type.to_owned(),
        timestamp: Utc::now(),
        data,
    };
    enqueue(conn, &job, Some(&message_id), Utc::now()).map(|_| ())
}

/// The columns a claimed job is read back with ([`JobRow`]).
const JOB_COLUMNS: &str = "jobs.id, jobs.kind, jobs.payload, jobs.dedup_key, jobs.state, \
    jobs.run_at, jobs.attempts, jobs.max_attempts, jobs.locked_until, jobs.locked_by, \
    jobs.last_error, jobs.created_at, jobs.finished_at";

/// Claims up to `limit` due jobs for `worker`, in one statement: queued ones whose time has
/// come, and running ones whose lease ran out (their worker died). Concurrent workers skip
/// each other's rows. Job bookkeeping does not wait for a WAL flush (`synchronous_commit`
/// off for this statement's transaction): a claim lost in a crash of PostgreSQL only makes
/// the job due again, and every job is safe to run twice.
pub fn claim(
    conn: &mut PgConnection,
    worker: &str,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<JobRow>> {
    use diesel::sql_types::{BigInt, Text, Timestamptz};
    let now = Utc::now();
    diesel::sql_query(format!(
        "UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, \
                locked_until = $2, locked_by = $3 \
           FROM (SELECT set_config('synchronous_commit', 'off', true)) unflushed \
          WHERE jobs.id IN (SELECT id FROM jobs \
                             WHERE (state = 'queued' AND run_at <= $1) \
                                OR (state = 'running' AND locked_until < $1) \
                             ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
        RETURNING {JOB_COLUMNS}"
    ))
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + lease)
    .bind::<Text, _>(worker)
    .bind::<BigInt, _>(limit)
    .load(conn)
}

/// Marks a job done, if this worker still holds it. Not flushed before it returns, as a
/// claim is not: lost in a crash, the job runs once more.
pub fn complete(conn: &mut PgConnection, id: i64, worker: &str) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Text, Timestamptz};
    diesel::sql_query(
        "UPDATE jobs SET state = 'done', locked_until = NULL, finished_at = $3, last_error = NULL \
           FROM (SELECT set_config('synchronous_commit', 'off', true)) unflushed \
          WHERE jobs.id = $1 AND jobs.locked_by = $2 AND jobs.state = 'running'",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(worker)
    .bind::<Timestamptz, _>(Utc::now())
    .execute(conn)
}

/// The delay before attempt `attempts + 1`: 2^attempts seconds (capped at an hour), with up
/// to 25 % jitter so a burst of failures does not retry in lock-step.
pub fn backoff(attempts: i32, jitter: f64) -> Duration {
    let base = 2_i64
        .saturating_pow(u32::try_from(attempts).unwrap_or(0).min(12))
        .min(3600);
    let millis = (base as f64 * 1000.0 * (1.0 + 0.25 * jitter.clamp(0.0, 1.0))) as i64;
    Duration::milliseconds(millis)
}

/// Records a failure: back in the queue after `delay`, or `dead` after the last attempt.
/// Returns whether the job is now dead.
pub fn fail(
    conn: &mut PgConnection,
    job: &JobRow,
    worker: &str,
    error: &str,
    delay: Duration,
) -> QueryResult<bool> {
    let dead = job.attempts >= job.max_attempts;
    let error: String = error.chars().take(2000).collect();
    let target = jobs::table
        .find(job.id)
        .filter(jobs::locked_by.eq(worker))
        .filter(jobs::state.eq("running"));
    if dead {
        diesel::update(target)
            .set((
                jobs::state.eq("dead"),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
                jobs::finished_at.eq(Some(Utc::now())),
                jobs::last_error.eq(Some(error)),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set((
                jobs::state.eq("queued"),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
                jobs::run_at.eq(Utc::now() + delay),
                jobs::last_error.eq(Some(error)),
            ))
            .execute(conn)?;
    }
    Ok(dead)
}

/// Parks a job that can never succeed (its payload no longer parses) without retrying.
pub fn bury(
    conn: &mut PgConnection,
    job: &JobRow,
    worker: &str,
    error: &str,
) -> QueryResult<usize> {
    diesel::update(jobs::table.find(job.id).filter(jobs::locked_by.eq(worker)))
        .set((
            jobs::state.eq("dead"),
            jobs::locked_until.eq(None::<DateTime<Utc>>),
            jobs::finished_at.eq(Some(Utc::now())),
            jobs::last_error.eq(Some(error)),
        ))
        .execute(conn)
}

/// A page of jobs, newest first; `after` is the (created_at, id) of the last one the
/// previous page showed (keyset, as `http::cursor` encodes it).
pub fn list(
    conn: &mut PgConnection,
    state: Option<&str>,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> QueryResult<Vec<JobRow>> {
    let mut query = jobs::table.select(JobRow::as_select()).into_boxed();
    if let Some(state) = state {
        query = query.filter(jobs::state.eq(state.to_owned()));
    }
    if let Some((created_at, id)) = after {
        query = query.filter(
            jobs::created_at
                .lt(created_at)
                .or(jobs::created_at.eq(created_at).and(jobs::id.lt(id))),
        );
    }
    query
        .order((jobs::created_at.desc(), jobs::id.desc()))
        .limit(limit)
        .load(conn)
}

/// Puts a dead job back in the queue for a fresh set of attempts.
pub fn retry(conn: &mut PgConnection, id: i64) -> QueryResult<Option<JobRow>> {
    diesel::update(jobs::table.find(id).filter(jobs::state.eq("dead")))
        .set((
            jobs::state.eq("queued"),
            jobs::attempts.eq(0),
            jobs::run_at.eq(Utc::now()),
            jobs::finished_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(JobRow::as_returning())
        .get_result(conn)
        .optional()
}

/// Makes the job under `dedup_key` due now: a waiting one runs at once, a finished or dead
/// one runs again with fresh attempts, a missing one is added; a running one is left alone.
pub fn run_again_now(conn: &mut PgConnection, dedup_key: &str, job: &Job) -> QueryResult<()> {
    diesel::update(
        jobs::table
            .filter(jobs::dedup_key.eq(dedup_key))
            .filter(jobs::state.eq("queued")),
    )
    .set(jobs::run_at.eq(Utc::now()))
    .execute(conn)?;
    diesel::update(
        jobs::table
            .filter(jobs::dedup_key.eq(dedup_key))
            .filter(jobs::state.eq_any(["done", "dead"])),
    )
    .set((
        jobs::state.eq("queued"),
        jobs::attempts.eq(0),
        jobs::run_at.eq(Utc::now()),
        jobs::finished_at.eq(None::<DateTime<Utc>>),
    ))
    .execute(conn)?;
    enqueue(conn, job, Some(dedup_key), Utc::now()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_a_cap() {
        assert_eq!(backoff(0, 0.0).num_milliseconds(), 1000);
        assert_eq!(backoff(3, 0.0).num_milliseconds(), 8000);
        assert_eq!(backoff(3, 1.0).num_milliseconds(), 10_000);
        assert_eq!(backoff(40, 0.0).num_seconds(), 3600);
        assert!(backoff(2, 0.5) > backoff(2, 0.0));
    }
}
