//! The job queue: follow-up work enqueued with the change, sweeps, retries, dead jobs,
//! leases after a crash, and two workers that never run a job twice.

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;
use wasit::jobs::{Job, queue};
use wasit::worker::schedule;

use crate::helpers::{TestApp, assert_problem, spawn_app, token, unique_city};

/// A held booking for one night `days` ahead in a fresh local hotel; returns (booking, unit id).
async fn held_booking(
    app: &TestApp,
    admin: &str,
    customer: &str,
    key: &str,
    rooms: i32,
) -> (Value, String) {
    let city = unique_city("c");
    let (_, unit) = app
        .local_hotel(admin, &city, "Inn", rooms, "300.00", 5)
        .await;
    let offer = crate::helpers::stay_offer(app, &city, 2, 3, 2).await;
    let booking: Value = crate::helpers::book(
        app,
        customer,
        key,
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(booking["status"], "held", "{booking}");
    (booking, unit)
}

fn status_of(app: &TestApp, id: &str) -> String {
    let mut conn = app.db.connect();
    use wasit::schema::bookings::dsl as b;
    b::bookings
        .find(id.parse::<uuid::Uuid>().unwrap())
        .select(b::status)
        .first(&mut conn)
        .unwrap()
}

fn reserved(app: &TestApp, unit: &str) -> i32 {
    let mut conn = app.db.connect();
    use wasit::schema::inventory_cells::dsl as c;
    c::inventory_cells
        .filter(c::unit_id.eq(unit.parse::<uuid::Uuid>().unwrap()))
        .select(diesel::dsl::sum(c::reserved))
        .first::<Option<i64>>(&mut conn)
        .unwrap()
        .unwrap_or(0) as i32
}

fn jobs_in(app: &TestApp, state: &str) -> Vec<queue::JobRow> {
    let mut conn = app.db.connect();
    queue::list(&mut conn, Some(state), None, 200).unwrap()
}

/// Only the provider confirmations (bookings also enqueue their emails).
fn confirmations_in(app: &TestApp, state: &str) -> Vec<queue::JobRow> {
    jobs_in(app, state)
        .into_iter()
        .filter(|job| job.kind == "confirm_booking")
        .collect()
}

#[tokio::test]
async fn a_confirmation_is_enqueued_with_the_transition_and_a_worker_confirms() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("c@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    let (booking, _) = held_booking(&app, &admin, &customer, "k", 5).await;
    let id = booking["id"].as_str().unwrap();

    app.confirm_paid_at_office(&agent, id).await;
    let queued = confirmations_in(&app, "queued");
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].payload,
        json!({ "kind": "confirm_booking", "booking_id": id })
    );

    // The confirmation, and the held and confirmed emails.
    assert_eq!(app.run_pending_jobs().await, 3);
    assert_eq!(status_of(&app, id), "confirmed");
    let history: Value = app
        .get_authed(&format!("/v1/bookings/{id}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    let last = history["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["to_status"].as_str(), last["actor_id"].is_null()),
        (Some("confirmed"), true),
        "{last}"
    );
    assert_eq!(confirmations_in(&app, "done").len(), 1);
    assert_eq!(
        jobs_in(&app, "done").len(),
        3,
        "every job done, none dead or waiting"
    );
    assert_eq!(app.run_pending_jobs().await, 0, "nothing left");
}

#[tokio::test]
async fn expired_holds_are_swept_and_give_their_rooms_back() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("late@example.com").await);
    let (late, unit) = app_booking_pair(&app, &admin, &customer).await;
    assert_eq!(reserved(&app, &unit), 2);
    let mut conn = app.db.connect();
    diesel::sql_query(format!(
        "UPDATE bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = '{}'",
        late["id"].as_str().unwrap()
    ))
    .execute(&mut conn)
    .unwrap();

    let pool = wasit::db::build_pool(&app.settings.database);
    assert!(
        schedule::enqueue_tick(&pool, Job::ExpireHolds)
            .await
            .unwrap()
    );
    assert!(
        !schedule::enqueue_tick(&pool, Job::ExpireHolds)
            .await
            .unwrap(),
        "one tick per minute, however many instances"
    );
    app.run_pending_jobs().await;
    assert_eq!(status_of(&app, late["id"].as_str().unwrap()), "expired");
    assert_eq!(
        reserved(&app, &unit),
        1,
        "the expired hold gave its room back; the other hold keeps its own"
    );
}

