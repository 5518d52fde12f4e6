//! Waitlists (#16 point 2) against the real database: joining (for oneself, or by an agent
//! for a client), its checks and duplicates, reading and leaving; a freed room offered to
//! the first waiter as a real hold, told by email (maildev) and text (the outbox), passing
//! to the next when it lapses; and 50 waiters with 3 cancellations at once: exactly 3
//! offers, each paid and confirmed, no cell over capacity, 47 still waiting.

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{
    TestApp, assert_problem, day, held, join_all, problem_fields, spawn_app, token, unique_city,
};
use crate::payments::{CARD_OK, pay, post_keyed};

/// A local hotel of `rooms` rooms in a city of its own; returns (city, provider id, unit code).
async fn hotel(app: &TestApp, admin: &str, rooms: i32) -> (String, String, String) {
    let city = unique_city("wait");
    let (provider_id, unit_id) = app
        .local_hotel(admin, &city, "Corniche", rooms, "300.00", 30)
        .await;
    let code: String = diesel::sql_query(format!("SELECT code FROM units WHERE id = '{unit_id}'"))
        .get_result::<UnitCode>(&mut app.db.connect())
        .unwrap()
        .code;
    (city, provider_id, code)
}

#[derive(QueryableByName)]
struct UnitCode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    code: String,
}

/// A verified customer; returns (token, email).
async fn customer(app: &TestApp) -> (String, String) {
    let email = format!("waiter-{}@example.com", uuid::Uuid::new_v4().simple());
    (token(&app.register(&email).await), email)
}

/// The two nights `held` books (3 and 4 days from now) on the waitlist of the hotel's room.
fn stay(provider_id: &str, code: &str) -> Value {
    json!({ "provider_id": provider_id, "unit_code": code, "check_in": day(3), "check_out": day(5), "guests": 2 })
}

async fn join(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    post_keyed(app, "/v1/waitlist", token, body).await
}

async fn mine(app: &TestApp, token: &str) -> Vec<Value> {
    let page: Value = app
        .get_authed("/v1/waitlist/me", token)
        .await
        .json()
        .await
        .unwrap();
    page["entries"].as_array().unwrap().clone()
}

/// Counts of entries by status.
fn statuses(app: &TestApp) -> Vec<(String, i64)> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(
        "SELECT status, count(*) AS n FROM waitlist_entries GROUP BY status ORDER BY status",
    )
    .load::<Count>(&mut app.db.connect())
    .unwrap()
    .into_iter()
    .map(|c| (c.status, c.n))
    .collect()
}

