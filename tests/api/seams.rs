//! Regression tests for the defects issue #13 found at the seams between bookings, money,
//! providers and jobs. Each is named after its defect and failed before the one lifecycle
//! and the one refund path existed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;
use wasit::auth::Role;

use crate::helpers::{
    TestApp, assert_problem, book, canned_server, held, join_all, problem_fields,
    radicale_calendar, silent_server, spawn_app, spawn_app_with, stay_offer, token, unique_city,
};
use crate::payments::{
    CARD_3DS, CARD_OK, answer_3ds, balance, hotel, ledger, money, pay, post_keyed,
};

/// A hotel on the real CalDAV server (Radicale) with one calendar of `rooms` rooms, in a city
/// of its own. Returns (provider id, city, the calendar's URL).
pub(crate) async fn caldav_hotel(
    app: &TestApp,
    admin: &str,
    rooms: u32,
) -> (String, String, String) {
    let (dav, calendar) = radicale_calendar().await;
    let city = unique_city("dav");
    let hotel = json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Dav Hotel", "city": city,
        "adapter": "caldav", "prepaid": true,
        "adapter_settings": { "base_url": dav, "room_types": [{ "code": "std", "calendar_path": calendar,
            "name_ar": "غرفة", "name_en": "Room", "rooms": rooms, "max_guests": 2, "nightly_price": "300.00" }] } });
    let created = app.post_ok("/v1/providers", admin, &hotel, 201).await;
    (
        created["id"].as_str().unwrap().to_owned(),
        city,
        format!("{dav}{calendar}"),
    )
}

async fn feed(calendar: &str) -> String {
    reqwest::get(calendar).await.unwrap().text().await.unwrap()
}

