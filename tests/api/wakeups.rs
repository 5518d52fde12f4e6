//! Idle workers wake when a job commits on any instance (the `jobs` trigger NOTIFYs, the
//! listener LISTENs), not at their next poll; and they still poll when the listener is down.
//! The jobs here are added on the test's own connection, as another instance would add them:
//! nothing in the app's process wakes its workers but the listener or the poll.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use secrecy::ExposeSecret;
use wasit::jobs::{Job, queue};
use wasit::worker::listener::APPLICATION_NAME;

use crate::helpers::{TestApp, spawn_app_with};

/// Far longer than any wait below: a job done within them was not found by the poll.
const POLL_NEVER_MS: u64 = 30_000;
const WITHIN: Duration = Duration::from_secs(10);

/// Workers as `wasit serve` starts them (with their listener on `listener_url`).
fn start_workers(app: &TestApp, listener_url: &str) {
    wasit::worker::spawn_workers(&app.worker("woken"), 1, listener_url);
}

/// A job added as another instance would add it; returns its id.
fn enqueue_elsewhere(app: &TestApp) -> i64 {
    let mut conn = app.db.connect();
    queue::enqueue(&mut conn, &Job::ExpireHolds, None, chrono::Utc::now()).unwrap();
    wasit::schema::jobs::table
        .select(diesel::dsl::max(wasit::schema::jobs::id))
        .first::<Option<i64>>(&mut conn)
        .unwrap()
        .unwrap()
}

fn state_of(app: &TestApp, id: i64) -> String {
    let mut conn = app.db.connect();
    wasit::schema::jobs::table
        .find(id)
        .select(wasit::schema::jobs::state)
        .first(&mut conn)
        .unwrap()
}

/// Waits (up to WITHIN) until `done` holds; returns whether it did.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WITHIN;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// The backend pid of the app's listener, once it listens.
async fn listener_pid(app: &TestApp, not: Option<i32>) -> i32 {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let mut found = None;
    let listening = eventually(|| {
        let mut conn = app.db.connect();
        found = diesel::sql_query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
             AND datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .bind::<diesel::sql_types::Text, _>(APPLICATION_NAME)
        .load::<Pid>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|row| row.pid)
        .find(|pid| Some(*pid) != not);
        found.is_some()
    })
    .await;
    assert!(listening, "the listener connected and ran LISTEN");
    found.unwrap()
}

#[tokio::test]
async fn a_job_committed_elsewhere_wakes_an_idle_worker_and_again_after_its_listener_reconnects() {
    let app = spawn_app_with(|s| s.jobs.poll_ms = POLL_NEVER_MS).await;
    start_workers(&app, app.settings.database.url.expose_secret());
    let first_listener = listener_pid(&app, None).await;

    let job = enqueue_elsewhere(&app);
    assert!(
        eventually(|| state_of(&app, job) == "done").await,
        "the NOTIFY woke the idle worker: {}",
        state_of(&app, job)
    );

    // The database drops the listener's connection; it connects again and listens.
    let mut conn = app.db.connect();
    diesel::sql_query(format!("SELECT pg_terminate_backend({first_listener})"))
        .execute(&mut conn)
        .unwrap();
    listener_pid(&app, Some(first_listener)).await;
    let job = enqueue_elsewhere(&app);
    assert!(
        eventually(|| state_of(&app, job) == "done").await,
        "woken through the new connection: {}",
        state_of(&app, job)
    );
}

#[tokio::test]
async fn workers_still_poll_when_their_listener_cannot_connect() {
    let app = spawn_app_with(|s| s.jobs.poll_ms = 200).await;
    // Nothing listens on port 1: the listener never connects (and keeps trying).
    start_workers(
        &app,
        "postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=1",
    );
    let job = enqueue_elsewhere(&app);
    assert!(
        eventually(|| state_of(&app, job) == "done").await,
        "the poll found the job: {}",
        state_of(&app, job)
    );
}