/// Cells whose reservations exceed their capacity (there must be none).
fn cells_over_capacity(app: &TestApp) -> i64 {
    #[derive(QueryableByName)]
    struct Over {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM inventory_cells WHERE reserved > capacity")
        .get_result::<Over>(&mut app.db.connect())
        .unwrap()
        .n
}

async fn cancel(app: &TestApp, token: &str, id: &str) {
    let response = post_keyed(app, &format!("/v1/bookings/{id}/cancel"), token, &json!({})).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn joining_is_checked_once_per_request_listed_and_left() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, provider_id, code) = hotel(&app, &admin, 1).await;
    let (sara, _) = customer(&app).await;
    let body = stay(&provider_id, &code);

    let missing_key = app.post_json_authed("/v1/waitlist", &sara, &body).await;
    assert_problem(missing_key, 400, "idempotency.key_required").await;

    let entry: Value = join(&app, &sara, &body).await.json().await.unwrap();
    assert_eq!(entry["status"], "waiting", "{entry}");
    assert_eq!(entry["kind"], "stay");
    assert_eq!(entry["from"], day(3));
    assert_eq!(entry["to"], day(5));
    let again = join(&app, &sara, &body).await;
    assert_problem(again, 409, "waitlist.duplicate").await;

    // Bad input names its field and writes nothing.
    for (change, field) in [
        (
            json!({ "check_in": day(-2), "check_out": day(1) }),
            "check_in",
        ),
        (json!({ "check_out": day(3) }), "check_out"),
        (
            json!({ "check_in": day(400), "check_out": day(402) }),
            "check_in",
        ),
        (json!({ "guests": 9 }), "guests"),
        (json!({ "unit_code": "no-such-room" }), "unit_code"),
        (json!({ "from": day(3) }), "from"),
        (json!({ "check_in": "3rd of May" }), "check_in"),
    ] {
        let mut bad = body.clone();
        for (key, value) in change.as_object().unwrap() {
            bad[key] = value.clone();
        }
        let problem = assert_problem(join(&app, &sara, &bad).await, 422, "validation.failed").await;
        assert_eq!(problem_fields(&problem), [field], "{problem}");
    }
    let customer_naming_someone = json!({ "customer_id": uuid::Uuid::new_v4() });
    let mut bad = body.clone();
    bad["customer_id"] = customer_naming_someone["customer_id"].clone();
    assert_problem(join(&app, &sara, &bad).await, 403, "auth.forbidden").await;

    // An agent puts a phone client on the list: attributed and audited.
    let agent = token(&app.user_with_role(Role::Agent).await);
    let without_client = join(&app, &agent, &body).await;
    let problem = assert_problem(without_client, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["customer_id"]);
    let client = app
        .post_ok(
            "/v1/customers",
            &agent,
            &json!({ "full_name": "Huda Al-Qahtani", "phone": "+966501112233" }),
            201,
        )
        .await;
    let mut for_client = body.clone();
    for_client["customer_id"] = client["id"].clone();
    let entry_for_client: Value = join(&app, &agent, &for_client).await.json().await.unwrap();
    assert_eq!(
        entry_for_client["customer_id"], client["id"],
        "{entry_for_client}"
    );
    let audited: i64 =
        diesel::sql_query("SELECT count(*) AS n FROM audit_log WHERE action = 'waitlist.join'")
            .get_result::<Counted>(&mut app.db.connect())
            .unwrap()
            .n;
    assert_eq!(audited, 1);
    let clients: Value = app
        .get_authed(
            &format!(
                "/v1/waitlist?customer_id={}",
                client["id"].as_str().unwrap()
            ),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clients["entries"].as_array().unwrap().len(), 1, "{clients}");
    assert_eq!(app.get_authed("/v1/waitlist", &sara).await.status(), 403);

    // Each sees their own; another customer cannot take Sara's off.
    let listed = mine(&app, &sara).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], entry["id"]);
    let (omar, _) = customer(&app).await;
    assert!(mine(&app, &omar).await.is_empty());
    let path = format!("/v1/waitlist/{}", entry["id"].as_str().unwrap());
    let not_hers = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&omar)
        .send()
        .await
        .unwrap();
    assert_problem(not_hers, 404, "resource.not_found").await;
    for _ in 0..2 {
        let left = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&sara)
            .send()
            .await
            .unwrap();
        assert_eq!(left.status(), 200);
        let left: Value = left.json().await.unwrap();
        assert_eq!(left["status"], "left");
    }
    // Once left, the same request may be joined again.
    assert_eq!(join(&app, &sara, &body).await.status(), 201);
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn a_freed_room_is_offered_to_the_first_waiter_and_a_lapsed_offer_passes_on() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider_id, code) = hotel(&app, &admin, 1).await;
    let (guest, _) = customer(&app).await;
    let booked = held(&app, &guest, &city, 3).await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    app.confirm_paid_at_office(&agent, booked["id"].as_str().unwrap())
        .await;
    app.run_pending_jobs().await;

    let (first, first_email) = customer(&app).await;
    app.patch_ok(
        "/v1/me/sms",
        &first,
        &json!({ "opted_in": true, "phone": "050 765 4321" }),
    )
    .await;
    let (second, _) = customer(&app).await;
    for waiter in [&first, &second] {
        assert_eq!(
            join(&app, waiter, &stay(&provider_id, &code))
                .await
                .status(),
            201
        );
    }
    // Sold out: joining offers nothing.
    app.run_pending_jobs().await;
    assert!(mine(&app, &first).await[0]["offer"].is_null());

    cancel(&app, &guest, booked["id"].as_str().unwrap()).await;
    app.run_pending_jobs().await;
    let offered = mine(&app, &first).await.remove(0);
    assert_eq!(offered["status"], "offered", "{offered}");
    let offer = &offered["offer"];
    assert_eq!(offer["booking_status"], "held");
    assert_eq!(mine(&app, &second).await[0]["status"], "waiting");
    // The hold is the first waiter's own booking, for the offer's time.
    let booking: Value = app
        .get_authed(
            &format!("/v1/bookings/{}", offer["booking_id"].as_str().unwrap()),
            &first,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(booking["status"], "held", "{booking}");
    let expires: chrono::DateTime<chrono::Utc> =
        offer["hold_expires_at"].as_str().unwrap().parse().unwrap();
    let minutes = (expires - chrono::Utc::now()).num_minutes();
    assert!((28..=30).contains(&minutes), "{minutes} minutes");

    // Told by email, with a link to the held booking, and by text.
    let mails = crate::email::inbox(&app, &first_email).await;
    let mail = mails
        .iter()
        .find(|m| {
            m["headers"]["message-id"]
                .as_str()
                .is_some_and(|id| id.starts_with("<waitlist-offer."))
        })
        .unwrap_or_else(|| panic!("no offer mail in {mails:?}"));
    let link = format!("#/booking/{}", offer["booking_id"].as_str().unwrap());
    assert!(
        mail["text"].as_str().unwrap().contains(&link),
        "{}",
        mail["text"]
    );
    let texts: Vec<(String, String)> =
        diesel::sql_query("SELECT purpose, body FROM sms_messages ORDER BY created_at")
            .load::<Text>(&mut app.db.connect())
            .unwrap()
            .into_iter()
            .map(|t| (t.purpose, t.body))
            .collect();
    assert!(
        texts
            .iter()
            .any(|(purpose, body)| purpose == "waitlist_offer" && body.contains(&link)),
        "{texts:?}"
    );

    // The offer lapses unpaid: the room passes to the second waiter.
    diesel::sql_query(format!(
        "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE id = '{}'",
        offer["booking_id"].as_str().unwrap()
    ))
    .execute(&mut app.db.connect())
    .unwrap();
    app.state.bookings.expire_due().await.unwrap();
    app.run_pending_jobs().await;
    assert_eq!(mine(&app, &first).await[0]["status"], "lapsed");
    let passed_on = mine(&app, &second).await.remove(0);
    assert_eq!(passed_on["status"], "offered", "{passed_on}");

    // Accepting is paying the hold: the booking is confirmed, the entry booked.
    let hold = json!({ "id": passed_on["offer"]["booking_id"] });
    assert_eq!(pay(&app, &second, &hold, CARD_OK).await.status(), 200);
    app.run_pending_jobs().await;
    let accepted = mine(&app, &second).await.remove(0);
    assert_eq!(accepted["status"], "booked", "{accepted}");
    assert_eq!(accepted["offer"]["booking_status"], "confirmed");
    assert_eq!(cells_over_capacity(&app), 0);
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    purpose: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    body: String,
}

