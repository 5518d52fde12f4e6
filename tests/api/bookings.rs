//! Holds that never overbook, idempotent creation, the state machine, cancellation refunds,
//! agents booking for clients, and who sees what.

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{
    TestApp, assert_problem, book, day, join_all, problem_fields, spawn_app, stay_offer, token,
};

fn cells(app: &TestApp, unit_id: &str) -> Vec<(i32, i32)> {
    let mut conn = app.db.connect();
    use wasit::schema::inventory_cells::dsl as c;
    c::inventory_cells
        .filter(c::unit_id.eq(unit_id.parse::<uuid::Uuid>().unwrap()))
        .order(c::starts_at)
        .select((c::capacity, c::reserved))
        .load(&mut conn)
        .unwrap()
}

fn booking_count(app: &TestApp) -> i64 {
    let mut conn = app.db.connect();
    wasit::schema::bookings::table
        .count()
        .get_result(&mut conn)
        .unwrap()
}

#[tokio::test]
async fn a_customer_holds_an_offer_and_its_nights_are_reserved() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Hilton", 5, "450.00", 10)
        .await;
    let customer = app.register("sara@example.com").await;
    let offer = stay_offer(&app, "jeddah", 2, 4, 2).await;

    let response = book(
        &app,
        &token(&customer),
        "k1",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    let reference = booking["reference"].as_str().unwrap();
    assert!(regex_like_reference(reference), "{reference}");
    assert_eq!(booking["status"], "held");
    assert_eq!(booking["channel"], "web");
    assert_eq!(booking["created_by"], Value::Null);
    assert_eq!(booking["price"]["total"], "928.75");
    assert_eq!(booking["next"]["action"], "pay");
    assert_eq!(booking["contact"]["name"], "Sara Al-Harbi");
    assert_eq!(
        booking["unit"],
        json!({ "code": "deluxe-room", "name_ar": "غرفة ديلوكس", "name_en": "Deluxe room" }),
        "what was booked, by its readable code and name"
    );
    let hold =
        chrono::DateTime::parse_from_rfc3339(booking["hold_expires_at"].as_str().unwrap()).unwrap();
    let minutes = (hold.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((13..=15).contains(&minutes), "{minutes}");

    let nights = cells(&app, &unit_id);
    assert_eq!(nights[2..4], [(5, 1), (5, 1)], "the two nights of the stay");
    assert!(
        nights
            .iter()
            .enumerate()
            .all(|(i, c)| (2..4).contains(&i) || c.1 == 0)
    );

    let fetched: Value = app
        .get_authed(
            &format!("/v1/bookings/{}", reference.to_lowercase()),
            &token(&customer),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["id"], booking["id"]);
    assert_eq!(fetched["events"][0]["to_status"], "held");
    assert_eq!(fetched["events"][0]["actor_id"], customer["user"]["id"]);
}

fn regex_like_reference(reference: &str) -> bool {
    reference.len() == 9
        && reference.starts_with("WS-")
        && reference[3..]
            .bytes()
            .all(|b| b"23456789ABCDEFGHJKMNPQRSTUVWXYZ".contains(&b))
}

#[tokio::test]
async fn two_hundred_concurrent_holds_on_five_rooms_sell_exactly_five() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "makkah", "Towers", 5, "300.00", 5)
        .await;
    let customer = token(&app.register("crowd@example.com").await);
    let offer = stay_offer(&app, "makkah", 1, 2, 2).await;
    let body = json!({ "offer_id": offer["offer_id"] });

    let keys: Vec<String> = (0..200).map(|i| format!("race-{i}")).collect();
    let requests = keys.iter().map(|key| book(&app, &customer, key, &body));
    let responses = join_all(requests.collect()).await;
    let mut created = 0;
    let mut sold_out = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            409 => {
                let problem: Value = response.json().await.unwrap();
                assert_eq!(problem["code"], "booking.sold_out");
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!((created, sold_out), (5, 195));
    assert_eq!(cells(&app, &unit_id)[1], (5, 5), "reserved equals capacity");
    assert_eq!(booking_count(&app), 5, "no booking without its cells");
}

