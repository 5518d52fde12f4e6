//! Signed webhooks to providers, verified live by the reference Standard Webhooks library
//! (tests/peers/webhooks/receiver.py), with retries, 410 Gone, rotation overlap and resend.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{Spawned, TestApp, day, spawn_app, token};

struct Receiver {
    _process: Spawned,
    url: String,
    log: std::path::PathBuf,
}

impl Receiver {
    fn start(secret: &str, mode: &str) -> Self {
        let python = std::env::var("WASIT_TEST_PYTHON").unwrap_or_else(|_| {
            panic!("run scripts/test: it installs the Standard Webhooks library and exports WASIT_TEST_PYTHON")
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!(
            "wasit-webhooks-{}.jsonl",
            uuid::Uuid::new_v4().simple()
        ));
        let script = crate::helpers::manifest_dir().join("tests/peers/webhooks/receiver.py");
        let child = Command::new(python)
            .args([
                script.to_str().unwrap(),
                &port.to_string(),
                secret,
                log.to_str().unwrap(),
                mode,
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            _process: Spawned(child),
            url: format!("http://127.0.0.1:{port}/hooks"),
            log,
        }
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// A local hotel whose webhooks go to the URL the receiver gets; returns (provider id, secret).
async fn hotel(app: &TestApp, admin: &str) -> (String, String) {
    let created = app
        .post_ok(
            "/v1/providers",
            admin,
            &json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Hooked Inn", "city": "abha", "adapter": "local" }),
            201,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let unit = app
        .post_ok(
            &format!("/v1/providers/{id}/units"),
            admin,
            &json!({ "kind": "room_type", "name_ar": "غرفة", "name_en": "Room", "code": "sea-view", "max_guests": 2, "rooms": 9, "nightly_price": "300.00" }),
            201,
        )
        .await;
    app.post_ok(
        &format!(
            "/v1/providers/{id}/units/{}/availability",
            unit["id"].as_str().unwrap()
        ),
        admin,
        &json!({ "from": day(0), "to": day(6) }),
        200,
    )
    .await;
    (id, created["webhook_secret"].as_str().unwrap().to_owned())
}

async fn point_webhooks_at(app: &TestApp, admin: &str, provider: &str, url: &str) {
    let response = app
        .client
        .patch(app.url(&format!("/v1/providers/{provider}")))
        .bearer_auth(admin)
        .json(&json!({ "webhook_url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Books a night and has an agent confirm it; returns the booking id.
async fn confirmed_booking(app: &TestApp, customer: &str, agent: &str, key: &str) -> String {
    let offer = crate::helpers::stay_offer(app, "abha", 2, 3, 2).await;
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
    let id = booking["id"].as_str().unwrap().to_owned();
    app.confirm_paid_at_office(agent, &id).await;
    id
}

#[tokio::test]
async fn confirmations_and_cancellations_arrive_signed_and_verifiable() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, secret) = hotel(&app, &admin).await;
    let receiver = Receiver::start(&secret, "ok");
    point_webhooks_at(&app, &admin, &provider, &receiver.url).await;
    let customer = token(&app.register("hooks@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);

    let id = confirmed_booking(&app, &customer, &agent, "a").await;
    app.run_pending_jobs().await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["verified"], true, "{received:?}");
    assert_eq!(received[0]["type"], "booking.confirmed");
    let message_id = received[0]["id"].as_str().unwrap().to_owned();
    assert!(message_id.starts_with("msg_"));
    // The booking by its id (the key of the provider's API) and by its reference, and
    // the room type by its readable code.
    let data = &received[0]["data"];
    assert_eq!(data["id"], id.as_str(), "{data}");
    assert!(
        data["reference"].as_str().unwrap().starts_with("WS-"),
        "{data}"
    );
    assert_eq!(data["unit_code"], "sea-view", "{data}");

    app.post_ok(
        &format!("/v1/bookings/{id}/cancel"),
        &customer,
        &json!({}),
        200,
    )
    .await;
    app.run_pending_jobs().await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        (
            received[1]["type"].as_str(),
            received[1]["verified"].as_bool()
        ),
        (Some("booking.cancelled"), Some(true))
    );

    let log: Value = app
        .get_authed(
            &format!("/v1/providers/{provider}/webhook-deliveries"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let deliveries = log["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|d| d["status_code"] == 204 && d["attempt"] == 1),
        "{deliveries:?}"
    );

    // A manual resend goes out again under the same webhook-id.
    let resend = app
        .post_json_authed(
            &format!("/v1/providers/{provider}/webhook-deliveries/{message_id}/resend"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(resend.status(), 202);
    app.run_pending_jobs().await;
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert_eq!(received[2]["id"], message_id.as_str());
    assert_eq!(received[2]["verified"], true);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_with_the_same_id_on_the_schedule() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, secret) = hotel(&app, &admin).await;
    let receiver = Receiver::start(&secret, "fail-twice");
    point_webhooks_at(&app, &admin, &provider, &receiver.url).await;
    let customer = token(&app.register("retry-hooks@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    confirmed_booking(&app, &customer, &agent, "b").await;

    let mut conn = app.db.connect();
    let mut waits = Vec::new();
    for _ in 0..3 {
        app.run_pending_jobs().await;
        let next: Option<chrono::DateTime<chrono::Utc>> = wasit::schema::jobs::table
            .filter(wasit::schema::jobs::kind.eq("deliver_webhook"))
            .filter(wasit::schema::jobs::state.eq("queued"))
            .select(wasit::schema::jobs::run_at)
            .first(&mut conn)
            .optional()
            .unwrap();
        let Some(next) = next else { break };
        waits.push((next - chrono::Utc::now()).num_seconds());
        // Time travel instead of waiting for the schedule.
        diesel::sql_query("UPDATE jobs SET run_at = now() WHERE state = 'queued'")
            .execute(&mut conn)
            .unwrap();
    }
    assert!(
        waits.len() == 2 && (3..=5).contains(&waits[0]) && (280..=300).contains(&waits[1]),
        "{waits:?}"
    );
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|r| r["id"] == received[0]["id"] && r["verified"] == true),
        "{received:?}"
    );
    let log: Value = app
        .get_authed(
            &format!("/v1/providers/{provider}/webhook-deliveries"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<i64> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|d| d["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 204]);
}

#[tokio::test]
async fn gone_turns_the_endpoint_off_and_a_new_url_turns_it_back_on() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, secret) = hotel(&app, &admin).await;
    let gone = Receiver::start(&secret, "gone");
    point_webhooks_at(&app, &admin, &provider, &gone.url).await;
    let customer = token(&app.register("gone@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    confirmed_booking(&app, &customer, &agent, "c").await;
    app.run_pending_jobs().await;
    assert_eq!(gone.received().len(), 1);
    let mut conn = app.db.connect();
    let webhook_jobs = || -> i64 {
        let mut conn = app.db.connect();
        wasit::schema::jobs::table
            .filter(wasit::schema::jobs::kind.eq("deliver_webhook"))
            .count()
            .get_result(&mut conn)
            .unwrap()
    };
    let done_or_dead: i64 = wasit::schema::jobs::table
        .filter(wasit::schema::jobs::kind.eq("deliver_webhook"))
        .filter(wasit::schema::jobs::state.eq("done"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(done_or_dead, 1, "410 is final: no retry");

    confirmed_booking(&app, &customer, &agent, "d").await;
    app.run_pending_jobs().await;
    assert_eq!(webhook_jobs(), 1, "nothing more is sent to a gone endpoint");

    let fresh = Receiver::start(&secret, "ok");
    point_webhooks_at(&app, &admin, &provider, &fresh.url).await;
    confirmed_booking(&app, &customer, &agent, "e").await;
    app.run_pending_jobs().await;
    assert_eq!(fresh.received().len(), 1);
}

#[tokio::test]
async fn after_a_rotation_both_signatures_are_sent_so_either_secret_verifies() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, old_secret) = hotel(&app, &admin).await;
    let rotated = app
        .post_ok(
            &format!("/v1/providers/{provider}/webhook-secret"),
            &admin,
            &json!({}),
            200,
        )
        .await;
    let new_secret = rotated["webhook_secret"].as_str().unwrap().to_owned();
    let on_old = Receiver::start(&old_secret, "ok");
    let on_new = Receiver::start(&new_secret, "ok");
    let customer = token(&app.register("rotate-hooks@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    for (receiver, key) in [(&on_old, "f"), (&on_new, "g")] {
        point_webhooks_at(&app, &admin, &provider, &receiver.url).await;
        confirmed_booking(&app, &customer, &agent, key).await;
        app.run_pending_jobs().await;
        let received = receiver.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0]["verified"], true, "{received:?}");
        assert_eq!(
            received[0]["signatures"]
                .as_str()
                .unwrap()
                .split(' ')
                .count(),
            2
        );
    }
}

#[tokio::test]
async fn a_redirect_is_a_failed_delivery_not_followed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, secret) = hotel(&app, &admin).await;
    let receiver = Receiver::start(&secret, "redirect");
    point_webhooks_at(&app, &admin, &provider, &receiver.url).await;
    let customer = token(&app.register("redirect@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    confirmed_booking(&app, &customer, &agent, "r").await;
    app.run_pending_jobs().await;
    assert_eq!(receiver.received().len(), 1);
    let log: Value = app
        .get_authed(
            &format!("/v1/providers/{provider}/webhook-deliveries"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["deliveries"][0]["status_code"], 307);
    let mut conn = app.db.connect();
    let state: String = wasit::schema::jobs::table
        .filter(wasit::schema::jobs::kind.eq("deliver_webhook"))
        .select(wasit::schema::jobs::state)
        .first(&mut conn)
        .unwrap();
    assert_eq!(state, "queued", "retried later, not treated as delivered");
}

#[tokio::test]
async fn webhook_deliveries_page_by_cursor_and_refuse_the_old_before() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, _) = app
        .local_hotel(&admin, "abha", "Paged Inn", 1, "100.00", 1)
        .await;
    let mut conn = app.db.connect();
    // Five attempts, three of them logged at the same instant (the id breaks the tie).
    diesel::sql_query(format!(
        "INSERT INTO webhook_deliveries (provider_id, message_id, event_type, payload, attempt, latency_ms, at)
         SELECT '{provider}', 'msg_' || n, 'booking.confirmed', '{{}}', 1, 5,
                CASE WHEN n <= 3 THEN now() ELSE now() + n * interval '1 second' END
           FROM generate_series(1, 5) AS n"
    ))
    .execute(&mut conn)
    .unwrap();
    let mut expected: Vec<(chrono::DateTime<chrono::Utc>, i64)> =
        wasit::schema::webhook_deliveries::table
            .select((
                wasit::schema::webhook_deliveries::at,
                wasit::schema::webhook_deliveries::id,
            ))
            .load(&mut conn)
            .unwrap();
    expected.sort();
    expected.reverse();
    let expected: Vec<i64> = expected.into_iter().map(|(_, id)| id).collect();
    let path = format!("/v1/providers/{provider}/webhook-deliveries?limit=2");
    assert_eq!(
        crate::jobs::ids_over_pages(&app, &admin, &path, "deliveries").await,
        expected
    );
    let problem = crate::helpers::assert_problem(
        app.get_authed(
            &format!("/v1/providers/{provider}/webhook-deliveries?before=3"),
            &admin,
        )
        .await,
        400,
        "query.invalid",
    )
    .await;
    assert_eq!(crate::helpers::problem_fields(&problem), ["before"]);
}

/// Workers claim several jobs in one statement and deliver them side by side: with three
/// workers draining one queue at once, every message arrives exactly once, on its first
/// attempt, and is logged once.
#[tokio::test]
async fn workers_claiming_in_batches_deliver_every_webhook_exactly_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, secret) = hotel(&app, &admin).await;
    let receiver = Receiver::start(&secret, "ok");
    point_webhooks_at(&app, &admin, &provider, &receiver.url).await;
    let provider_id: uuid::Uuid = provider.parse().unwrap();
    let messages = 60;
    let mut conn = app.db.connect();
    for n in 0..messages {
        wasit::jobs::queue::enqueue_webhook(
            &mut conn,
            provider_id,
            "booking.confirmed",
            json!({ "n": n }),
        )
        .unwrap();
    }
    let workers = [app.worker("one"), app.worker("two"), app.worker("three")];
    assert!(workers[0].settings.concurrency > 1, "batches are claimed");
    let (a, b, c) = tokio::join!(workers[0].drain(), workers[1].drain(), workers[2].drain());
    assert_eq!(
        a.unwrap() + b.unwrap() + c.unwrap(),
        messages,
        "each job claimed once"
    );

    let received = receiver.received();
    let ids: std::collections::HashSet<&str> =
        received.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(
        (received.len(), ids.len()),
        (messages, messages),
        "every message once"
    );
    assert!(
        received.iter().all(|r| r["verified"] == true),
        "{received:?}"
    );
    let ns: std::collections::HashSet<i64> = received
        .iter()
        .filter_map(|r| r["data"]["n"].as_i64())
        .collect();
    assert_eq!(ns.len(), messages);

    use wasit::schema::{jobs, webhook_deliveries};
    let attempts: Vec<(String, i32)> = jobs::table
        .filter(jobs::kind.eq("deliver_webhook"))
        .select((jobs::state, jobs::attempts))
        .load(&mut conn)
        .unwrap();
    assert_eq!(attempts.len(), messages);
    assert!(
        attempts.iter().all(|(state, n)| state == "done" && *n == 1),
        "{attempts:?}"
    );
    let logged: i64 = webhook_deliveries::table
        .filter(webhook_deliveries::status_code.eq(204))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(logged, messages as i64);
}
