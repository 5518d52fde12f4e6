//! Changing a booking in one step (#15, point 1): other dates or rooms of the same provider,
//! all or nothing, with the price difference charged or refunded through the one money path,
//! the provider's change policy, and one winner among concurrent changes. Our own inventory
//! here; Radicale and Medplum in `bookings.rs` and `fhir.rs`.

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;
use wasit::auth::Role;

use crate::helpers::{
    TestApp, assert_problem, book, join_all, spawn_app, stay_offer, token, unique_city,
};
use crate::payments::{CARD_OK, CARD_RENEWAL_FAILS, balance, ledger, money, pay};

/// POSTs a change of `booking` to `offer` under a fresh Idempotency-Key.
async fn change(
    app: &TestApp,
    token: &str,
    booking: &str,
    offer: &Value,
    if_match: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/bookings/{booking}/change")))
        .bearer_auth(token)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({ "offer_id": offer["offer_id"] }));
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    request.send().await.unwrap()
}

/// A hotel of ours in a city of its own: `rooms` rooms at 450.00 a night, open 40 nights.
async fn hotel(app: &TestApp, admin: &str, rooms: i32) -> (String, String) {
    let city = unique_city("chg");
    let (provider, _) = app
        .local_hotel(admin, &city, "Change Inn", rooms, "450.00", 40)
        .await;
    (city, provider)
}