async fn booking(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_authed(&format!("/v1/bookings/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

/// Defect 1: a provider's refusal wrote `refund_amount` (including the provider's price,
/// never charged when it is paid on site) but refunded nothing.
#[tokio::test]
async fn a_provider_refusal_refunds_what_was_captured() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("refuse");
    let (provider, _) = app
        .local_hotel(&admin, &city, "On Site", 3, "450.00", 30)
        .await;
    // Paid on site: we charge only our fee.
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({ "prepaid": false }),
    )
    .await;
    let desk = app.provider_desk(&admin, &provider).await;
    let customer = token(&app.register("refused@example.com").await);
    let held = held(&app, &customer, &city, 10).await;
    let paid: Value = pay(&app, &customer, &held, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    let captured = money(&paid["payment"]["amount"]);
    assert!(
        captured < money(&held["price"]["total"]),
        "paid on site: only our fee is charged"
    );
    let id = held["id"].as_str().unwrap();

    let refused = app
        .post_ok(
            &format!("/v1/provider/bookings/{id}/ack"),
            &desk,
            &json!({ "decision": "refuse", "reason": "overbooked" }),
            200,
        )
        .await;
    assert_eq!(refused["status"], "failed");
    assert_eq!(
        money(&refused["refund_amount"]),
        captured,
        "the refund is what we captured, not the provider's price too"
    );
    app.run_pending_jobs().await;

    let payment_id = paid["payment"]["id"].as_str().unwrap();
    let payment: Value = app
        .get_authed(&format!("/v1/payments/{payment_id}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(money(&payment["payment"]["refunded"]), captured);
    assert_eq!(payment["refunds"][0]["status"], "succeeded", "{payment}");
    let invoices: Value = app
        .get_authed("/v1/invoices", &customer)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = invoices["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["credit_note", "invoice"]);
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(balance(&balances, "gateway_clearing"), Decimal::ZERO);
}

/// Defect 2 (and the race test): the expiry sweep deleted the provider's copy before
/// claiming the transition, so a 3-D Secure approval landing in between confirmed a booking
/// whose CalDAV event was gone. Every round must end whole: expired with the event gone and
/// the payment refunded, or confirmed with the event present.
#[tokio::test]
async fn expiry_and_a_3ds_approval_never_leave_a_booking_half_cancelled() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, city, calendar) = caldav_hotel(&app, &admin, 1).await;
    let customer = token(&app.register("race@example.com").await);
    let sweeper = app.worker("sweeper");
    let (mut expired, mut confirmed) = (0, 0);
    for round in 0..50 {
        let check_in = 2 + round;
        let offer = stay_offer(&app, &city, check_in, check_in + 1, 1).await;
        assert!(offer.is_object(), "round {round}: no offer");
        let response = book(
            &app,
            &customer,
            &Uuid::new_v4().to_string(),
            &json!({ "offer_id": offer["offer_id"] }),
        )
        .await;
        assert_eq!(response.status(), 201, "round {round}");
        let held: Value = response.json().await.unwrap();
        let reference = held["reference"].as_str().unwrap().to_owned();
        let started: Value = pay(&app, &customer, &held, CARD_3DS)
            .await
            .json()
            .await
            .unwrap();
        let action = started["payment"]["action_url"]
            .as_str()
            .unwrap()
            .to_owned();
        {
            let mut conn = app.db.connect();
            diesel::sql_query(
                "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE reference = $1",
            )
            .bind::<diesel::sql_types::Text, _>(&reference)
            .execute(&mut conn)
            .unwrap();
        }
        let sweep = async {
            // Let the approval start first in some rounds, the sweep in others.
            if round % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            sweeper.bookings.expire_due().await.unwrap();
        };
        let approve = async {
            if round % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            answer_3ds(&app, &action, "approve").await
        };
        let (_, answered) = tokio::join!(sweep, approve);
        assert_eq!(answered.status(), 303);
        app.run_pending_jobs().await;

        let now = booking(&app, &customer, held["id"].as_str().unwrap()).await;
        let on_calendar = feed(&calendar).await.contains(&reference);
        let payment = &now["payment"];
        match now["status"].as_str().unwrap() {
            "expired" => {
                expired += 1;
                assert!(
                    !on_calendar,
                    "round {round}: expired, but the event is there"
                );
                assert_eq!(
                    payment["refunded"], payment["amount"],
                    "round {round}: expired, but the payment was kept: {now}"
                );
            }
            "confirmed" => {
                confirmed += 1;
                assert!(
                    on_calendar,
                    "round {round}: confirmed, but the event is gone"
                );
                assert_eq!(payment["refunded"], "0.00", "round {round}");
            }
            other => panic!("round {round}: ended {other}: {now}"),
        }
    }
    println!("expired {expired}, confirmed {confirmed}");
}

/// Defect 6a: a worker claimed a batch under one lease and ran it in turn, so the later jobs
/// outlived the lease and a second worker ran them again.
#[tokio::test]
async fn a_job_claimed_with_others_is_not_run_twice_when_they_outlast_its_lease() {
    let app = spawn_app_with(|s| s.jobs.lease_secs = 2).await;
    let admin = app.admin_token().await;
    let (provider, _) = app
        .local_hotel(&admin, &unique_city("lease"), "Lease", 1, "100.00", 3)
        .await;
    // A receiver that takes 1.5 s to answer each delivery and counts them by webhook-id.
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buffer = vec![0u8; 16384];
                    let read = socket.read(&mut buffer).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buffer[..read]).to_lowercase();
                    if let Some(id) = request.lines().find_map(|l| l.strip_prefix("webhook-id:")) {
                        *seen
                            .lock()
                            .unwrap()
                            .entry(id.trim().to_owned())
                            .or_default() += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    let _ = socket
                        .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
    }
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({ "webhook_url": format!("http://127.0.0.1:{port}/hooks") }),
    )
    .await;
    {
        let mut conn = app.db.connect();
        for n in 0..3 {
            let job = wasit::jobs::Job::DeliverWebhook {
                provider_id: provider.parse().unwrap(),
                message_id: format!("msg_lease_{n}"),
                event_type: "booking.confirmed".into(),
                timestamp: chrono::Utc::now(),
                data: json!({ "n": n }),
            };
            wasit::jobs::queue::enqueue(&mut conn, &job, None, chrono::Utc::now()).unwrap();
        }
    }
    let first = app.worker("first");
    let second = app.worker("second");
    let other = async {
        // The second worker keeps looking for due work while the first is busy.
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            second.drain().await.unwrap();
        }
    };
    let (ran, _) = tokio::join!(first.drain(), other);
    ran.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.values().all(|count| *count == 1),
        "a delivery ran twice: {seen:?}"
    );
}