/// Two holds on one unit; returns the first and the unit.
async fn app_booking_pair(app: &TestApp, admin: &str, customer: &str) -> (Value, String) {
    let (first, unit) = held_booking(app, admin, customer, "first", 5).await;
    let offer_city = first["provider"]["city"].as_str().unwrap().to_owned();
    let offer = crate::helpers::stay_offer(app, &offer_city, 2, 3, 2).await;
    let second = crate::helpers::book(
        app,
        customer,
        "second",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(second.status(), 201);
    (first, unit)
}

#[tokio::test]
async fn finished_stays_are_completed_by_the_sweep() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("done@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    let (booking, _) = held_booking(&app, &admin, &customer, "k", 5).await;
    let id = booking["id"].as_str().unwrap();
    app.confirm_paid_at_office(&agent, id).await;
    app.run_pending_jobs().await;
    let mut conn = app.db.connect();
    diesel::sql_query(format!(
        "UPDATE bookings SET starts_at = now() - interval '3 days', ends_at = now() - interval '2 days' WHERE id = '{id}'"
    ))
    .execute(&mut conn)
    .unwrap();
    let pool = wasit::db::build_pool(&app.settings.database);
    schedule::enqueue_tick(&pool, Job::CompletePastBookings)
        .await
        .unwrap();
    app.run_pending_jobs().await;
    assert_eq!(status_of(&app, id), "completed");
}

#[tokio::test]
async fn a_failing_job_backs_off_and_its_last_attempt_fails_the_booking() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("unlucky@example.com").await);
    let (booking, _) = held_booking(&app, &admin, &customer, "k", 5).await;
    let id = booking["id"].as_str().unwrap();
    let paid = crate::payments::pay(&app, &customer, &booking, crate::payments::CARD_OK).await;
    assert_eq!(paid.status(), 200);
    // Nothing left to confirm with: no local unit, no provider reference.
    let mut conn = app.db.connect();
    diesel::sql_query(format!(
        "UPDATE bookings SET unit_id = NULL WHERE id = '{id}'"
    ))
    .execute(&mut conn)
    .unwrap();

    app.run_pending_jobs().await;
    let queued = confirmations_in(&app, "queued");
    assert_eq!(queued.len(), 1);
    let job = &queued[0];
    assert_eq!(job.attempts, 1);
    assert!(
        job.last_error
            .as_deref()
            .unwrap()
            .contains("no booking with the provider"),
        "{job:?}"
    );
    let wait = job.run_at - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::milliseconds(500) && wait <= chrono::Duration::seconds(3),
        "backoff {wait}"
    );
    assert_eq!(
        status_of(&app, id),
        "pending",
        "not failed before the last attempt"
    );

    diesel::sql_query(format!(
        "UPDATE jobs SET attempts = max_attempts - 1, run_at = now() WHERE id = {}",
        job.id
    ))
    .execute(&mut conn)
    .unwrap();
    app.run_pending_jobs().await;
    let dead = jobs_in(&app, "dead");
    assert_eq!(dead.len(), 1);
    assert!(dead[0].last_error.is_some());
    assert_eq!(status_of(&app, id), "failed");
    let history: Value = app
        .get_authed(&format!("/v1/bookings/{id}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        history["refund_amount"], booking["price"]["total"],
        "everything paid comes back"
    );
    // The office sees it among the bookings to follow up.
    assert!(history["flagged_at"].is_string(), "{history}");
    // ...and the money goes back through the gateway, with a credit note.
    app.run_pending_jobs().await;
    let mut conn = app.db.connect();
    use wasit::schema::refunds::dsl as r;
    let refunds: Vec<String> = r::refunds.select(r::status).load(&mut conn).unwrap();
    assert_eq!(refunds, ["succeeded"]);
}

