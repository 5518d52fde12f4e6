//! Regressions from issue #13, each named after its defect: plan changes racing each other.

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, join_all, spawn_app, token};
use crate::payments::{CARD_OK, card, ledger, post_keyed};

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