/// Defect 6b: the expiry sweep walked the holds one by one with provider calls inside one
/// job's timeout, so an unreachable provider kept local rooms held.
#[tokio::test]
async fn an_unreachable_provider_does_not_keep_local_rooms_held() {
    let app = spawn_app_with(|s| {
        s.jobs.job_timeout_secs = 3;
        s.search.provider_timeout_ms = 1000;
    })
    .await;
    let admin = app.admin_token().await;
    let (dav_provider, dav_city, _) = caldav_hotel(&app, &admin, 3).await;
    let customer = token(&app.register("stuck@example.com").await);
    for check_in in [3, 5, 7] {
        held(&app, &customer, &dav_city, check_in).await;
    }
    let local_city = unique_city("local");
    let (_, unit) = app
        .local_hotel(&admin, &local_city, "Local", 2, "200.00", 30)
        .await;
    let local = held(&app, &customer, &local_city, 4).await;
    // The hotel's calendar server stops answering; then every hold is past its time.
    let silent = silent_server().await;
    app.patch_ok(
        &format!("/v1/providers/{dav_provider}"),
        &admin,
        &json!({ "adapter_settings": { "base_url": format!("http://127.0.0.1:{silent}"),
            "room_types": [{ "code": "std", "calendar_path": "/x/std/", "name_ar": "غرفة", "name_en": "Room",
                "rooms": 3, "max_guests": 2, "nightly_price": "300.00" }] } }),
    )
    .await;
    {
        let mut conn = app.db.connect();
        diesel::sql_query(
            "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE status = 'held'",
        )
        .execute(&mut conn)
        .unwrap();
    }
    let pool = wasit::db::build_pool(&app.settings.database);
    wasit::worker::schedule::enqueue_tick(&pool, wasit::jobs::Job::ExpireHolds)
        .await
        .unwrap();
    // One pass of the worker: the sweep, and whatever it queued that is due.
    app.worker("sweeper").drain().await.unwrap();
    let now = booking(&app, &customer, local["id"].as_str().unwrap()).await;
    assert_eq!(now["status"], "expired", "{now}");
    let mut conn = app.db.connect();
    use wasit::schema::inventory_cells::dsl as c;
    let reserved: Option<i64> = c::inventory_cells
        .filter(c::unit_id.eq(unit.parse::<Uuid>().unwrap()))
        .select(diesel::dsl::sum(c::reserved))
        .first(&mut conn)
        .unwrap();
    assert_eq!(reserved.unwrap_or(0), 0, "the local room is free again");
}