#[tokio::test]
async fn an_unreadable_job_is_parked_dead_and_admins_can_list_and_retry_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut conn = app.db.connect();
    diesel::sql_query("INSERT INTO jobs (kind, payload) VALUES ('confirm_booking', '{\"kind\": \"launch_rockets\"}')")
        .execute(&mut conn)
        .unwrap();
    app.run_pending_jobs().await;
    let dead = jobs_in(&app, "dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1, "not retried forever");
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("no longer parses")
    );

    let listed: Value = app
        .get_authed("/v1/admin/jobs?state=dead", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["jobs"][0]["id"], dead[0].id);
    assert_problem(
        app.get_authed("/v1/admin/jobs?state=lost", &admin).await,
        400,
        "query.invalid",
    )
    .await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    assert_problem(
        app.get_authed("/v1/admin/jobs", &agent).await,
        403,
        "auth.forbidden",
    )
    .await;

    let retried = app
        .post_ok(
            &format!("/v1/admin/jobs/{}/retry", dead[0].id),
            &admin,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(retried["state"], "queued");
    assert_problem(
        app.post_json_authed(
            &format!("/v1/admin/jobs/{}/retry", dead[0].id),
            &admin,
            &json!({}),
        )
        .await,
        409,
        "job.not_dead",
    )
    .await;
    assert_problem(
        app.post_json_authed("/v1/admin/jobs/999999/retry", &admin, &json!({}))
            .await,
        404,
        "resource.not_found",
    )
    .await;
}