#[tokio::test]
async fn fifty_waiters_and_three_cancellations_at_once_get_exactly_three_offers() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider_id, code) = hotel(&app, &admin, 3).await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let mut guests = Vec::new();
    for _ in 0..3 {
        let (guest, _) = customer(&app).await;
        let booking = held(&app, &guest, &city, 3).await;
        app.confirm_paid_at_office(&agent, booking["id"].as_str().unwrap())
            .await;
        guests.push((guest, booking));
    }
    app.run_pending_jobs().await;

    let mut waiters = Vec::new();
    for _ in 0..50 {
        waiters.push(customer(&app).await.0);
    }
    let body = stay(&provider_id, &code);
    let joined = join_all(waiters.iter().map(|w| join(&app, w, &body)).collect()).await;
    assert!(joined.iter().all(|r| r.status() == 201));
    app.run_pending_jobs().await;
    assert_eq!(statuses(&app), [("waiting".to_owned(), 50)]);

    // Three cancellations at once, then four workers at once on the jobs they queued.
    join_all(
        guests
            .iter()
            .map(|(guest, booking)| cancel(&app, guest, booking["id"].as_str().unwrap()))
            .collect(),
    )
    .await;
    let workers: Vec<_> = (0..4).map(|n| app.worker(&format!("w{n}"))).collect();
    join_all(workers.iter().map(|w| w.drain()).collect())
        .await
        .into_iter()
        .for_each(|ran| {
            ran.unwrap();
        });
    app.run_pending_jobs().await;
    assert_eq!(
        statuses(&app),
        [("offered".to_owned(), 3), ("waiting".to_owned(), 47)]
    );
    assert_eq!(cells_over_capacity(&app), 0);

    // Each offer is honoured: its waiter pays and is confirmed.
    let mut confirmed = 0;
    for waiter in &waiters {
        let entry = mine(&app, waiter).await.remove(0);
        if entry["status"] != "offered" {
            continue;
        }
        let hold = json!({ "id": entry["offer"]["booking_id"] });
        assert_eq!(pay(&app, waiter, &hold, CARD_OK).await.status(), 200);
        confirmed += 1;
    }
    assert_eq!(confirmed, 3);
    app.run_pending_jobs().await;
    assert_eq!(
        statuses(&app),
        [("booked".to_owned(), 3), ("waiting".to_owned(), 47)]
    );
    let full: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM inventory_cells WHERE reserved = capacity AND capacity = 3",
    )
    .get_result::<Counted>(&mut app.db.connect())
    .unwrap()
    .n;
    assert_eq!(full, 2, "both nights are full again, and no more");
    assert_eq!(cells_over_capacity(&app), 0);
}

