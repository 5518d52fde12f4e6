//! Regressions from issue #13, each named after its defect: plan changes racing each other,
//! cards saved by payments that failed or lost, and subscription benefits that could be
//! farmed (a trial per sign-up, a free plan change during a trial, bookings with nothing to
//! pay outside the allowance).

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    TestApp, assert_problem, book, day, held, join_all, patient, spawn_app, token, unique_city,
};
use crate::payments::{CARD_DECLINED, CARD_OK, card, hotel, ledger, money, pay, post_keyed};

async fn subscribe(app: &TestApp, customer: &str, plan: &str, number: &str) -> reqwest::Response {
    let mut body = card(number);
    body["plan"] = json!(plan);
    post_keyed(app, "/v1/subscriptions", customer, &body).await
}

async fn subscribed(app: &TestApp, customer: &str, plan: &str) -> Value {
    let response = subscribe(app, customer, plan, CARD_OK).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "subscribing to {plan}: {body}");
    body
}

async fn change(app: &TestApp, customer: &str, plan: &str) -> reqwest::Response {
    post_keyed(
        app,
        "/v1/subscriptions/me/change",
        customer,
        &json!({ "plan": plan }),
    )
    .await
}

async fn cancel_now(app: &TestApp, customer: &str) {
    app.post_ok(
        "/v1/subscriptions/me/cancel",
        customer,
        &json!({ "at": "now" }),
        200,
    )
    .await;
}

/// The cards `GET /v1/payment-methods` lists for the customer.
async fn listed_cards(app: &TestApp, customer: &str) -> Vec<Value> {
    let response = app.get_authed("/v1/payment-methods", customer).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["payment_methods"].as_array().unwrap().clone()
}

/// (status, amount) of a subscription's payments, oldest first.
fn payments_of(app: &TestApp, subscription: &Value) -> Vec<(String, Decimal)> {
    let id: Uuid = subscription["id"].as_str().unwrap().parse().unwrap();
    use wasit::schema::payments::dsl as p;
    p::payments
        .filter(p::subscription_id.eq(id))
        .order(p::created_at)
        .select((p::status, p::amount))
        .load(&mut app.db.connect())
        .unwrap()
}

/// The answer's status and, for a problem, its code.
async fn outcome(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

// --- Defect 3: concurrent plan changes credit the same period many times

#[tokio::test]
async fn concurrent_plan_changes_credit_the_period_once() {
    let app = spawn_app().await;
    let customer = token(&app.register("racing-change@example.com").await);
    let sub = subscribed(&app, &customer, "business").await;
    assert_eq!(sub["status"], "active");
    let business_payment: Uuid = {
        use wasit::schema::payments::dsl as p;
        p::payments
            .filter(p::subscription_id.eq(sub["id"].as_str().unwrap().parse::<Uuid>().unwrap()))
            .select(p::id)
            .first(&mut app.db.connect())
            .unwrap()
    };

    let attempts = (0..10).map(|_| change(&app, &customer, "plus")).collect();
    let mut answers = Vec::new();
    for response in join_all(attempts).await {
        answers.push(outcome(response).await);
    }
    assert_eq!(
        answers.iter().filter(|(status, _)| *status == 200).count(),
        1,
        "exactly one change wins: {answers:?}"
    );
    assert!(
        answers.iter().all(|(status, code)| *status == 200
            || (*status == 409
                && ["subscription.same_plan", "payment.in_progress"].contains(&code.as_str()))),
        "the others are told the plan is already changing or changed: {answers:?}"
    );

    let refunds: i64 = {
        use wasit::schema::refunds::dsl as r;
        r::refunds
            .filter(r::payment_id.eq(business_payment))
            .count()
            .get_result(&mut app.db.connect())
            .unwrap()
    };
    assert_eq!(refunds, 1, "the unused year is credited once");
    let plus_charges: Vec<String> = payments_of(&app, &sub)
        .into_iter()
        .filter(|(_, amount)| *amount == "56.35".parse::<Decimal>().unwrap())
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        plus_charges,
        ["succeeded"],
        "the new plan is charged once and only by the change that won"
    );

    let me: Value = app
        .get_authed("/v1/subscriptions/me", &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["plan"]["code"], "plus");

    // Down to the free plan, nothing to charge: the same, decided under the lock alone.
    let plus_payment: Uuid = {
        use wasit::schema::payments::dsl as p;
        p::payments
            .filter(p::amount.eq("56.35".parse::<Decimal>().unwrap()))
            .select(p::id)
            .first(&mut app.db.connect())
            .unwrap()
    };
    let attempts = (0..10).map(|_| change(&app, &customer, "basic")).collect();
    let mut answers = Vec::new();
    for response in join_all(attempts).await {
        answers.push(outcome(response).await);
    }
    let won = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers
        .iter()
        .filter(|answer| **answer == (409, "subscription.same_plan".to_owned()))
        .count();
    assert_eq!((won, refused), (1, 9), "{answers:?}");
    let refunds: i64 = {
        use wasit::schema::refunds::dsl as r;
        r::refunds
            .filter(r::payment_id.eq(plus_payment))
            .count()
            .get_result(&mut app.db.connect())
            .unwrap()
    };
    assert_eq!(refunds, 1, "the unused month is credited once");

    app.run_pending_jobs().await;
    let (_, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
}

// --- Defect 4: a refused or losing payment still saves the card

#[tokio::test]
async fn losing_payments_save_no_card() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("losing-card@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;

    let attempts = (0..10)
        .map(|_| pay(&app, &customer, &booking, CARD_OK))
        .collect();
    let mut answers = Vec::new();
    let mut paid = Value::Null;
    for response in join_all(attempts).await {
        if response.status() == 200 {
            paid = response.json().await.unwrap();
            answers.push((200, String::new()));
        } else {
            answers.push(outcome(response).await);
        }
    }
    assert_eq!(
        answers.iter().filter(|(status, _)| *status == 200).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|(status, _)| [200, 409].contains(status)),
        "{answers:?}"
    );

    let cards = listed_cards(&app, &customer).await;
    assert_eq!(
        cards.len(),
        1,
        "one payment succeeded with one card, so one card is saved; listed: {cards:?}"
    );
    assert_eq!(cards[0]["id"], paid["payment"]["card"]["id"]);
    assert_eq!(cards[0]["last4"], "4242");
}