#[tokio::test]
async fn a_multi_night_stay_racing_single_nights_never_overbooks_any_night() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "riyadh", "Olaya", 5, "300.00", 6)
        .await;
    let customer = token(&app.register("mixed@example.com").await);
    let long = json!({ "offer_id": stay_offer(&app, "riyadh", 1, 4, 2).await["offer_id"] });
    let short = json!({ "offer_id": stay_offer(&app, "riyadh", 2, 3, 2).await["offer_id"] });

    let keys: Vec<(String, &Value)> = (0..200)
        .map(|i| (format!("mix-{i}"), if i % 2 == 0 { &long } else { &short }))
        .collect();
    let responses = join_all(
        keys.iter()
            .map(|(key, body)| book(&app, &customer, key, body))
            .collect(),
    )
    .await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let won = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(won, 5, "the shared night has five rooms");

    let nights = cells(&app, &unit_id);
    assert!(
        nights
            .iter()
            .all(|(capacity, reserved)| reserved <= capacity)
    );
    assert_eq!(nights[2], (5, 5), "the contested night is full, not over");
    let long_stays = nights[1].1;
    assert_eq!(nights[3].1, long_stays, "long stays hold all three nights");
    let mut conn = app.db.connect();
    let booked: i64 = wasit::schema::bookings::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(booked, 5);
}

