//! Providers confirm or refuse their bookings; unanswered ones are flagged for an agent.

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, token};

struct Setup {
    admin: String,
    agent: String,
    customer: String,
    desk: String,
    unit: String,
}

/// A local hotel with a provider login ("desk") and a webhook URL nobody answers.
async fn setup(app: &TestApp) -> Setup {
    let admin = app.admin_token().await;
    let (provider, unit) = app
        .local_hotel(&admin, "taif", "Garden Inn", 5, "300.00", 6)
        .await;
    let response = app
        .client
        .patch(app.url(&format!("/v1/providers/{provider}")))
        .bearer_auth(&admin)
        .json(&json!({ "webhook_url": "http://127.0.0.1:9/hooks" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let email = format!("desk-{}@garden.example", uuid::Uuid::new_v4().simple());
    app.post_ok(
        "/v1/admin/users",
        &admin,
        &json!({ "email": email, "password": PASSWORD, "full_name": "Front desk", "role": "provider", "provider_id": provider }),
        201,
    )
    .await;
    let desk = token(
        &app.login(&email, PASSWORD)
            .await
            .json::<Value>()
            .await
            .unwrap(),
    );
    let agent = token(&app.user_with_role(Role::Agent).await);
    let customer = token(
        &app.register(&format!(
            "guest-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await,
    );
    Setup {
        admin,
        agent,
        customer,
        desk,
        unit,
    }
}

/// A booking the agent has handed on (pending), not yet confirmed by the job.
async fn pending(app: &TestApp, s: &Setup, key: &str) -> String {
    let offer = crate::helpers::stay_offer(app, "taif", 2, 3, 2).await;
    let booking: Value = crate::helpers::book(
        app,
        &s.customer,
        key,
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let reference = booking["reference"].as_str().unwrap().to_owned();
    app.post_ok(
        &format!("/v1/bookings/{reference}/confirm"),
        &s.agent,
        &json!({ "reason": "paid at the office" }),
        200,
    )
    .await;
    reference
}

fn reserved(app: &TestApp, unit: &str) -> i64 {
    let mut conn = app.db.connect();
    use wasit::schema::inventory_cells::dsl as c;
    c::inventory_cells
        .filter(c::unit_id.eq(unit.parse::<uuid::Uuid>().unwrap()))
        .select(diesel::dsl::sum(c::reserved))
        .first::<Option<i64>>(&mut conn)
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_provider_confirms_a_pending_booking_and_refuses_a_confirmed_one() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let reference = pending(&app, &s, "a").await;
    let ack = |reference: String, decision: &'static str| {
        let (app, desk) = (&app, s.desk.clone());
        async move {
            app.post_json_authed(
                &format!("/v1/provider/bookings/{reference}/ack"),
                &desk,
                &json!({ "decision": decision }),
            )
            .await
        }
    };
    let confirmed: Value = ack(reference.clone(), "confirm")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            confirmed["status"].as_str(),
            confirmed["provider_ack"].as_str()
        ),
        (Some("confirmed"), Some("confirmed"))
    );
    // Confirming again is harmless.
    assert_eq!(ack(reference.clone(), "confirm").await.status(), 200);
    assert_eq!(reserved(&app, &s.unit), 1);

    let refused: Value = ack(reference.clone(), "refuse").await.json().await.unwrap();
    assert_eq!(refused["status"], "cancelled");
    assert_eq!(refused["provider_ack"], "refused");
    // Confirmed at the office, never paid through us: there is nothing to give back (a
    // refusal of a paid booking is tests/api/seams.rs, a_provider_refusal_refunds_…).
    assert_eq!(refused["refund_amount"], "0.00");
    assert_eq!(reserved(&app, &s.unit), 0, "the room is free again");
    assert_problem(
        ack(reference.clone(), "confirm").await,
        409,
        "booking.invalid_state",
    )
    .await;

    let history: Value = app
        .get_authed(&format!("/v1/bookings/{reference}"), &s.customer)
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
    assert_eq!(last["to_status"], "cancelled");
    assert!(
        !last["actor_id"].is_null(),
        "the provider's login is recorded"
    );
}

#[tokio::test]
async fn refusing_a_pending_booking_fails_it_and_only_its_provider_may_answer() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let reference = pending(&app, &s, "b").await;
    let path = format!("/v1/provider/bookings/{reference}/ack");
    assert_problem(
        app.post_json_authed(&path, &s.customer, &json!({ "decision": "confirm" }))
            .await,
        403,
        "auth.forbidden",
    )
    .await;
    let bad = app
        .post_json_authed(&path, &s.desk, &json!({ "decision": "maybe" }))
        .await;
    assert_problem(bad, 422, "validation.failed").await;

    // A login of another provider does not see it.
    let (other, _) = app
        .local_hotel(&s.admin, "abha", "Other", 2, "100.00", 3)
        .await;
    let email = format!("other-{}@example.com", uuid::Uuid::new_v4().simple());
    app.post_ok(
        "/v1/admin/users",
        &s.admin,
        &json!({ "email": email, "password": PASSWORD, "full_name": "Other desk", "role": "provider", "provider_id": other }),
        201,
    )
    .await;
    let stranger = token(
        &app.login(&email, PASSWORD)
            .await
            .json::<Value>()
            .await
            .unwrap(),
    );
    assert_problem(
        app.post_json_authed(&path, &stranger, &json!({ "decision": "refuse" }))
            .await,
        404,
        "resource.not_found",
    )
    .await;

    let failed: Value = app
        .post_json_authed(
            &path,
            &s.desk,
            &json!({ "decision": "refuse", "reason": "fully booked for a wedding" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(reserved(&app, &s.unit), 0);
}

#[tokio::test]
async fn an_unanswered_booking_is_flagged_for_an_agent_until_the_provider_answers() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let reference = pending(&app, &s, "c").await;
    // The confirmation job confirms it and the provider is told by webhook (nobody answers).
    app.run_pending_jobs().await;
    let mut conn = app.db.connect();
    // Pretend the booking has waited two hours (the trigger would stamp now() otherwise).
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "ALTER TABLE bookings DISABLE TRIGGER bookings_set_updated_at;
         UPDATE bookings SET updated_at = now() - interval '2 hours';
         ALTER TABLE bookings ENABLE TRIGGER bookings_set_updated_at;",
    )
    .unwrap();
    let pool = wasit::db::build_pool(&app.settings.database);
    wasit::worker::schedule::enqueue_tick(&pool, wasit::jobs::Job::FlagUnacknowledged)
        .await
        .unwrap();
    app.run_pending_jobs().await;

    let flagged: Value = app
        .get_authed("/v1/bookings?flagged=true", &s.agent)
        .await
        .json()
        .await
        .unwrap();
    let flagged = flagged["bookings"].as_array().unwrap();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["reference"], reference.as_str());
    assert!(flagged[0]["flagged_at"].is_string());
    assert_problem(
        app.get_authed("/v1/bookings?flagged=true", &s.customer)
            .await,
        403,
        "auth.forbidden",
    )
    .await;

    app.post_ok(
        &format!("/v1/provider/bookings/{reference}/ack"),
        &s.desk,
        &json!({ "decision": "confirm" }),
        200,
    )
    .await;
    let flagged: Value = app
        .get_authed("/v1/bookings?flagged=true", &s.agent)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        flagged["bookings"].as_array().unwrap().is_empty(),
        "an answer clears the flag"
    );
}