#[tokio::test]
async fn declined_card_is_not_saved() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("declined-card@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;

    assert_problem(
        pay(&app, &customer, &booking, CARD_DECLINED).await,
        402,
        "payment.declined",
    )
    .await;
    let cards = listed_cards(&app, &customer).await;
    assert!(cards.is_empty(), "a declined card was saved: {cards:?}");

    // Nor does a declined subscription sign-up keep its card.
    assert_problem(
        subscribe(&app, &customer, "business", CARD_DECLINED).await,
        402,
        "payment.declined",
    )
    .await;
    let cards = listed_cards(&app, &customer).await;
    assert!(cards.is_empty(), "a declined card was saved: {cards:?}");

    // The good card that pays afterwards is the one saved.
    assert_eq!(pay(&app, &customer, &booking, CARD_OK).await.status(), 200);
    let cards = listed_cards(&app, &customer).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0]["last4"], "4242");
}

#[tokio::test]
async fn same_card_is_saved_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("same-card@example.com").await);

    let first = held(&app, &customer, &city, 10).await;
    let response = pay(&app, &customer, &first, CARD_OK).await;
    assert_eq!(response.status(), 200);
    let first_paid: Value = response.json().await.unwrap();
    // The same number typed again, spaced as people type it.
    let second = held(&app, &customer, &city, 12).await;
    let response = post_keyed(
        &app,
        &format!("/v1/bookings/{}/pay", second["id"].as_str().unwrap()),
        &customer,
        &card("4242 4242 4242 4242"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let second_paid: Value = response.json().await.unwrap();

    let cards = listed_cards(&app, &customer).await;
    assert_eq!(
        cards.len(),
        1,
        "the same card paid twice is saved once; listed: {cards:?}"
    );
    let saved = cards[0]["id"].clone();
    assert_eq!(first_paid["payment"]["card"]["id"], saved);
    assert_eq!(
        second_paid["payment"]["card"]["id"], saved,
        "the second payment names the saved card"
    );

    // The saved card pays by its id; a card only typed into a failed payment does not.
    let third = held(&app, &customer, &city, 14).await;
    let response = post_keyed(
        &app,
        &format!("/v1/bookings/{}/pay", third["id"].as_str().unwrap()),
        &customer,
        &json!({ "payment_method_id": saved }),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(listed_cards(&app, &customer).await.len(), 1);
    // Another customer paying with the same number has a card of their own, saved once
    // even when several of their payments with it succeed at the same moment.
    let other = token(&app.register("same-card-other@example.com").await);
    let mut theirs = Vec::new();
    for check_in in [10, 12, 14, 16] {
        theirs.push(held(&app, &other, &city, check_in).await);
    }
    let attempts = theirs
        .iter()
        .map(|booking| pay(&app, &other, booking, CARD_OK))
        .collect();
    let mut paid_with = Vec::new();
    for response in join_all(attempts).await {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        paid_with.push(body["payment"]["card"]["id"].clone());
    }
    let their_cards = listed_cards(&app, &other).await;
    assert_eq!(their_cards.len(), 1, "{their_cards:?}");
    assert_ne!(their_cards[0]["id"], saved);
    let payments: Vec<Value> = {
        let mut ids = Vec::new();
        for booking in &theirs {
            let page: Value = app
                .get_authed(
                    &format!("/v1/bookings/{}", booking["id"].as_str().unwrap()),
                    &other,
                )
                .await
                .json()
                .await
                .unwrap();
            ids.push(page["payment"]["id"].clone());
        }
        ids
    };
    for payment in payments {
        let page: Value = app
            .get_authed(
                &format!("/v1/payments/{}", payment.as_str().unwrap()),
                &other,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            page["payment"]["card"]["id"], their_cards[0]["id"],
            "every payment names the saved card (answered with {paid_with:?})"
        );
    }
}

// --- Defect 5: subscription benefits can be farmed

#[tokio::test]
async fn resubscribing_gives_no_second_trial() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("trial-farmer@example.com").await);

    let first = subscribed(&app, &customer, "plus").await;
    assert_eq!(first["status"], "trialing");
    assert!(payments_of(&app, &first).is_empty());
    // The site reads this to stop offering a trial the customer can no longer have.
    assert_eq!(first["trial_used"], true, "{first}");
    cancel_now(&app, &customer).await;

    let again = subscribed(&app, &customer, "plus").await;
    assert_eq!(
        again["status"], "active",
        "a customer who had a trial gets no second one: {again}"
    );
    assert_eq!(
        payments_of(&app, &again),
        [("succeeded".to_owned(), "56.35".parse().unwrap())],
        "the first period is charged at once"
    );
    cancel_now(&app, &customer).await;

    // Nor on another plan with a trial.
    let gold = json!({ "code": "gold", "name_ar": "ذهبي", "name_en": "Gold", "price": "20.00", "interval": "month", "trial_days": 14, "fee_discount_percent": 75, "bookings_per_period": 20 });
    app.post_ok("/v1/admin/plans", &admin, &gold, 201).await;
    let other_plan = subscribed(&app, &customer, "gold").await;
    assert_eq!(other_plan["status"], "active", "{other_plan}");
    assert_eq!(
        payments_of(&app, &other_plan),
        [("succeeded".to_owned(), "23.00".parse().unwrap())]
    );

    // Someone who never had one still gets their trial.
    let newcomer = token(&app.register("trial-newcomer@example.com").await);
    let basic = subscribed(&app, &newcomer, "basic").await;
    assert_eq!(basic["trial_used"], false, "{basic}");
    cancel_now(&app, &newcomer).await;
    assert_eq!(
        subscribed(&app, &newcomer, "gold").await["status"],
        "trialing"
    );
}