#[tokio::test]
async fn two_workers_run_every_job_exactly_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("many@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    let (first, _) = held_booking(&app, &admin, &customer, "k0", 50).await;
    let city = first["provider"]["city"].as_str().unwrap().to_owned();
    let offer = crate::helpers::stay_offer(&app, &city, 2, 3, 2).await;
    let mut ids = vec![first["id"].as_str().unwrap().to_owned()];
    for i in 1..30 {
        let booking: Value = crate::helpers::book(
            &app,
            &customer,
            &format!("k{i}"),
            &json!({ "offer_id": offer["offer_id"] }),
        )
        .await
        .json()
        .await
        .unwrap();
        ids.push(booking["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.confirm_paid_at_office(&agent, id).await;
    }
    let (one, two) = (app.worker("worker-one"), app.worker("worker-two"));
    let (ran_one, ran_two) = tokio::join!(one.drain(), two.drain());
    // 30 confirmations, 30 "held" and 30 "confirmed" emails.
    assert_eq!(
        ran_one.unwrap() + ran_two.unwrap(),
        90,
        "each job claimed once between them"
    );
    let done = jobs_in(&app, "done");
    assert_eq!(done.len(), 90);
    assert!(
        done.iter().all(|job| job.attempts == 1),
        "nothing ran twice"
    );
    let mut conn = app.db.connect();
    let confirmations: i64 = wasit::schema::booking_events::table
        .filter(wasit::schema::booking_events::to_status.eq("confirmed"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(confirmations, 30, "every booking confirmed exactly once");
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_when_its_lease_runs_out() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("crash@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    let (booking, _) = held_booking(&app, &admin, &customer, "k", 5).await;
    let id = booking["id"].as_str().unwrap();
    app.confirm_paid_at_office(&agent, id).await;

    // A worker claims the job and dies (never finishes it).
    let mut conn = app.db.connect();
    let claimed = queue::claim(
        &mut conn,
        "doomed-worker",
        8,
        chrono::Duration::seconds(120),
    )
    .unwrap();
    assert_eq!(claimed.len(), 2, "the confirmation and the held email");
    assert_eq!(app.run_pending_jobs().await, 0, "a live lease is respected");
    diesel::sql_query("UPDATE jobs SET locked_until = now() - interval '1 second'")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        app.run_pending_jobs().await,
        3,
        "both taken over, then the confirmed email"
    );
    let done = confirmations_in(&app, "done");
    assert_eq!((done.len(), done[0].attempts), (1, 2));
    assert_eq!(status_of(&app, id), "confirmed");
}

#[tokio::test]
async fn an_agent_retries_a_pending_confirmation_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("retry@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    let (booking, _) = held_booking(&app, &admin, &customer, "r", 5).await;
    let id = booking["id"].as_str().unwrap();
    let path = format!("/v1/bookings/{id}/retry-confirmation");
    // Only a pending booking waits for its provider; only staff retry.
    crate::helpers::assert_problem(
        app.post_json_authed(&path, &agent, &json!({})).await,
        409,
        "booking.invalid_state",
    )
    .await;
    assert_eq!(
        crate::payments::pay(&app, &customer, &booking, crate::payments::CARD_OK)
            .await
            .status(),
        200
    );
    crate::helpers::assert_problem(
        app.post_json_authed(&path, &customer, &json!({})).await,
        403,
        "auth.forbidden",
    )
    .await;

    // The confirmation failed once and waits for its backoff; the agent makes it due now.
    let mut conn = app.db.connect();
    diesel::sql_query(format!("UPDATE jobs SET run_at = now() + interval '1 hour', attempts = 1 WHERE dedup_key = 'confirm:{id}'"))
        .execute(&mut conn)
        .unwrap();
    app.run_pending_jobs().await;
    assert_eq!(status_of(&app, id), "pending");
    let response = app.post_json_authed(&path, &agent, &json!({})).await;
    assert_eq!(response.status(), 202);
    app.run_pending_jobs().await;
    assert_eq!(status_of(&app, id), "confirmed");
    let audit: Value = app
        .get_authed("/v1/audit?action=booking.retry_confirmation", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1));
}

/// Follows `next_cursor` from `first` (a list path with `limit`) to the last page, returning
/// the ids of `items` in the order the pages showed them.
pub(crate) async fn ids_over_pages(
    app: &TestApp,
    token: &str,
    first: &str,
    items: &str,
) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut path = first.to_owned();
    loop {
        let page: Value = app.get_authed(&path, token).await.json().await.unwrap();
        ids.extend(
            page[items]
                .as_array()
                .unwrap_or_else(|| panic!("{page}"))
                .iter()
                .map(|item| item["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => break,
        }
        assert!(ids.len() < 100, "pages never end: {ids:?}");
    }
    ids
}

#[tokio::test]
async fn the_job_list_pages_by_cursor_and_refuses_the_old_before() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut conn = app.db.connect();
    // Seven dead jobs: four written by one statement share their created_at, so the id
    // breaks the tie; three more a moment later.
    for statement in [
        "INSERT INTO jobs (kind, payload, state) SELECT 'confirm_booking', '{}', 'dead' FROM generate_series(1, 4)",
        "INSERT INTO jobs (kind, payload, state, created_at) SELECT 'confirm_booking', '{}', 'dead', now() + interval '1 second' FROM generate_series(1, 3)",
    ] {
        diesel::sql_query(statement).execute(&mut conn).unwrap();
    }
    let dead = jobs_in(&app, "dead");
    let mut expected: Vec<(chrono::DateTime<chrono::Utc>, i64)> =
        dead.iter().map(|j| (j.created_at, j.id)).collect();
    expected.sort();
    expected.reverse();
    let expected: Vec<i64> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(expected.len(), 7);
    let ids = ids_over_pages(&app, &admin, "/v1/admin/jobs?state=dead&limit=3", "jobs").await;
    assert_eq!(ids, expected, "newest first, no gap, no repeat");

    for old in ["before=5", "next_before=5", "cursor=garbage"] {
        let problem = assert_problem(
            app.get_authed(&format!("/v1/admin/jobs?{old}"), &admin)
                .await,
            400,
            "query.invalid",
        )
        .await;
        assert_eq!(
            crate::helpers::problem_fields(&problem),
            [old.split('=').next().unwrap()]
        );
    }
}
