//! Regressions from issue #13, each named after its defect: plan changes racing each other,
//! and cards saved by payments that failed or lost.

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_problem, held, join_all, spawn_app, token};
use crate::payments::{CARD_DECLINED, CARD_OK, card, hotel, ledger, pay, post_keyed};

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