/// Defect 7a: an agent could hand a held booking to the provider without payment and
/// without saying why.
#[tokio::test]
async fn an_agent_confirming_without_payment_must_give_a_reason() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 3).await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let customer = token(&app.register("unpaid@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let path = format!("/v1/bookings/{}/confirm", booking["id"].as_str().unwrap());

    let problem = assert_problem(
        app.post_json_authed(&path, &agent, &json!({})).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["reason"]);
    let confirmed = app
        .post_ok(
            &path,
            &agent,
            &json!({ "reason": "the client pays cash at the office" }),
            200,
        )
        .await;
    assert_eq!(confirmed["status"], "pending");
    let entries: Value = app
        .get_authed("/v1/audit?action=booking.confirm", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        entries["entries"][0]["details"]["reason"], "the client pays cash at the office",
        "{entries}"
    );
}

/// Defect 7b: an agent could refund any amount up to what was captured.
#[tokio::test]
async fn a_staff_refund_above_the_limit_needs_an_admin() {
    // The limit is `billing.staff_refund_limit`: 500.00 unless configured.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let city = hotel(&app, &admin, 3).await;
    let customer = token(&app.register("limit@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let paid: Value = pay(&app, &customer, &booking, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    let path = format!(
        "/v1/payments/{}/refunds",
        paid["payment"]["id"].as_str().unwrap()
    );
    let big = json!({ "amount": "600.00", "reason": "goodwill" });
    assert_problem(
        post_keyed(&app, &path, &agent, &big).await,
        403,
        "refund.needs_admin",
    )
    .await;
    assert_eq!(
        post_keyed(
            &app,
            &path,
            &agent,
            &json!({ "amount": "300.00", "reason": "goodwill" })
        )
        .await
        .status(),
        202
    );
    assert_eq!(post_keyed(&app, &path, &admin, &big).await.status(), 202);
}

/// Defect 8: a provider endpoint turned off by a 410 looked on.
#[tokio::test]
async fn a_provider_turned_off_by_410_says_so_until_a_new_url() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, _) = app
        .local_hotel(&admin, &unique_city("gone"), "Gone", 1, "100.00", 3)
        .await;
    let gone =
        canned_server("HTTP/1.1 410 Gone\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into())
            .await;
    let path = format!("/v1/providers/{provider}");
    let patch = |url: String| {
        let (app, admin, path) = (&app, admin.clone(), path.clone());
        async move {
            app.patch_ok(&path, &admin, &json!({ "webhook_url": url }))
                .await
        }
    };
    let on = patch(format!("http://127.0.0.1:{gone}/hooks")).await;
    assert!(on["webhook_disabled_at"].is_null(), "{on}");
    {
        let mut conn = app.db.connect();
        let job = wasit::jobs::Job::DeliverWebhook {
            provider_id: provider.parse().unwrap(),
            message_id: "msg_gone".into(),
            event_type: "booking.confirmed".into(),
            timestamp: chrono::Utc::now(),
            data: json!({}),
        };
        wasit::jobs::queue::enqueue(&mut conn, &job, None, chrono::Utc::now()).unwrap();
    }
    app.run_pending_jobs().await;
    let seen: Value = app
        .get_authed(&format!("/v1/providers/{provider}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(seen["webhook_disabled_at"].is_string(), "{seen}");
    let back = patch(format!("http://127.0.0.1:{gone}/new-hooks")).await;
    assert!(back["webhook_disabled_at"].is_null(), "{back}");
}

/// Many agents confirming one held booking at once: exactly one moves it, with one
/// `pending` event and one confirmation job (the lifecycle claims before it acts).
#[tokio::test]
async fn concurrent_transitions_of_one_booking_claim_it_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 3).await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let customer = token(&app.register("claims@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let id = booking["id"].as_str().unwrap();
    let path = format!("/v1/bookings/{id}/confirm");
    let attempts = (0..10)
        .map(|_| {
            let (app, agent, path) = (&app, agent.clone(), path.clone());
            async move {
                app.post_json_authed(&path, &agent, &json!({ "reason": "cash at the office" }))
                    .await
                    .status()
                    .as_u16()
            }
        })
        .collect();
    let statuses = join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );
    assert_eq!(booking_events(&app, id), ["held", "pending"]);
    let mut conn = app.db.connect();
    let jobs: i64 = wasit::schema::jobs::table
        .filter(wasit::schema::jobs::kind.eq("confirm_booking"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(jobs, 1);
}

fn booking_events(app: &TestApp, id: &str) -> Vec<String> {
    let mut conn = app.db.connect();
    use wasit::schema::booking_events::dsl as e;
    e::booking_events
        .filter(e::booking_id.eq(id.parse::<Uuid>().unwrap()))
        .order(e::id)
        .select(e::to_status)
        .load(&mut conn)
        .unwrap()
}

/// Issue #13, "one money path": every cause of a refund (a customer's cancel, a provider's
/// refusal, a booking the provider never confirmed, a payment that lands after its hold
/// ended, a plan change, a staff refund) is reserved on its payment and executed by the one
/// refund job: each gets its gateway refund and credit note, and the ledger's clearing
/// account ends at captured − refunded.
#[tokio::test]
async fn every_refund_cause_goes_through_the_one_refund_path() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 10).await;
    let customer = token(&app.register("causes@example.com").await);
    let paid = |check_in: i64| {
        let (app, customer, city) = (&app, customer.clone(), city.clone());
        async move {
            let booking = held(app, &customer, &city, check_in).await;
            let response = pay(app, &customer, &booking, CARD_OK).await;
            assert_eq!(response.status(), 200);
            booking["id"].as_str().unwrap().to_owned()
        }
    };

    // 1. The customer cancels (ten days ahead: the policy gives everything back).
    let cancelled = paid(10).await;
    app.post_ok(
        &format!("/v1/bookings/{cancelled}/cancel"),
        &customer,
        &json!({}),
        200,
    )
    .await;
    // 2. The provider refuses a pending booking.
    let provider_id: String = {
        let mut conn = app.db.connect();
        wasit::schema::bookings::table
            .find(cancelled.parse::<Uuid>().unwrap())
            .select(wasit::schema::bookings::provider_id)
            .first::<Uuid>(&mut conn)
            .unwrap()
            .to_string()
    };
    let desk = app.provider_desk(&admin, &provider_id).await;
    let refused = paid(12).await;
    app.post_ok(
        &format!("/v1/provider/bookings/{refused}/ack"),
        &desk,
        &json!({ "decision": "refuse" }),
        200,
    )
    .await;
    // 3. The provider never confirms: the confirmation job's last attempt fails it.
    let unconfirmed = paid(14).await;
    app.worker("w")
        .bookings
        .fail_unconfirmed(unconfirmed.parse().unwrap(), "no answer")
        .await
        .unwrap();
    // 4. The money lands after the hold expired.
    let late = held(&app, &customer, &city, 16).await;
    let started: Value = pay(&app, &customer, &late, CARD_3DS)
        .await
        .json()
        .await
        .unwrap();
    {
        let mut conn = app.db.connect();
        diesel::sql_query(
            "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(late["id"].as_str().unwrap().parse::<Uuid>().unwrap())
        .execute(&mut conn)
        .unwrap();
    }
    app.worker("sweeper").bookings.expire_due().await.unwrap();
    answer_3ds(
        &app,
        started["payment"]["action_url"].as_str().unwrap(),
        "approve",
    )
    .await;
    // 5. A plan change credits the unused time.
    let mut body = crate::payments::card(CARD_OK);
    body["plan"] = json!("business");
    assert_eq!(
        post_keyed(&app, "/v1/subscriptions", &customer, &body)
            .await
            .status(),
        201
    );
    assert_eq!(
        post_keyed(
            &app,
            "/v1/subscriptions/me/change",
            &customer,
            &json!({ "plan": "plus" })
        )
        .await
        .status(),
        200
    );
    // 6. Staff refund part of a payment.
    let goodwill = paid(18).await;
    let payment: Value = app
        .get_authed(&format!("/v1/bookings/{goodwill}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    let payment_id = payment["payment"]["id"].as_str().unwrap();
    assert_eq!(
        post_keyed(
            &app,
            &format!("/v1/payments/{payment_id}/refunds"),
            &admin,
            &json!({ "amount": "10.00", "reason": "goodwill" })
        )
        .await
        .status(),
        202
    );
    app.run_pending_jobs().await;

    let mut conn = app.db.connect();
    // Every refund went through the gateway and got its credit note.
    let refunds: Vec<(Uuid, String, Decimal)> = wasit::schema::refunds::table
        .select((
            wasit::schema::refunds::id,
            wasit::schema::refunds::status,
            wasit::schema::refunds::amount,
        ))
        .load(&mut conn)
        .unwrap();
    assert_eq!(refunds.len(), 6, "one refund per cause: {refunds:?}");
    for (id, status, amount) in &refunds {
        assert_eq!(status, "succeeded", "refund {id} of {amount}");
        let notes: i64 = wasit::schema::invoices::table
            .filter(wasit::schema::invoices::refund_id.eq(id))
            .filter(wasit::schema::invoices::series.eq("CRN"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(notes, 1, "refund {id} has its credit note");
    }
    // Each booking cause names its refund on the booking.
    for (id, status) in [
        (&cancelled, "cancelled"),
        (&refused, "failed"),
        (&unconfirmed, "failed"),
    ] {
        let now = booking(&app, &customer, id).await;
        assert_eq!(now["status"], status);
        assert_eq!(now["refund_amount"], now["payment"]["amount"], "{now}");
        assert_eq!(
            now["payment"]["refunded"], now["payment"]["amount"],
            "{now}"
        );
    }
    let (captured, refunded): (Option<Decimal>, Option<Decimal>) = wasit::schema::payments::table
        .filter(wasit::schema::payments::status.eq("succeeded"))
        .select((
            diesel::dsl::sum(wasit::schema::payments::amount),
            diesel::dsl::sum(wasit::schema::payments::refunded),
        ))
        .first(&mut conn)
        .unwrap();
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        captured.unwrap() - refunded.unwrap(),
        "clearing = captured − refunded"
    );
}

/// Defect 9 for payments and plan changes: their answer is saved with the work, in the
/// transaction that settles the payment or makes the change, and the request answers
/// exactly those bytes; a retry replays them.
#[tokio::test]
async fn a_payment_and_a_plan_change_answer_what_their_transaction_saved() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 3).await;
    let customer = token(&app.register("answers@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let pay_path = format!("/v1/bookings/{}/pay", booking["id"].as_str().unwrap());
    let mut change_body = crate::payments::card(CARD_OK);
    change_body["plan"] = json!("business");
    assert_eq!(
        post_keyed(&app, "/v1/subscriptions", &customer, &change_body)
            .await
            .status(),
        201
    );
    for (path, body, key) in [
        (
            pay_path.as_str(),
            crate::payments::card(CARD_OK),
            "pay-once",
        ),
        (
            "/v1/subscriptions/me/change",
            json!({ "plan": "plus" }),
            "change-once",
        ),
    ] {
        let send = || {
            app.client
                .post(app.url(path))
                .bearer_auth(&customer)
                .header("idempotency-key", key)
                .json(&body)
                .send()
        };
        let first = send().await.unwrap();
        assert_eq!(first.status(), 200, "{path}");
        let first_body = first.bytes().await.unwrap();
        let saved: (Option<i16>, Option<Vec<u8>>) = {
            let mut conn = app.db.connect();
            use wasit::schema::idempotency_keys::dsl as k;
            k::idempotency_keys
                .filter(k::key.eq(key))
                .select((k::response_status, k::response_body))
                .first(&mut conn)
                .unwrap()
        };
        assert_eq!(saved.0, Some(200), "{path}");
        assert_eq!(
            saved.1.as_deref(),
            Some(first_body.as_ref()),
            "{path}: the answer is what was saved"
        );
        let again = send().await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.bytes().await.unwrap(), first_body, "{path}");
    }
}