async fn hold(app: &TestApp, customer: &str, city: &str, from: i64, to: i64) -> Value {
    let offer = stay_offer(app, city, from, to, 2).await;
    assert!(offer.is_object(), "no offer for {from}..{to}");
    let response = book(
        app,
        customer,
        &Uuid::new_v4().to_string(),
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn get(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_authed(&format!("/v1/bookings/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

/// Rooms reserved per night of the hotel's one unit, by local date.
fn reserved(app: &TestApp, provider: &str) -> Vec<(chrono::NaiveDate, i32)> {
    use wasit::schema::{inventory_cells as c, units as u};
    let mut conn = app.db.connect();
    let provider: Uuid = provider.parse().unwrap();
    let rows: Vec<(chrono::DateTime<chrono::Utc>, i32)> = c::table
        .inner_join(u::table)
        .filter(u::provider_id.eq(provider))
        .filter(c::reserved.gt(0))
        .order(c::starts_at)
        .select((c::starts_at, c::reserved))
        .load(&mut conn)
        .unwrap();
    rows.into_iter()
        .map(|(at, n)| (at.with_timezone(&chrono_tz::Asia::Riyadh).date_naive(), n))
        .collect()
}

fn nights(from: i64, to: i64) -> Vec<(chrono::NaiveDate, i32)> {
    (from..to)
        .map(|d| {
            (
                crate::helpers::riyadh_today() + chrono::Duration::days(d),
                1,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_held_booking_moves_to_other_dates_and_gives_back_the_old_nights() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 1).await;
    let customer = token(&app.register("move@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    let id = booking["id"].as_str().unwrap();
    assert_eq!(reserved(&app, &provider), nights(10, 12));

    let offer = stay_offer(&app, &city, 14, 17, 2).await;
    let response = change(&app, &customer, id, &offer, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["booking"]["status"], "held");
    assert_eq!(body["booking"]["price"]["total"], offer["price"]["total"]);
    assert_eq!(
        body["change"]["difference"], "0.00",
        "a hold has paid nothing"
    );
    assert_eq!(reserved(&app, &provider), nights(14, 17));

    // The history keeps before and after.
    let read = get(&app, &customer, id).await;
    let changed = read["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"].is_object())
        .expect("a change event");
    assert_eq!(changed["details"]["before"]["start"], booking["start"]);
    assert_eq!(changed["details"]["after"]["start"], read["start"]);
    assert_ne!(read["start"], booking["start"]);
}

#[tokio::test]
async fn extending_a_stay_in_the_last_room_keeps_its_own_nights() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 1).await;
    let customer = token(&app.register("extend@example.com").await);
    // The three-night offer is read while the room is free; then two of its nights are held.
    let longer = stay_offer(&app, &city, 10, 13, 2).await;
    let booking = hold(&app, &customer, &city, 10, 12).await;
    assert_eq!(
        stay_offer(&app, &city, 10, 13, 2).await,
        Value::Null,
        "the last room is ours for two of the nights"
    );
    let id = booking["id"].as_str().unwrap();
    let response = change(&app, &customer, id, &longer, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(reserved(&app, &provider), nights(10, 13));
    // And back to a shorter stay inside it.
    let shorter = stay_offer(&app, &city, 13, 14, 2).await;
    let response = change(&app, &customer, id, &shorter, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(reserved(&app, &provider), nights(13, 14));
}

#[tokio::test]
async fn a_change_to_sold_out_dates_is_refused_and_the_booking_is_untouched() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 1).await;
    let first = token(&app.register("first@example.com").await);
    let second = token(&app.register("second@example.com").await);
    let mine = hold(&app, &first, &city, 10, 12).await;
    // The offer for 20..22 is read while free, then someone else takes the room.
    let offer = stay_offer(&app, &city, 20, 22, 2).await;
    hold(&app, &second, &city, 20, 22).await;

    let id = mine["id"].as_str().unwrap();
    let before = get(&app, &first, id).await;
    assert_problem(
        change(&app, &first, id, &offer, None).await,
        409,
        "booking.sold_out",
    )
    .await;
    let after = get(&app, &first, id).await;
    assert_eq!(after["start"], before["start"]);
    assert_eq!(after["etag"], before["etag"], "nothing was written");
    let mut expected = nights(10, 12);
    expected.extend(nights(20, 22));
    assert_eq!(reserved(&app, &provider), expected);
}

#[tokio::test]
async fn a_paid_booking_changed_to_a_shorter_stay_refunds_the_difference_with_a_credit_note() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, _) = hotel(&app, &admin, 2).await;
    let customer = token(&app.register("shorter@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 13).await;
    assert_eq!(pay(&app, &customer, &booking, CARD_OK).await.status(), 200);
    let id = booking["id"].as_str().unwrap();
    assert_eq!(booking["price"]["total"], "1378.75");

    let offer = stay_offer(&app, &city, 10, 12, 2).await;
    let response = change(&app, &customer, id, &offer, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["booking"]["status"], "pending");
    assert_eq!(body["booking"]["price"]["total"], "928.75");
    assert_eq!(body["change"]["difference"], "-450.00");
    assert_eq!(
        body["change"]["change_fee"], "0.00",
        "ten days ahead changes free"
    );

    app.run_pending_jobs().await;
    let invoices: Value = app
        .get_authed("/v1/invoices", &customer)
        .await
        .json()
        .await
        .unwrap();
    let notes: Vec<&Value> = invoices["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "credit_note")
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["total"], "450.00");
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        "928.75".parse::<Decimal>().unwrap()
    );
    // A later cancellation refunds what is left, not what was first paid.
    let cancelled = app
        .post_ok(
            &format!("/v1/bookings/{id}/cancel"),
            &customer,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(cancelled["refund_amount"], "928.75");
}

#[tokio::test]
async fn a_paid_booking_changed_to_a_longer_stay_pays_the_rise_and_its_fee() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 2).await;
    // Changes cost 10 % of the provider's price until the start.
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({ "change_policy": [{ "hours_before": 0, "fee_percent": 10 }] }),
    )
    .await;
    let customer = token(&app.register("longer@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    assert_eq!(pay(&app, &customer, &booking, CARD_OK).await.status(), 200);
    let id = booking["id"].as_str().unwrap();

    let offer = stay_offer(&app, &city, 10, 13, 2).await;
    let response = change(&app, &customer, id, &offer, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    // 450.00 more for the third night, and 10 % of the old 900.00 as the provider's fee.
    assert_eq!(body["change"]["change_fee"], "90.00");
    assert_eq!(body["change"]["difference"], "540.00");
    assert_eq!(body["payment"]["status"], "succeeded");
    assert_eq!(money(&body["payment"]["amount"]), "540.00".parse().unwrap());
    assert_eq!(body["booking"]["price"]["total"], "1378.75");

    app.run_pending_jobs().await;
    let invoices: Value = app
        .get_authed("/v1/invoices", &customer)
        .await
        .json()
        .await
        .unwrap();
    let totals: Vec<&str> = invoices["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "invoice")
        .map(|i| i["total"].as_str().unwrap())
        .collect();
    assert_eq!(totals.len(), 2, "{invoices}");
    assert!(totals.contains(&"540.00") && totals.contains(&"928.75"));
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        "1468.75".parse::<Decimal>().unwrap()
    );
    // Cancelling now gives back both payments (the default cancellation policy, ten days out).
    let cancelled = app
        .post_ok(
            &format!("/v1/bookings/{id}/cancel"),
            &customer,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(cancelled["refund_amount"], "1468.75");
    app.run_pending_jobs().await;
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(balance(&balances, "gateway_clearing"), Decimal::ZERO);
}

#[tokio::test]
async fn a_declined_rise_leaves_the_booking_and_its_nights_as_they_were() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 2).await;
    let customer = token(&app.register("declined@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    // The sandbox card that pays while the customer is there and is declined without them:
    // the rise is charged off-session.
    assert_eq!(
        pay(&app, &customer, &booking, CARD_RENEWAL_FAILS)
            .await
            .status(),
        200
    );
    let id = booking["id"].as_str().unwrap();
    let before = get(&app, &customer, id).await;
    let offer = stay_offer(&app, &city, 10, 13, 2).await;
    let problem = assert_problem(
        change(&app, &customer, id, &offer, None).await,
        402,
        "payment.declined",
    )
    .await;
    assert_eq!(problem["decline_reason"], "card_declined");
    let after = get(&app, &customer, id).await;
    assert_eq!(after["start"], before["start"]);
    assert_eq!(after["end"], before["end"]);
    assert_eq!(after["price"], before["price"]);
    assert_eq!(reserved(&app, &provider), nights(10, 12));
    // The failed change is let go: the booking can change again at once.
    let cheaper = stay_offer(&app, &city, 14, 16, 2).await;
    assert_eq!(
        change(&app, &customer, id, &cheaper, None).await.status(),
        200
    );
    let (_, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
}

#[tokio::test]
async fn twenty_concurrent_changes_of_one_booking_exactly_one_wins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 1).await;
    let customer = token(&app.register("race@example.com").await);
    let booking = hold(&app, &customer, &city, 2, 3).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    let etag = get(&app, &customer, &id).await["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut offers = Vec::new();
    for night in 4..24 {
        offers.push(stay_offer(&app, &city, night, night + 1, 2).await);
    }
    let outcomes = join_all(
        offers
            .iter()
            .map(|offer| change(&app, &customer, &id, offer, Some(&etag)))
            .collect(),
    )
    .await;
    let mut statuses: Vec<u16> = outcomes.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 409, 412].contains(s)),
        "{statuses:?}"
    );
    // Exactly one night is held: the winner's; every other offer's night is untouched.
    let held = reserved(&app, &provider);
    assert_eq!(held.len(), 1, "{held:?}");
    let after = get(&app, &customer, &id).await;
    let start: chrono::DateTime<chrono::Utc> = after["start"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        start.with_timezone(&chrono_tz::Asia::Riyadh).date_naive(),
        held[0].0
    );
    // A stale ETag is refused with 412 from now on.
    assert_problem(
        change(&app, &customer, &id, &offers[0], Some(&etag)).await,
        412,
        "booking.precondition_failed",
    )
    .await;
}

#[tokio::test]
async fn past_the_change_cut_off_a_booking_cannot_change() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 2).await;
    // Changes close 20 days before the start.
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({ "change_policy": [{ "hours_before": 480, "fee_percent": 0 }] }),
    )
    .await;
    let customer = token(&app.register("cutoff@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    assert_eq!(pay(&app, &customer, &booking, CARD_OK).await.status(), 200);
    let offer = stay_offer(&app, &city, 14, 16, 2).await;
    assert_problem(
        change(
            &app,
            &customer,
            booking["id"].as_str().unwrap(),
            &offer,
            None,
        )
        .await,
        409,
        "booking.change_closed",
    )
    .await;
}

#[tokio::test]
async fn a_change_needs_an_offer_of_the_same_provider_and_a_live_booking() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, _) = hotel(&app, &admin, 2).await;
    let (other_city, _) = hotel(&app, &admin, 2).await;
    let customer = token(&app.register("same@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    let id = booking["id"].as_str().unwrap();

    let elsewhere = stay_offer(&app, &other_city, 10, 12, 2).await;
    let problem = assert_problem(
        change(&app, &customer, id, &elsewhere, None).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "offer_id");
    let forged = json!({ "offer_id": "o1.garbage.garbage" });
    assert_problem(
        change(&app, &customer, id, &forged, None).await,
        400,
        "offer.invalid",
    )
    .await;

    // Someone else's booking is not found; a cancelled one cannot change.
    let stranger = token(&app.register("stranger@example.com").await);
    let offer = stay_offer(&app, &city, 14, 16, 2).await;
    assert_problem(
        change(&app, &stranger, id, &offer, None).await,
        404,
        "resource.not_found",
    )
    .await;
    app.post_ok(
        &format!("/v1/bookings/{id}/cancel"),
        &customer,
        &json!({}),
        200,
    )
    .await;
    assert_problem(
        change(&app, &customer, id, &offer, None).await,
        409,
        "booking.invalid_state",
    )
    .await;
}

#[tokio::test]
async fn an_agent_changes_a_clients_booking_and_it_is_audited_and_mailed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, _) = hotel(&app, &admin, 2).await;
    let customer = token(&app.register("client@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let offer = stay_offer(&app, &city, 15, 17, 2).await;
    let reference = booking["reference"].as_str().unwrap();
    let response = change(&app, &agent, reference, &offer, None).await;
    assert_eq!(response.status(), 200);

    let audit: Value = app
        .get_authed("/v1/audit?action=booking.change", &admin)
        .await
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["entity_id"] == reference && e["details"]["after"].is_object()),
        "{audit}"
    );
    app.run_pending_jobs().await;
    let mail = crate::email::inbox(&app, "client@example.com").await;
    assert!(
        mail.iter().any(|m| m["subject"]
            .as_str()
            .is_some_and(|s| s.contains(reference) && s.contains("عُدّل"))),
        "{mail:?}"
    );
}

#[tokio::test]
async fn an_offer_shows_its_cancellation_and_change_terms_as_dated_steps() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 2).await;
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({
            "cancellation_policy": [{ "hours_before": 72, "refund_percent": 100 }, { "hours_before": 24, "refund_percent": 50 }],
            "change_policy": [{ "hours_before": 48, "fee_percent": 0 }, { "hours_before": 24, "fee_percent": 10 }],
        }),
    )
    .await;
    let offer = stay_offer(&app, &city, 10, 12, 2).await;
    let start: chrono::DateTime<chrono::FixedOffset> =
        chrono::DateTime::parse_from_rfc3339(offer["start"].as_str().unwrap()).unwrap();
    let at = |hours: i64| {
        (start - chrono::Duration::hours(hours))
            .with_timezone(&chrono_tz::Asia::Riyadh)
            .to_rfc3339()
    };
    let cancellation = &offer["terms"]["cancellation"];
    assert_eq!(
        cancellation,
        &json!([
            { "until": at(72), "refund_percent": 100 },
            { "until": at(24), "refund_percent": 50 },
            { "refund_percent": 0 },
        ]),
        "{offer}"
    );
    assert!(
        cancellation[0]["until"]
            .as_str()
            .unwrap()
            .ends_with("+03:00"),
        "in the provider's time"
    );
    assert_eq!(
        offer["terms"]["change"],
        json!([
            { "until": at(48), "fee_percent": 0 },
            { "until": at(24), "fee_percent": 10 },
            { "fee_percent": null },
        ])
    );

    // A booking of it reads the same terms (what a change costs now, and its cut-off);
    // once it is over, none.
    let customer = token(&app.register("terms@example.com").await);
    let response = book(
        &app,
        &customer,
        &Uuid::new_v4().to_string(),
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    let id = booking["id"].as_str().unwrap();
    let read = get(&app, &customer, id).await;
    assert_eq!(read["terms"], offer["terms"], "{read}");
    let cancelled = app
        .client
        .post(app.url(&format!("/v1/bookings/{id}/cancel")))
        .bearer_auth(&customer)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    assert!(get(&app, &customer, id).await.get("terms").is_none());
}