#[tokio::test]
async fn leaving_with_an_offer_declines_it_and_the_next_waiter_is_offered_the_room() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider_id, code) = hotel(&app, &admin, 1).await;
    let (guest, _) = customer(&app).await;
    let booked = held(&app, &guest, &city, 3).await;
    let (first, _) = customer(&app).await;
    let (second, _) = customer(&app).await;
    for waiter in [&first, &second] {
        assert_eq!(
            join(&app, waiter, &stay(&provider_id, &code))
                .await
                .status(),
            201
        );
    }
    cancel(&app, &guest, booked["id"].as_str().unwrap()).await;
    app.run_pending_jobs().await;
    let offered = mine(&app, &first).await.remove(0);
    assert_eq!(offered["status"], "offered", "{offered}");

    let path = format!("/v1/waitlist/{}", offered["id"].as_str().unwrap());
    let left = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    let status = left.status();
    let left: Value = left.json().await.unwrap();
    assert_eq!(status, 200, "{left}");
    assert_eq!(left["status"], "left");
    assert_eq!(left["offer"]["booking_status"], "cancelled");
    app.run_pending_jobs().await;
    assert_eq!(mine(&app, &second).await[0]["status"], "offered");
    assert_eq!(cells_over_capacity(&app), 0);
}

/// A local hospital whose one clinic opens the day after tomorrow, 10:00 to 11:00 (two
/// 30-minute slots). Returns (city, provider id, unit id, unit code).
async fn clinic(app: &TestApp, admin: &str) -> (String, String, String, String) {
    let city = unique_city("waitclinic");
    let hospital = json!({ "kind": "hospital", "name_ar": "مستشفى الشفاء", "name_en": "Shifa Hospital", "city": city, "adapter": "local" });
    let provider_id = app.post_ok("/v1/providers", admin, &hospital, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unit = json!({ "kind": "clinic_service", "name_ar": "قلب", "name_en": "Cardiology", "specialty": "cardiology", "slot_minutes": 30, "price": "300.00" });
    let unit = app
        .post_ok(
            &format!("/v1/providers/{provider_id}/units"),
            admin,
            &unit,
            201,
        )
        .await;
    let unit_id = unit["id"].as_str().unwrap().to_owned();
    open_clinic_day(app, admin, &provider_id, &unit_id, 2).await;
    let code = unit["code"].as_str().unwrap().to_owned();
    (city, provider_id, unit_id, code)
}

async fn open_clinic_day(app: &TestApp, admin: &str, provider_id: &str, unit_id: &str, days: i64) {
    let every_day = json!(["sun", "mon", "tue", "wed", "thu", "fri", "sat"]);
    app.post_ok(
        &format!("/v1/providers/{provider_id}/units/{unit_id}/availability"),
        admin,
        &json!({ "from": day(days), "to": day(days), "day_start": "10:00", "day_end": "11:00", "weekdays": every_day }),
        200,
    )
    .await;
}

#[tokio::test]
async fn a_clinic_waiter_is_offered_a_freed_slot_and_slots_an_admin_opens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider_id, unit_id, code) = clinic(&app, &admin).await;
    // Someone takes both slots.
    let (guest, _) = customer(&app).await;
    let results: Value = app
        .search(&format!(
            "kind=hospital&city={city}&from={}&to={}",
            day(1),
            day(3)
        ))
        .await
        .json()
        .await
        .unwrap();
    let slots = results["offers"].as_array().unwrap().clone();
    assert_eq!(slots.len(), 2, "{results}");
    let mut taken = Vec::new();
    for slot in &slots {
        let body = json!({ "offer_id": slot["offer_id"], "patient": crate::helpers::patient() });
        let response =
            crate::helpers::book(&app, &guest, &uuid::Uuid::new_v4().to_string(), &body).await;
        assert_eq!(response.status(), 201);
        taken.push(response.json::<Value>().await.unwrap());
    }

    // A clinic waits for days and needs its patient; a room type's fields are refused.
    let days =
        json!({ "provider_id": provider_id, "unit_code": code, "from": day(1), "to": day(3) });
    let (first, _) = customer(&app).await;
    let problem = assert_problem(join(&app, &first, &days).await, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["patient"]);
    let mut with_guests = days.clone();
    with_guests["guests"] = json!(2);
    with_guests["patient"] = crate::helpers::patient();
    let problem = assert_problem(
        join(&app, &first, &with_guests).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["guests"]);
    let mut asked = days.clone();
    asked["patient"] = crate::helpers::patient();
    let entry: Value = join(&app, &first, &asked).await.json().await.unwrap();
    assert_eq!(entry["kind"], "slot", "{entry}");
    assert!(
        entry.get("patient").is_none(),
        "the patient is shown back: {entry}"
    );
    let (second, _) = customer(&app).await;
    assert_eq!(join(&app, &second, &asked).await.status(), 201);
    app.run_pending_jobs().await;
    assert_eq!(statuses(&app), [("waiting".to_owned(), 2)]);

    // The second slot is given back: the first waiter holds it, for their patient.
    cancel(&app, &guest, taken[1]["id"].as_str().unwrap()).await;
    app.run_pending_jobs().await;
    let offered = mine(&app, &first).await.remove(0);
    assert_eq!(offered["status"], "offered", "{offered}");
    let booking: Value = app
        .get_authed(
            &format!(
                "/v1/bookings/{}",
                offered["offer"]["booking_id"].as_str().unwrap()
            ),
            &first,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(booking["start"], taken[1]["start"], "{booking}");
    assert_eq!(
        booking["patient"]["full_name"], "Fatima Al-Harbi",
        "{booking}"
    );

    // The admin opens another day: the second waiter is offered its first slot.
    open_clinic_day(&app, &admin, &provider_id, &unit_id, 3).await;
    app.run_pending_jobs().await;
    let opened = mine(&app, &second).await.remove(0);
    assert_eq!(opened["status"], "offered", "{opened}");
    assert_eq!(statuses(&app), [("offered".to_owned(), 2)]);
    assert_eq!(cells_over_capacity(&app), 0);
    // Offered, the entries forget the patient: each booking keeps its own copy.
    let kept: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM waitlist_entries WHERE patient_id_number IS NOT NULL",
    )
    .get_result::<Counted>(&mut app.db.connect())
    .unwrap()
    .n;
    assert_eq!(kept, 0);
}

#[tokio::test]
async fn a_retried_join_is_replayed_and_joins_at_once_make_one_entry() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, provider_id, code) = hotel(&app, &admin, 1).await;
    let (sara, _) = customer(&app).await;
    let body = stay(&provider_id, &code);
    let send = |key: String| {
        app.client
            .post(app.url("/v1/waitlist"))
            .bearer_auth(&sara)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send("join-once".into()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send("join-once".into()).await.unwrap();
    assert_eq!(again.status(), 201);
    assert!(again.headers().contains_key("idempotent-replayed"));
    assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);

    // Another customer taps "notify me" ten times at once, each with its own key.
    let (omar, _) = customer(&app).await;
    let answers = join_all((0..10).map(|_| join(&app, &omar, &body)).collect()).await;
    let mut created = 0;
    for answer in answers {
        match answer.status().as_u16() {
            201 => created += 1,
            _ => {
                assert_problem(answer, 409, "waitlist.duplicate").await;
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(statuses(&app), [("waiting".to_owned(), 2)]);
}