#[tokio::test]
async fn changing_plan_during_trial_charges_the_new_plan() {
    let app = spawn_app().await;
    let customer = token(&app.register("trial-upgrade@example.com").await);
    let sub = subscribed(&app, &customer, "plus").await;
    assert_eq!(sub["status"], "trialing");

    let response = change(&app, &customer, "business").await;
    let status = response.status();
    let changed: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["plan"]["code"], "business");
    assert_eq!(
        (
            changed["status"].as_str(),
            changed["proration"]["charged"].as_str()
        ),
        (Some("active"), Some("2185.00")),
        "the trial ends and the new plan is charged in full: {changed}"
    );
    assert_eq!(money(&changed["proration"]["credit"]), Decimal::ZERO);
    let start: chrono::DateTime<chrono::Utc> = changed["current_period_start"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: chrono::DateTime<chrono::Utc> = changed["current_period_end"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((end - start).num_days() >= 365, "{start} .. {end}");
    assert_eq!(
        payments_of(&app, &sub),
        [("succeeded".to_owned(), "2185.00".parse().unwrap())]
    );

    // A trial that moves to the free plan ends too, with nothing charged.
    let other = token(&app.register("trial-downgrade@example.com").await);
    let trial = subscribed(&app, &other, "plus").await;
    let response = change(&app, &other, "basic").await;
    assert_eq!(response.status(), 200);
    let free: Value = response.json().await.unwrap();
    assert_eq!(free["status"], "active");
    assert!(payments_of(&app, &trial).is_empty());
    // ... and it was their trial: going back to Plus is charged.
    let response = change(&app, &other, "plus").await;
    assert_eq!(response.status(), 200);
    let back: Value = response.json().await.unwrap();
    assert_eq!(
        (
            back["status"].as_str(),
            back["proration"]["charged"].as_str()
        ),
        (Some("active"), Some("56.35"))
    );
}

#[tokio::test]
async fn allowance_counts_bookings_with_nothing_to_pay() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // One booking a month, our fee waived.
    let pass = json!({ "code": "clinic-pass", "name_ar": "بطاقة العيادة", "name_en": "Clinic pass", "price": "10.00", "interval": "month", "trial_days": 0, "fee_discount_percent": 100, "bookings_per_period": 1 });
    app.post_ok("/v1/admin/plans", &admin, &pass, 201).await;
    // A clinic paid on site: with the fee waived, nothing is due through us.
    let city = unique_city("clinic");
    let hospital = json!({ "kind": "hospital", "name_ar": "مستشفى", "name_en": "On-site Hospital", "city": city, "adapter": "local", "prepaid": false });
    let provider_id = app.post_ok("/v1/providers", &admin, &hospital, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unit = json!({ "kind": "clinic_service", "name_ar": "قلب", "name_en": "Cardiology", "specialty": "cardiology", "practitioner": "Dr. Huda", "slot_minutes": 30, "price": "300.00" });
    let unit_id = app
        .post_ok(
            &format!("/v1/providers/{provider_id}/units"),
            &admin,
            &unit,
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let every_day = json!(["sun", "mon", "tue", "wed", "thu", "fri", "sat"]);
    app.post_ok(
        &format!("/v1/providers/{provider_id}/units/{unit_id}/availability"),
        &admin,
        &json!({ "from": day(1), "to": day(3), "day_start": "10:00", "day_end": "12:00", "weekdays": every_day }),
        200,
    )
    .await;

    let customer = token(&app.register("allowance@example.com").await);
    let sub = subscribed(&app, &customer, "clinic-pass").await;
    assert_eq!(sub["status"], "active");
    let results: Value = app
        .search(&format!(
            "kind=hospital&city={city}&from={}&to={}",
            day(1),
            day(2)
        ))
        .await
        .json()
        .await
        .unwrap();
    let offers = results["offers"].as_array().unwrap();
    assert!(offers.len() >= 2, "{results}");
    let mut bookings = Vec::new();
    for offer in &offers[..2] {
        let response = book(
            &app,
            &customer,
            &Uuid::new_v4().to_string(),
            &json!({ "offer_id": offer["offer_id"], "patient": patient() }),
        )
        .await;
        assert_eq!(response.status(), 201);
        let booking: Value = response.json().await.unwrap();
        assert_eq!(money(&booking["due_now"]), Decimal::ZERO, "{booking}");
        bookings.push(booking);
    }

    let response = pay(&app, &customer, &bookings[0], CARD_OK).await;
    assert_eq!(response.status(), 200);
    let first: Value = response.json().await.unwrap();
    assert!(first["payment"].is_null(), "{first}");
    assert_eq!(first["booking"]["status"], "pending");

    assert_problem(
        pay(&app, &customer, &bookings[1], CARD_OK).await,
        409,
        "billing.plan_limit",
    )
    .await;
    let me: Value = app
        .get_authed("/v1/subscriptions/me", &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["bookings_used"], 1, "{me}");

    // Bookings with nothing to pay sent on at once count each other.
    let rushed = token(&app.register("allowance-rush@example.com").await);
    subscribed(&app, &rushed, "clinic-pass").await;
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
    let offers = results["offers"].as_array().unwrap();
    assert!(offers.len() >= 3, "{results}");
    let mut held_now = Vec::new();
    for offer in &offers[..3] {
        let response = book(
            &app,
            &rushed,
            &Uuid::new_v4().to_string(),
            &json!({ "offer_id": offer["offer_id"], "patient": patient() }),
        )
        .await;
        assert_eq!(response.status(), 201);
        held_now.push(response.json::<Value>().await.unwrap());
    }
    let attempts = held_now
        .iter()
        .map(|booking| pay(&app, &rushed, booking, CARD_OK))
        .collect();
    let mut answers = Vec::new();
    for response in join_all(attempts).await {
        answers.push(outcome(response).await);
    }
    let sent = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers
        .iter()
        .filter(|answer| **answer == (409, "billing.plan_limit".to_owned()))
        .count();
    assert_eq!((sent, refused), (1, 2), "{answers:?}");
}