/// The rise of a change is charged off-session to the card on record and a fall refunded,
/// both through the Stripe API (localstripe); the provider hears `booking.changed`.
#[tokio::test]
async fn stripe_a_change_charges_the_rise_and_refunds_the_fall_through_stripe() {
    let api_base = std::env::var("WASIT_TEST_STRIPE_URL")
        .expect("start the Stripe fake (scripts/test exports WASIT_TEST_STRIPE_URL)");
    let app = crate::helpers::spawn_app_with(move |settings| {
        settings.payments.gateway = wasit::config::GatewayKind::Stripe;
        settings.payments.stripe.api_base = api_base;
        settings.payments.stripe.secret_key = Some("sk_test_wasit".to_owned().into());
        settings.payments.stripe.webhook_secret =
            Some(format!("whsec_{}", Uuid::new_v4().simple()).into());
    })
    .await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 2).await;
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({ "webhook_url": "http://127.0.0.1:9/hooks" }),
    )
    .await;
    let customer = token(&app.register("stripe-change@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    assert_eq!(pay(&app, &customer, &booking, CARD_OK).await.status(), 200);
    let id = booking["id"].as_str().unwrap();

    let longer = stay_offer(&app, &city, 10, 13, 2).await;
    let response = change(&app, &customer, id, &longer, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payment"]["status"], "succeeded");
    assert_eq!(body["change"]["difference"], "450.00");
    let shorter = stay_offer(&app, &city, 11, 12, 2).await;
    let response = change(&app, &customer, id, &shorter, None).await;
    assert_eq!(response.status(), 200);
    app.run_pending_jobs().await;

    use wasit::schema::{payments::dsl as p, refunds::dsl as r};
    let mut conn = app.db.connect();
    let booking_id: Uuid = id.parse().unwrap();
    let charges: Vec<(String, String, Option<String>)> = p::payments
        .filter(p::booking_id.eq(booking_id))
        .filter(p::status.eq("succeeded"))
        .select((p::purpose, p::gateway, p::gateway_ref))
        .load(&mut conn)
        .unwrap();
    assert_eq!(charges.len(), 2, "{charges:?}");
    assert!(
        charges
            .iter()
            .all(|(_, gateway, reference)| gateway == "stripe" && reference.is_some())
    );
    let refunds: Vec<(Decimal, String, Option<String>)> = r::refunds
        .inner_join(p::payments)
        .filter(p::booking_id.eq(booking_id))
        .select((r::amount, r::status, r::gateway_ref))
        .load(&mut conn)
        .unwrap();
    // Three nights down to one: 900.00 back, the newest payment (the 450.00 rise) first.
    let total: Decimal = refunds.iter().map(|(amount, _, _)| *amount).sum();
    assert_eq!(total, "900.00".parse::<Decimal>().unwrap(), "{refunds:?}");
    assert!(
        refunds
            .iter()
            .all(|(_, status, reference)| status == "succeeded"
                && reference.as_deref().is_some_and(|r| r.starts_with("re_"))),
        "{refunds:?}"
    );
    let (_, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);

    // The provider is told of each change, with the terms before it.
    use wasit::schema::jobs::dsl as j;
    let hooks: Vec<Value> = j::jobs
        .filter(j::kind.eq("deliver_webhook"))
        .select(j::payload)
        .load(&mut conn)
        .unwrap();
    let changed: Vec<&Value> = hooks
        .iter()
        .filter(|h| h["event_type"] == "booking.changed")
        .collect();
    assert_eq!(changed.len(), 2, "{hooks:?}");
    assert!(
        changed
            .iter()
            .all(|h| h["data"]["previous"]["start"].is_string()
                && h["data"]["reference"] == booking["reference"])
    );
}

#[tokio::test]
async fn a_hold_being_paid_does_not_change_until_its_payment_settles() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, _) = hotel(&app, &admin, 2).await;
    let customer = token(&app.register("at-bank@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    assert_eq!(
        pay(&app, &customer, &booking, crate::payments::CARD_3DS)
            .await
            .status(),
        202,
        "the customer is at their bank"
    );
    let offer = stay_offer(&app, &city, 14, 16, 2).await;
    assert_problem(
        change(
            &app,
            &customer,
            booking["id"].as_str().unwrap(),
            &offer,
            None,
        )
        .await,
        409,
        "payment.in_progress",
    )
    .await;
}

#[tokio::test]
async fn a_rise_to_sold_out_dates_charges_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, _) = hotel(&app, &admin, 1).await;
    let customer = token(&app.register("rise-full@example.com").await);
    let other = token(&app.register("rise-other@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 12).await;
    assert_eq!(pay(&app, &customer, &booking, CARD_OK).await.status(), 200);
    let dearer = stay_offer(&app, &city, 20, 23, 2).await;
    hold(&app, &other, &city, 21, 22).await;
    assert_problem(
        change(
            &app,
            &customer,
            booking["id"].as_str().unwrap(),
            &dearer,
            None,
        )
        .await,
        409,
        "booking.sold_out",
    )
    .await;
    use wasit::schema::payments::dsl as p;
    let change_payments: i64 = p::payments
        .filter(p::purpose.eq("booking_change"))
        .count()
        .get_result(&mut app.db.connect())
        .unwrap();
    assert_eq!(change_payments, 0, "nothing was charged");
}

/// A change retried with its Idempotency-Key (a lost answer) replays the first answer and
/// changes nothing twice: one change row, one refund.
#[tokio::test]
async fn a_change_retried_with_its_key_replays_and_moves_money_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, _) = hotel(&app, &admin, 2).await;
    let customer = token(&app.register("retry-change@example.com").await);
    let booking = hold(&app, &customer, &city, 10, 13).await;
    assert_eq!(pay(&app, &customer, &booking, CARD_OK).await.status(), 200);
    let id = booking["id"].as_str().unwrap();
    let shorter = stay_offer(&app, &city, 10, 12, 2).await;
    let send = || {
        app.client
            .post(app.url(&format!("/v1/bookings/{id}/change")))
            .bearer_auth(&customer)
            .header("idempotency-key", "change-once")
            .json(&json!({ "offer_id": shorter["offer_id"] }))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["change"], first["change"]);
    assert_eq!(again["booking"]["price"], first["booking"]["price"]);

    let mut conn = app.db.connect();
    use wasit::schema::{booking_changes::dsl as c, refunds::dsl as r};
    let changes: i64 = c::booking_changes.count().get_result(&mut conn).unwrap();
    let refunds: i64 = r::refunds.count().get_result(&mut conn).unwrap();
    assert_eq!((changes, refunds), (1, 1));
}

/// Without `If-Match`, concurrent changes of one booking apply one after another (or meet
/// one in progress): whatever the order, the booking ends holding exactly its own nights.
#[tokio::test]
async fn ten_concurrent_changes_without_if_match_leave_exactly_the_bookings_nights() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (city, provider) = hotel(&app, &admin, 1).await;
    let customer = token(&app.register("race-free@example.com").await);
    let booking = hold(&app, &customer, &city, 2, 3).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    let mut offers = Vec::new();
    for night in 4..14 {
        offers.push(stay_offer(&app, &city, night, night + 1, 2).await);
    }
    let outcomes = join_all(
        offers
            .iter()
            .map(|offer| change(&app, &customer, &id, offer, None))
            .collect(),
    )
    .await;
    let statuses: Vec<u16> = outcomes.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 409].contains(s)),
        "{statuses:?}"
    );
    let held = reserved(&app, &provider);
    assert_eq!(held.len(), 1, "{held:?}");
    let after = get(&app, &customer, &id).await;
    let start: chrono::DateTime<chrono::Utc> = after["start"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        start.with_timezone(&chrono_tz::Asia::Riyadh).date_naive(),
        held[0].0
    );
}