#[tokio::test]
async fn an_idempotency_key_replays_and_never_books_twice() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Hilton", 5, "450.00", 5)
        .await;
    let customer = token(&app.register("retry@example.com").await);
    let offer = stay_offer(&app, "jeddah", 1, 2, 2).await;
    let body = json!({ "offer_id": offer["offer_id"] });

    let missing = app.post_json_authed("/v1/bookings", &customer, &body).await;
    assert_problem(missing, 400, "idempotency.key_required").await;

    let first = book(&app, &customer, "same-key", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = book(&app, &customer, "same-key", &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the very same answer");

    // Concurrent retries of a new key: one booking, every answer the same.
    let racers = join_all(
        (0..10)
            .map(|_| book(&app, &customer, "burst-key", &body))
            .collect(),
    )
    .await;
    let mut ids = std::collections::BTreeSet::new();
    for response in racers {
        let status = response.status().as_u16();
        let value: Value = response.json().await.unwrap();
        match status {
            201 => {
                ids.insert(value["id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(value["code"], "idempotency.in_progress"),
            other => panic!("unexpected {other}: {value}"),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(booking_count(&app), 2);
    assert_eq!(cells(&app, &unit_id)[1], (5, 2));

    let other_body = json!({ "offer_id": offer["offer_id"], "guests": 1 });
    assert_problem(
        book(&app, &customer, "same-key", &other_body).await,
        422,
        "idempotency.mismatch",
    )
    .await;
    assert_problem(
        book(&app, &customer, "bad key with spaces", &body).await,
        400,
        "idempotency.invalid_key",
    )
    .await;

    // Keys belong to their caller: another customer's "same-key" is a new request.
    let other = token(&app.register("other@example.com").await);
    let theirs: Value = book(&app, &other, "same-key", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(theirs["id"], first["id"]);
    assert_eq!(booking_count(&app), 3);
}

#[tokio::test]
async fn tonights_stay_can_be_booked_until_its_night_is_over() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.local_hotel(&admin, "jeddah", "Late Arrival", 2, "300.00", 3)
        .await;
    let customer = token(&app.register("tonight@example.com").await);
    // Tonight's night began at local midnight; until the next one it is still for sale.
    let tonight = stay_offer(&app, "jeddah", 0, 1, 2).await;
    let held = book(
        &app,
        &customer,
        "t",
        &json!({ "offer_id": tonight["offer_id"] }),
    )
    .await;
    assert_eq!(held.status(), 201, "{}", held.text().await.unwrap());
    assert_eq!(booking_count(&app), 1);
}

#[tokio::test]
async fn bad_booking_input_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Hilton", 5, "450.00", 5)
        .await;
    let customer = token(&app.register("careful@example.com").await);
    let offer = stay_offer(&app, "jeddah", 1, 2, 2).await;
    let offer_id = offer["offer_id"].as_str().unwrap();
    let signer = {
        use secrecy::ExposeSecret;
        wasit::providers::offer::OfferSigner::new(
            app.settings.auth.jwt_secret.expose_secret().as_bytes(),
        )
    };

    let too_many = book(
        &app,
        &customer,
        "g",
        &json!({ "offer_id": offer_id, "guests": 3 }),
    )
    .await;
    assert_eq!(
        problem_fields(&assert_problem(too_many, 422, "validation.failed").await),
        ["guests"]
    );
    let forged = format!("{}x", &offer_id[..offer_id.len() - 1]);
    assert_problem(
        book(&app, &customer, "f", &json!({ "offer_id": forged })).await,
        400,
        "offer.invalid",
    )
    .await;
    let bad_contact = book(
        &app,
        &customer,
        "c",
        &json!({ "offer_id": offer_id, "contact": { "name": "", "phone": "12" } }),
    )
    .await;
    assert_eq!(
        problem_fields(&assert_problem(bad_contact, 422, "validation.failed").await),
        ["contact.name", "contact.phone"]
    );
    let someone_else = book(
        &app,
        &customer,
        "o",
        &json!({ "offer_id": offer_id, "customer_id": uuid::Uuid::new_v4() }),
    )
    .await;
    assert_problem(someone_else, 403, "auth.forbidden").await;

    // An offer kept from the day before (signed, unexpired): its night is over.
    let mut claims = signer
        .verify(offer_id, chrono::Utc::now())
        .expect("a fresh offer verifies");
    claims.start -= chrono::Duration::days(2);
    claims.end -= chrono::Duration::days(2);
    let stale = signer.sign(&claims);
    let past = book(&app, &customer, "p", &json!({ "offer_id": stale })).await;
    let problem = assert_problem(past, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["offer_id"]);
    assert_eq!(
        problem["errors"][0]["message"],
        "the stay's first night is over"
    );

    assert_eq!(booking_count(&app), 0);
    assert!(
        cells(&app, &unit_id)
            .iter()
            .all(|(_, reserved)| *reserved == 0),
        "no reserved cell without a booking"
    );
}

#[tokio::test]
async fn a_changed_price_answers_409_with_the_fresh_offer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Hilton", 5, "450.00", 5)
        .await;
    let customer = token(&app.register("bargain@example.com").await);
    let offer = stay_offer(&app, "jeddah", 1, 2, 2).await;
    let mut conn = app.db.connect();
    diesel::sql_query(format!(
        "UPDATE units SET nightly_price = 500 WHERE id = '{unit_id}'"
    ))
    .execute(&mut conn)
    .unwrap();

    let problem = assert_problem(
        book(
            &app,
            &customer,
            "a",
            &json!({ "offer_id": offer["offer_id"] }),
        )
        .await,
        409,
        "booking.offer_changed",
    )
    .await;
    assert_eq!(problem["offer"]["price"]["total"], "528.75");
    let fresh = problem["offer"]["offer_id"].as_str().unwrap();
    let response = book(&app, &customer, "b", &json!({ "offer_id": fresh })).await;
    assert_eq!(response.status(), 201);
    assert_eq!(booking_count(&app), 1);
}

#[tokio::test]
async fn an_agent_books_for_a_phone_client_and_it_is_attributed_and_audited() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.local_hotel(&admin, "riyadh", "Olaya", 5, "300.00", 5)
        .await;
    let agent_session = app.user_with_role(Role::Agent).await;
    let agent = token(&agent_session);
    let client = app
        .post_ok(
            "/v1/customers",
            &agent,
            &json!({ "full_name": "Abu Fahad", "phone": "0551234567" }),
            201,
        )
        .await;
    let offer = stay_offer(&app, "riyadh", 3, 5, 2).await;

    let missing = book(&app, &agent, "m", &json!({ "offer_id": offer["offer_id"] })).await;
    assert_eq!(
        problem_fields(&assert_problem(missing, 422, "validation.failed").await),
        ["customer_id"]
    );

    let response = book(
        &app,
        &agent,
        "n",
        &json!({ "offer_id": offer["offer_id"], "customer_id": client["id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["channel"], "phone");
    assert_eq!(booking["created_by"], agent_session["user"]["id"]);
    assert_eq!(booking["customer_id"], client["id"]);
    assert_eq!(booking["contact"]["phone"], "+966551234567");

    let audit: Value = app
        .get_authed("/v1/audit?entity_type=booking", &admin)
        .await
        .json()
        .await
        .unwrap();
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "booking.create");
    assert_eq!(entry["actor_id"], agent_session["user"]["id"]);
    assert_eq!(entry["on_behalf_of"], client["id"]);
    assert_eq!(entry["entity_id"], booking["reference"]);
}

#[tokio::test]
async fn customers_see_only_their_own_bookings_and_staff_see_all() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.local_hotel(&admin, "jeddah", "Hilton", 5, "450.00", 5)
        .await;
    let alice = token(&app.register("alice@example.com").await);
    let bob = token(&app.register("bob@example.com").await);
    let offer = stay_offer(&app, "jeddah", 1, 2, 2).await;
    let alices: Value = book(&app, &alice, "a", &json!({ "offer_id": offer["offer_id"] }))
        .await
        .json()
        .await
        .unwrap();
    book(&app, &bob, "b", &json!({ "offer_id": offer["offer_id"] })).await;

    let id = alices["id"].as_str().unwrap();
    assert_problem(
        app.get_authed(&format!("/v1/bookings/{id}"), &bob).await,
        404,
        "resource.not_found",
    )
    .await;
    let cancel = app
        .post_json_authed(&format!("/v1/bookings/{id}/cancel"), &bob, &json!({}))
        .await;
    assert_problem(cancel, 404, "resource.not_found").await;

    let own: Value = app
        .get_authed("/v1/bookings", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["bookings"].as_array().unwrap().len(), 1);
    let all: Value = app
        .get_authed(
            "/v1/bookings",
            &token(&app.user_with_role(Role::Agent).await),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["bookings"].as_array().unwrap().len(), 2);
    let forbidden = app
        .get_authed(
            &format!("/v1/bookings?customer_id={}", uuid::Uuid::new_v4()),
            &bob,
        )
        .await;
    assert_problem(forbidden, 403, "auth.forbidden").await;
}

#[tokio::test]
async fn the_booking_list_pages_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.local_hotel(&admin, "jeddah", "Hilton", 20, "450.00", 5)
        .await;
    let customer = token(&app.register("pager@example.com").await);
    let offer = stay_offer(&app, "jeddah", 1, 2, 2).await;
    for i in 0..7 {
        assert_eq!(
            book(
                &app,
                &customer,
                &format!("p{i}"),
                &json!({ "offer_id": offer["offer_id"] })
            )
            .await
            .status(),
            201
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/bookings?limit=3&cursor={c}"),
            None => "/v1/bookings?limit=3".to_owned(),
        };
        let page: Value = app.get_authed(&path, &customer).await.json().await.unwrap();
        seen.extend(
            page["bookings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);
    assert_problem(
        app.get_authed("/v1/bookings?cursor=zzz&status=lost", &customer)
            .await,
        400,
        "query.invalid",
    )
    .await;
}

#[tokio::test]
async fn confirm_then_cancel_follows_the_state_machine_and_the_refund_policy() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Hilton", 5, "450.00", 10)
        .await;
    let customer = token(&app.register("planner@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);

    // Held: nothing paid, nothing refunded; the nights come back.
    let held: Value = book(
        &app,
        &customer,
        "h",
        &json!({ "offer_id": stay_offer(&app, "jeddah", 6, 7, 2).await["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let cancelled: Value = app
        .post_json_authed(
            &format!("/v1/bookings/{}/cancel", held["id"].as_str().unwrap()),
            &customer,
            &json!({ "reason": "plans changed" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["refund_amount"], "0.00");
    assert_eq!(cells(&app, &unit_id)[6], (5, 0));

    // Confirmed by an agent (pending, paid at the office): cancelling sends nothing back
    // through the gateway, as nothing was captured there (card refunds: tests/api/payments.rs).
    let far: Value = book(
        &app,
        &customer,
        "f",
        &json!({ "offer_id": stay_offer(&app, "jeddah", 6, 8, 2).await["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let far_id = far["id"].as_str().unwrap();
    assert_problem(
        app.post_json_authed(
            &format!("/v1/bookings/{far_id}/confirm"),
            &customer,
            &json!({ "reason": "paid at the office" }),
        )
        .await,
        403,
        "auth.forbidden",
    )
    .await;
    let pending: Value = app
        .post_json_authed(
            &format!("/v1/bookings/{far_id}/confirm"),
            &agent,
            &json!({ "reason": "paid at the office" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["next"]["action"], "await_confirmation");
    assert_problem(
        app.post_json_authed(
            &format!("/v1/bookings/{far_id}/confirm"),
            &agent,
            &json!({ "reason": "paid at the office" }),
        )
        .await,
        409,
        "booking.invalid_state",
    )
    .await;
    let refunded: Value = app
        .post_json_authed(
            &format!("/v1/bookings/{far_id}/cancel"),
            &customer,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refunded["status"], "cancelled");
    assert_eq!(refunded["refund_amount"], "0.00");
    // Cancelled already: a retry answers with the booking (see
    // `cancelling_a_cancelled_booking_again_answers_200_with_the_booking`).
    let again = app
        .post_json_authed(
            &format!("/v1/bookings/{far_id}/cancel"),
            &customer,
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), 200);

    // Between 24 and 72 hours ahead: half of what was paid.
    let near: Value = book(
        &app,
        &customer,
        "n",
        &json!({ "offer_id": stay_offer(&app, "jeddah", 2, 3, 2).await["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let near_id = near["id"].as_str().unwrap();
    // Paid by card this time: the policy's share of it goes back.
    let paid = crate::payments::pay(&app, &customer, &near, crate::payments::CARD_OK).await;
    assert_eq!(paid.status(), 200);
    let half: Value = app
        .post_json_authed(
            &format!("/v1/bookings/{near_id}/cancel"),
            &agent,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let total: rust_decimal::Decimal = near["price"]["total"].as_str().unwrap().parse().unwrap();
    let expected = (total / rust_decimal::Decimal::from(2))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(half["refund_amount"], expected.to_string());

    let history: Value = app
        .get_authed(&format!("/v1/bookings/{far_id}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    let steps: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["held", "pending", "cancelled"]);
    assert!(
        cells(&app, &unit_id)
            .iter()
            .all(|(_, reserved)| *reserved == 0),
        "every cancelled night came back"
    );
}

#[tokio::test]
async fn a_provider_login_sees_only_its_own_providers_bookings() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (hilton, _) = app
        .local_hotel(&admin, "jeddah", "Hilton", 5, "450.00", 5)
        .await;
    let (rotana, _) = app
        .local_hotel(&admin, "jeddah", "Rotana", 5, "300.00", 5)
        .await;
    let customer = token(&app.register("guest@example.com").await);
    let results: Value = app
        .search(&format!(
            "kind=hotel&city=jeddah&check_in={}&check_out={}&guests=2",
            day(1),
            day(2)
        ))
        .await
        .json()
        .await
        .unwrap();
    for (i, offer) in results["offers"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            book(
                &app,
                &customer,
                &format!("k{i}"),
                &json!({ "offer_id": offer["offer_id"] })
            )
            .await
            .status(),
            201
        );
    }
    let login = json!({ "email": "desk@hilton.example", "password": crate::helpers::PASSWORD, "full_name": "Hilton desk", "role": "provider", "provider_id": hilton });
    app.post_ok("/v1/admin/users", &admin, &login, 201).await;
    let unlinked = json!({ "email": "x@hilton.example", "password": crate::helpers::PASSWORD, "full_name": "X", "role": "provider" });
    let problem = assert_problem(
        app.post_json_authed("/v1/admin/users", &admin, &unlinked)
            .await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["provider_id"]);

    let desk: Value = app
        .login("desk@hilton.example", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let seen: Value = app
        .get_authed("/v1/bookings", &token(&desk))
        .await
        .json()
        .await
        .unwrap();
    let seen = seen["bookings"].as_array().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["provider"]["id"], hilton.as_str());
    let theirs: Value = app
        .get_authed(&format!("/v1/bookings?provider_id={rotana}"), &token(&desk))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        theirs["bookings"].as_array().unwrap().is_empty(),
        "another provider's bookings stay hidden"
    );
    let id = seen[0]["id"].as_str().unwrap();
    let cancel = app
        .post_json_authed(
            &format!("/v1/bookings/{id}/cancel"),
            &token(&desk),
            &json!({}),
        )
        .await;
    assert_problem(cancel, 403, "auth.forbidden").await;
}

#[tokio::test]
async fn idempotency_keys_are_purged_after_a_day() {
    let app = spawn_app().await;
    let mut conn = app.db.connect();
    diesel::sql_query(
        "INSERT INTO idempotency_keys (caller, key, request_hash, created_at) VALUES
           ('user:a', 'old', '\\x00', now() - interval '25 hours'),
           ('user:a', 'new', '\\x00', now() - interval '23 hours')",
    )
    .execute(&mut conn)
    .unwrap();
    let purged =
        wasit::idempotency::purge_older_than(&mut conn, chrono::Duration::hours(24)).unwrap();
    assert_eq!(purged, 1);
    let left: Vec<String> = wasit::schema::idempotency_keys::table
        .select(wasit::schema::idempotency_keys::key)
        .load(&mut conn)
        .unwrap();
    assert_eq!(left, ["new"]);
}

/// A hotel on the real CalDAV server: a booking through the API shows up there as an event,
/// takes the room out of search, and a cancel removes it.
#[tokio::test]
async fn a_caldav_booking_lands_on_the_hotels_calendar_and_a_cancel_removes_it() {
    let (dav, calendar) = crate::helpers::radicale_calendar().await;
    let http = reqwest::Client::new();
    let feed = || async {
        http.get(format!("{dav}{calendar}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };

    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let hotel = json!({ "kind": "hotel", "name_ar": "فندق الطائف", "name_en": "Taif Hotel", "city": "taif", "adapter": "caldav", "address_en": "Shubra Road, Taif",
        "adapter_settings": { "base_url": dav, "room_types": [{ "code": "std", "calendar_path": calendar, "name_ar": "غرفة", "name_en": "Room", "rooms": 1, "max_guests": 2, "nightly_price": "300.00" }] } });
    app.post_ok("/v1/providers", &admin, &hotel, 201).await;
    let customer = token(&app.register("taif@example.com").await);

    let offer = stay_offer(&app, "taif", 3, 5, 2).await;
    assert_eq!(offer["price"]["total"], "628.75");
    let response = book(
        &app,
        &customer,
        "dav-1",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(
        booking["unit"],
        json!({ "code": "std", "name_ar": "غرفة", "name_en": "Room" }),
        "an outside provider's room type, named as its offer was"
    );
    let reference = booking["reference"].as_str().unwrap();
    let ics = feed().await;
    assert!(ics.contains(&format!("UID:{reference}-0@wasit")), "{ics}");
    // The desk's event is at the hotel's address (#19, point 2), not its city slug.
    assert!(ics.contains("LOCATION:Shubra Road\\, Taif"), "{ics}");
    assert_eq!(
        stay_offer(&app, "taif", 3, 5, 2).await,
        Value::Null,
        "the only room is taken"
    );

    let cancelled: Value = app
        .post_json_authed(
            &format!("/v1/bookings/{reference}/cancel"),
            &customer,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    // The hotel's copy is cancelled by a job once the cancellation is committed.
    app.run_pending_jobs().await;
    assert!(!feed().await.contains(reference), "the event is gone");
    assert_ne!(
        stay_offer(&app, "taif", 3, 5, 2).await,
        Value::Null,
        "the room is back"
    );
}

/// A change at a CalDAV hotel: the new stay's events go in beside the old (which count as
/// the booking's own, so a stay overlapping them in the last room is possible), and the old
/// events go once the change is made.
#[tokio::test]
async fn a_caldav_booking_changes_dates_with_new_events_first_and_the_old_removed_after() {
    let (dav, calendar) = crate::helpers::radicale_calendar().await;
    let http = reqwest::Client::new();
    let feed = || async {
        http.get(format!("{dav}{calendar}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = crate::helpers::unique_city("dav");
    let hotel = json!({ "kind": "hotel", "name_ar": "فندق أبها", "name_en": "Abha Hotel", "city": city, "adapter": "caldav",
        "adapter_settings": { "base_url": dav, "room_types": [{ "code": "std", "calendar_path": calendar, "name_ar": "غرفة", "name_en": "Room", "rooms": 1, "max_guests": 2, "nightly_price": "300.00" }] } });
    app.post_ok("/v1/providers", &admin, &hotel, 201).await;
    let customer = token(&app.register("abha@example.com").await);

    // The longer stay's offer is read while the room is free; then two of its nights are held.
    let longer = stay_offer(&app, &city, 3, 6, 2).await;
    let offer = stay_offer(&app, &city, 3, 5, 2).await;
    let response = book(
        &app,
        &customer,
        "dav-change",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    let reference = booking["reference"].as_str().unwrap();
    assert!(feed().await.contains(&format!("UID:{reference}-0@wasit")));

    let response = app
        .client
        .post(app.url(&format!("/v1/bookings/{reference}/change")))
        .bearer_auth(&customer)
        .header("idempotency-key", "dav-change-1")
        .json(&json!({ "offer_id": longer["offer_id"] }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let changed: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["booking"]["end"], longer["end"]);
    let during = feed().await;
    assert!(
        during.contains(&format!("UID:{reference}.")),
        "the new events are in: {during}"
    );
    app.run_pending_jobs().await;
    let after = feed().await;
    assert!(
        !after.contains(&format!("UID:{reference}-0@wasit")),
        "the old event is gone: {after}"
    );
    assert_eq!(after.matches("BEGIN:VEVENT").count(), 1, "{after}");
    assert_eq!(
        stay_offer(&app, &city, 5, 6, 2).await,
        Value::Null,
        "the added night is taken at the hotel"
    );
}

/// Rows a cancellation writes: (booking events, refunds, jobs) of one booking.
fn written_for(app: &TestApp, id: &str) -> (i64, i64, i64) {
    let mut conn = app.db.connect();
    let id: uuid::Uuid = id.parse().unwrap();
    let events = wasit::schema::booking_events::table
        .filter(wasit::schema::booking_events::booking_id.eq(id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let refunds = wasit::schema::refunds::table
        .inner_join(wasit::schema::payments::table)
        .filter(wasit::schema::payments::booking_id.eq(id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let jobs = wasit::schema::jobs::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    (events, refunds, jobs)
}

/// A cancel whose answer was lost is retried; without an Idempotency-Key the retry finds the
/// booking cancelled already, and answers as the first did, writing nothing again.
#[tokio::test]
async fn cancelling_a_cancelled_booking_again_answers_200_with_the_booking() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.local_hotel(&admin, "taif", "Retry Inn", 5, "450.00", 10)
        .await;
    let customer = token(&app.register("retry@example.com").await);
    let booking: Value = book(
        &app,
        &customer,
        "retry-hold",
        &json!({ "offer_id": stay_offer(&app, "taif", 5, 6, 2).await["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = booking["id"].as_str().unwrap();
    let paid = crate::payments::pay(&app, &customer, &booking, crate::payments::CARD_OK).await;
    assert_eq!(paid.status(), 200);
    let path = format!("/v1/bookings/{id}/cancel");
    let first = app.post_json_authed(&path, &customer, &json!({})).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "cancelled");
    assert_ne!(
        first["refund_amount"], "0.00",
        "paid by card, cancelled days ahead"
    );
    let written = written_for(&app, id);
    assert_eq!(written.1, 1, "one refund");

    // The retry, by the customer and by an agent: the booking as it is, nothing new.
    let agent = token(&app.user_with_role(Role::Agent).await);
    for who in [&customer, &agent] {
        let again = app
            .post_json_authed(&path, who, &json!({ "reason": "did it go through?" }))
            .await;
        assert_eq!(again.status(), 200);
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["status"], "cancelled");
        assert_eq!(again["refund_amount"], first["refund_amount"]);
        assert_eq!(
            written_for(&app, id),
            written,
            "no event, refund, email or webhook job again"
        );
    }

    // Two cancels racing (the retry overtakes the lost answer): the loser waits for the
    // winner's lock, then finds it cancelled; both answer 200, one cancellation is written.
    let raced: Value = book(
        &app,
        &customer,
        "retry-raced",
        &json!({ "offer_id": stay_offer(&app, "taif", 5, 6, 2).await["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let raced_id = raced["id"].as_str().unwrap();
    let raced_path = format!("/v1/bookings/{raced_id}/cancel");
    let empty = json!({});
    let answers = join_all(
        (0..4)
            .map(|_| app.post_json_authed(&raced_path, &customer, &empty))
            .collect(),
    )
    .await;
    assert!(answers.iter().all(|a| a.status() == 200), "{answers:?}");
    assert_eq!(
        written_for(&app, raced_id).0,
        2,
        "held, then cancelled once"
    );

    // A booking that ended otherwise still cannot be cancelled.
    let expired: Value = book(
        &app,
        &customer,
        "retry-expired",
        &json!({ "offer_id": stay_offer(&app, "taif", 7, 8, 2).await["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let mut conn = app.db.connect();
    diesel::sql_query(format!(
        "UPDATE bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = '{}'",
        expired["id"].as_str().unwrap()
    ))
    .execute(&mut conn)
    .unwrap();
    let pool = wasit::db::build_pool(&app.settings.database);
    wasit::worker::schedule::enqueue_tick(&pool, wasit::jobs::Job::ExpireHolds)
        .await
        .unwrap();
    app.run_pending_jobs().await;
    assert_problem(
        app.post_json_authed(
            &format!("/v1/bookings/{}/cancel", expired["id"].as_str().unwrap()),
            &customer,
            &json!({}),
        )
        .await,
        409,
        "booking.invalid_state",
    )
    .await;
}

/// Two rooms at a CalDAV hotel: one event per room, each under its own lead guest with who
/// stays in it.
#[tokio::test]
async fn a_two_room_caldav_stay_writes_each_room_under_its_lead_guest() {
    let (dav, calendar) = crate::helpers::radicale_calendar().await;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = crate::helpers::unique_city("davr");
    let hotel = json!({ "kind": "hotel", "name_ar": "فندق تبوك", "name_en": "Tabuk Hotel", "city": city, "adapter": "caldav",
        "adapter_settings": { "base_url": dav, "room_types": [{ "code": "std", "calendar_path": calendar, "name_ar": "غرفة", "name_en": "Room", "rooms": 3, "max_guests": 3, "nightly_price": "300.00" }] } });
    app.post_ok("/v1/providers", &admin, &hotel, 201).await;
    let customer = token(&app.register("tabuk@example.com").await);
    let results: Value = app
        .search(&format!(
            "kind=hotel&city={city}&check_in={}&check_out={}&occupancy=2,1&children=1:6",
            day(4),
            day(6)
        ))
        .await
        .json()
        .await
        .unwrap();
    let offer = &results["offers"][0];
    assert_eq!(offer["available"], 3, "{results}");
    assert_eq!(offer["rooms"][0]["children"], json!([6]));
    let response = book(
        &app,
        &customer,
        "dav-rooms",
        &json!({ "offer_id": offer["offer_id"], "rooms": [
            { "lead_guest": "Sara Al-Harbi", "adults": 2, "children": [6] },
            { "lead_guest": "Huda Al-Harbi", "adults": 1 },
        ] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    let reference = booking["reference"].as_str().unwrap();
    let ics = reqwest::Client::new()
        .get(format!("{dav}{calendar}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ics.contains(&format!(
            "SUMMARY:Sara Al-Harbi ({reference}\\, room 1 of 2)"
        )),
        "{ics}"
    );
    assert!(
        ics.contains(&format!(
            "SUMMARY:Huda Al-Harbi ({reference}\\, room 2 of 2)"
        )),
        "{ics}"
    );
    assert!(ics.contains("Guests: 2 adults\\, children aged 6"), "{ics}");
}
