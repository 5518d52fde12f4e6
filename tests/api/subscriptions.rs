//! Plans and subscriptions: admins manage plans; customers subscribe (trial or first
//! charge), get their plan's discount and allowance, change plan with credit for unused
//! time, cancel; renewals and dunning run on a controlled clock through to `canceled`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{TestApp, assert_problem, held, problem_fields, spawn_app, token};
use crate::payments::{
    CARD_DECLINED, CARD_OK, CARD_RENEWAL_FAILS, balance, card, hotel, ledger, money, pay,
    post_keyed,
};

async fn subscribe(app: &TestApp, customer: &str, plan: &str, number: &str) -> reqwest::Response {
    let mut body = card(number);
    body["plan"] = json!(plan);
    post_keyed(app, "/v1/subscriptions", customer, &body).await
}

async fn mine(app: &TestApp, customer: &str) -> Value {
    let response = app.get_authed("/v1/subscriptions/me", customer).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// No live plan is a plain answer, so the plans page can ask without an error.
async fn assert_no_plan(app: &TestApp, customer: &str) {
    assert_eq!(mine(app, customer).await, Value::Null);
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn renew(app: &TestApp, now: DateTime<Utc>) {
    app.worker("renewals").billing.renew_due(now).await.unwrap();
    app.run_pending_jobs().await;
}

fn payments_of(app: &TestApp, subscription: &str) -> Vec<(String, Decimal)> {
    let mut conn = app.db.connect();
    use wasit::schema::payments::dsl as p;
    p::payments
        .filter(p::subscription_id.eq(subscription.parse::<uuid::Uuid>().unwrap()))
        .order(p::created_at)
        .select((p::status, p::amount))
        .load(&mut conn)
        .unwrap()
}

#[tokio::test]
async fn plans_are_seeded_and_only_admins_change_them_with_valid_prices() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = token(&app.register("plans@example.com").await);

    let listed: Value = app.get("/v1/plans").await.json().await.unwrap();
    let codes: Vec<&str> = listed["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["basic", "plus", "business"]);
    let plus = &listed["plans"][1];
    assert_eq!(
        (
            plus["price"].as_str(),
            plus["vat"].as_str(),
            plus["price_with_vat"].as_str()
        ),
        (Some("49.00"), Some("7.35"), Some("56.35"))
    );
    assert_eq!(plus["interval"], "month");

    let gold = json!({ "code": "gold", "name_ar": "ذهبي", "name_en": "Gold", "price": "99.90", "interval": "month", "trial_days": 0, "fee_discount_percent": 75, "bookings_per_period": 20 });
    assert_problem(
        app.post_json_authed("/v1/admin/plans", &customer, &gold)
            .await,
        403,
        "auth.forbidden",
    )
    .await;
    let created = app.post_ok("/v1/admin/plans", &admin, &gold, 201).await;
    assert_eq!(created["price_with_vat"], "114.89"); // 99.90 + 14.985 -> 14.99
    assert_problem(
        app.post_json_authed("/v1/admin/plans", &admin, &gold).await,
        409,
        "plan.code_taken",
    )
    .await;

    for (field, value) in [
        ("price", json!("0")),
        ("price", json!("-10.00")),
        ("price", json!("9.999")),
        ("code", json!("Gold!")),
        ("fee_discount_percent", json!(101)),
        ("bookings_per_period", json!(0)),
        ("trial_days", json!(400)),
    ] {
        let mut body = gold.clone();
        body["code"] = json!("silver");
        body[field] = value.clone();
        let problem = assert_problem(
            app.post_json_authed("/v1/admin/plans", &admin, &body).await,
            422,
            "validation.failed",
        )
        .await;
        assert_eq!(problem_fields(&problem), [field], "{field}: {value}");
    }
    let response = app
        .client
        .patch(app.url("/v1/admin/plans/gold"))
        .bearer_auth(&admin)
        .json(&json!({ "active": false, "bookings_per_period": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(
        (
            patched["active"].as_bool(),
            patched["bookings_per_period"].is_null()
        ),
        (Some(false), true)
    );
    let listed: Value = app.get("/v1/plans").await.json().await.unwrap();
    assert_eq!(
        listed["plans"].as_array().unwrap().len(),
        3,
        "an inactive plan is not offered"
    );
}

#[tokio::test]
async fn a_trial_charges_nothing_then_renews_into_an_active_paid_period() {
    let app = spawn_app().await;
    let customer = token(&app.register("trial@example.com").await);
    let response = subscribe(&app, &customer, "plus", CARD_OK).await;
    assert_eq!(response.status(), 201);
    let sub: Value = response.json().await.unwrap();
    assert_eq!(sub["status"], "trialing");
    assert_eq!(sub["card"]["last4"], "4242");
    let trial_end = at(&sub["current_period_end"]);
    let days = (trial_end - at(&sub["current_period_start"])).num_days();
    assert_eq!(days, 7);
    let id = sub["id"].as_str().unwrap();
    assert!(payments_of(&app, id).is_empty(), "a trial charged");

    // Before the trial ends nothing happens; after, the first month is charged.
    renew(&app, trial_end - Duration::minutes(1)).await;
    assert_eq!(mine(&app, &customer).await["status"], "trialing");
    renew(&app, trial_end + Duration::seconds(1)).await;
    let renewed = mine(&app, &customer).await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(at(&renewed["current_period_start"]), trial_end);
    assert!(at(&renewed["current_period_end"]) > trial_end + Duration::days(27));
    assert_eq!(
        payments_of(&app, id),
        [("succeeded".to_owned(), "56.35".parse().unwrap())]
    );
    // The sweep running again in the same period charges nothing more.
    renew(&app, trial_end + Duration::seconds(2)).await;
    assert_eq!(payments_of(&app, id).len(), 1);
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "subscription_revenue"),
        "-49.00".parse().unwrap()
    );
    assert_eq!(balance(&balances, "vat_payable"), "-7.35".parse().unwrap());
    let invoices: Value = app
        .get_authed("/v1/invoices", &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(invoices["invoices"][0]["total"], "56.35");
}

#[tokio::test]
async fn failed_renewals_go_past_due_retry_on_schedule_then_cancel() {
    let app = spawn_app().await;
    let customer = token(&app.register("dunning@example.com").await);
    // The renewal-failing card pays with the customer present, and is declined off-session.
    let response = subscribe(&app, &customer, "business", CARD_RENEWAL_FAILS).await;
    assert_eq!(response.status(), 201);
    let sub: Value = response.json().await.unwrap();
    assert_eq!(sub["status"], "active");
    let id = sub["id"].as_str().unwrap().to_owned();
    let end = at(&sub["current_period_end"]);
    assert_eq!(
        payments_of(&app, &id),
        [("succeeded".to_owned(), "2185.00".parse().unwrap())]
    );

    renew(&app, end + Duration::seconds(1)).await;
    let due = mine(&app, &customer).await;
    assert_eq!(due["status"], "past_due");
    assert_eq!(due["dunning_attempts"], 1);
    assert_eq!(at(&due["next_attempt_at"]), end + Duration::days(1));
    // No benefits while past due.
    assert_eq!(
        wasit::billing::subscriptions::fee_discount(
            &mut app.db.connect(),
            due["customer_id"].as_str().unwrap().parse().unwrap()
        )
        .unwrap(),
        0
    );

    // Not yet due: nothing. Then each retry on the configured days (1, 3, 7).
    renew(&app, end + Duration::hours(23)).await;
    assert_eq!(mine(&app, &customer).await["dunning_attempts"], 1);
    for (retry_day, attempts) in [(1, 2), (3, 3)] {
        renew(&app, end + Duration::days(retry_day) + Duration::seconds(1)).await;
        let due = mine(&app, &customer).await;
        assert_eq!(
            (due["status"].as_str(), due["dunning_attempts"].as_i64()),
            (Some("past_due"), Some(attempts))
        );
    }
    renew(&app, end + Duration::days(7) + Duration::seconds(1)).await;
    assert_no_plan(&app, &customer).await;
    let statuses: Vec<String> = payments_of(&app, &id).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        statuses,
        ["succeeded", "failed", "failed", "failed", "failed"]
    );
    let mut conn = app.db.connect();
    use wasit::schema::subscriptions::dsl as s;
    let (status, canceled_at): (String, Option<DateTime<Utc>>) = s::subscriptions
        .find(id.parse::<uuid::Uuid>().unwrap())
        .select((s::status, s::canceled_at))
        .first(&mut conn)
        .unwrap();
    assert_eq!(status, "canceled");
    assert!(canceled_at.is_some());
    // Canceled for good: later sweeps charge nothing.
    renew(&app, end + Duration::days(40)).await;
    assert_eq!(payments_of(&app, &id).len(), 5);
}

#[tokio::test]
async fn a_declined_sign_up_writes_no_subscription_and_a_second_one_is_refused() {
    let app = spawn_app().await;
    let customer = token(&app.register("declined@example.com").await);
    let problem = assert_problem(
        subscribe(&app, &customer, "business", CARD_DECLINED).await,
        402,
        "payment.declined",
    )
    .await;
    assert_eq!(problem["decline_reason"], "card_declined");
    assert_no_plan(&app, &customer).await;
    let (balances, _) = ledger(&app);
    assert!(balances.is_empty());

    assert_eq!(
        subscribe(&app, &customer, "business", CARD_OK)
            .await
            .status(),
        201
    );
    assert_problem(
        subscribe(&app, &customer, "plus", CARD_OK).await,
        409,
        "subscription.exists",
    )
    .await;
    // A paid plan needs a card; an unknown plan is a field error.
    let other = token(&app.register("nocard@example.com").await);
    let problem = assert_problem(
        post_keyed(
            &app,
            "/v1/subscriptions",
            &other,
            &json!({ "plan": "plus" }),
        )
        .await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["payment_method_id"]);
    let problem = assert_problem(
        subscribe(&app, &other, "platinum", CARD_OK).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["plan"]);
    // The free tier needs no card.
    let free = post_keyed(
        &app,
        "/v1/subscriptions",
        &other,
        &json!({ "plan": "basic" }),
    )
    .await;
    assert_eq!(free.status(), 201);
}

#[tokio::test]
async fn subscribers_get_their_fee_discount_within_their_allowance() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 10).await;
    let customer = token(&app.register("perks@example.com").await);
    assert_eq!(
        subscribe(&app, &customer, "plus", CARD_OK).await.status(),
        201
    );
    // Plus: half off the fee. Two nights at 450 + 12.50 + 1.88 VAT (1.875 half-up).
    let booking = held(&app, &customer, &city, 10).await;
    assert_eq!(booking["price"]["total"], "914.38");
    let paid: Value = pay(&app, &customer, &booking, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["payment"]["amount"], "914.38");
    assert_eq!(mine(&app, &customer).await["bookings_used"], 1);

    // Down to one booking a month: the next one is refused before any charge.
    let response = app
        .client
        .patch(app.url("/v1/admin/plans/plus"))
        .bearer_auth(&admin)
        .json(&json!({ "bookings_per_period": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second = held(&app, &customer, &city, 12).await;
    assert_problem(
        pay(&app, &customer, &second, CARD_OK).await,
        409,
        "billing.plan_limit",
    )
    .await;
    let mut conn = app.db.connect();
    let count: i64 = wasit::schema::payments::table
        .filter(wasit::schema::payments::purpose.eq("booking"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(count, 1);

    // Business waives the fee entirely.
    let company = token(&app.register("company@example.com").await);
    assert_eq!(
        subscribe(&app, &company, "business", CARD_OK)
            .await
            .status(),
        201
    );
    let booking = held(&app, &company, &city, 10).await;
    assert_eq!(booking["price"]["total"], "900.00");
}

#[tokio::test]
async fn changing_plan_credits_the_unused_time_and_charges_the_new_plan() {
    let app = spawn_app().await;
    let customer = token(&app.register("change@example.com").await);
    let sub: Value = subscribe(&app, &customer, "business", CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sub["status"], "active");

    let response = post_keyed(
        &app,
        "/v1/subscriptions/me/change",
        &customer,
        &json!({ "plan": "plus" }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["plan"]["code"], "plus");
    assert_eq!(changed["status"], "active");
    assert_eq!(changed["proration"]["charged"], "56.35");
    // Almost the whole year was unused: nearly all of 2185.00 comes back.
    let credit = money(&changed["proration"]["credit"]);
    assert!(
        credit > "2184.90".parse().unwrap() && credit <= "2185.00".parse().unwrap(),
        "{credit}"
    );
    app.run_pending_jobs().await;
    let year = payments_of(&app, sub["id"].as_str().unwrap());
    assert_eq!(year.len(), 2);
    let mut conn = app.db.connect();
    use wasit::schema::payments::dsl as p;
    let refunded: Decimal = p::payments
        .filter(p::amount.eq::<Decimal>("2185.00".parse().unwrap()))
        .select(p::refunded)
        .first(&mut conn)
        .unwrap();
    assert_eq!(refunded, credit);
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        "2185.00".parse::<Decimal>().unwrap() + "56.35".parse::<Decimal>().unwrap() - credit
    );

    assert_problem(
        post_keyed(
            &app,
            "/v1/subscriptions/me/change",
            &customer,
            &json!({ "plan": "plus" }),
        )
        .await,
        409,
        "subscription.same_plan",
    )
    .await;

    // Proration itself: a third of a period left gives back a third of what was paid.
    let start = Utc::now();
    let paid = wasit::billing::payments::PaymentRow {
        id: uuid::Uuid::new_v4(),
        customer_id: uuid::Uuid::new_v4(),
        purpose: "subscription".into(),
        booking_id: None,
        subscription_id: None,
        period_start: None,
        amount: "56.35".parse().unwrap(),
        refunded: Decimal::ZERO,
        currency: "SAR".into(),
        lines: json!([]),
        status: "succeeded".into(),
        gateway: "sandbox".into(),
        gateway_ref: None,
        action_url: None,
        payment_method_id: None,
        failure_code: None,
        failure_message: None,
        created_by: None,
        created_at: start,
        updated_at: start,
        booking_change_id: None,
        package_id: None,
    };
    let credit = wasit::billing::subscriptions::proration_credit(
        &paid,
        start,
        start + Duration::days(30),
        start + Duration::days(20),
    );
    assert_eq!(credit, "18.78".parse().unwrap()); // 56.35 / 3 = 18.783…
}

#[tokio::test]
async fn cancelling_at_period_end_ends_without_a_charge_and_now_ends_at_once() {
    let app = spawn_app().await;
    let customer = token(&app.register("leaving@example.com").await);
    let sub: Value = subscribe(&app, &customer, "plus", CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    let cancelled = app
        .post_ok(
            "/v1/subscriptions/me/cancel",
            &customer,
            &json!({ "at": "period_end" }),
            200,
        )
        .await;
    assert_eq!(
        (
            cancelled["status"].as_str(),
            cancelled["cancel_at_period_end"].as_bool()
        ),
        (Some("trialing"), Some(true))
    );
    renew(&app, at(&sub["current_period_end"]) + Duration::seconds(1)).await;
    assert_no_plan(&app, &customer).await;
    assert!(payments_of(&app, sub["id"].as_str().unwrap()).is_empty());

    // An agent cancels a client's subscription at once, on the record.
    let agent = token(&app.user_with_role(Role::Agent).await);
    assert_eq!(
        subscribe(&app, &customer, "business", CARD_OK)
            .await
            .status(),
        201
    );
    let me = mine(&app, &customer).await;
    let customer_id = me["customer_id"].as_str().unwrap();
    assert_problem(
        app.get_authed("/v1/subscriptions/me", &agent).await,
        400,
        "query.invalid",
    )
    .await;
    let theirs: Value = app
        .get_authed(
            &format!("/v1/subscriptions/me?customer_id={customer_id}"),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["id"], me["id"]);
    let ended = app
        .post_ok(
            "/v1/subscriptions/me/cancel",
            &agent,
            &json!({ "at": "now", "customer_id": customer_id }),
            200,
        )
        .await;
    assert_eq!(ended["status"], "canceled");
    let audit: Value = app
        .get_authed(
            "/v1/audit?action=subscription.cancel",
            &app.admin_token().await,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1));
    // A customer cannot act for someone else.
    assert_problem(
        app.post_json_authed(
            "/v1/subscriptions/me/cancel",
            &customer,
            &json!({ "at": "now", "customer_id": customer_id }),
        )
        .await,
        403,
        "auth.forbidden",
    )
    .await;
}

#[tokio::test]
async fn many_sign_ups_at_once_make_one_subscription_and_one_charge() {
    let app = spawn_app().await;
    let customer = token(&app.register("eager@example.com").await);
    let attempts = (0..8)
        .map(|_| subscribe(&app, &customer, "business", CARD_OK))
        .collect();
    let statuses: Vec<u16> = crate::helpers::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [201, 409].contains(s)),
        "{statuses:?}"
    );
    let mut conn = app.db.connect();
    use wasit::schema::payments::dsl as p;
    let charged: i64 = p::payments
        .filter(p::status.eq("succeeded"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(charged, 1);
    let live: i64 = wasit::schema::subscriptions::table
        .filter(wasit::schema::subscriptions::status.ne("canceled"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(live, 1);
}

#[tokio::test]
async fn an_agent_takes_a_card_on_the_phone_for_a_client_on_the_record() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let city = hotel(&app, &admin, 5).await;
    let client = app
        .post_ok(
            "/v1/customers",
            &agent,
            &json!({ "full_name": "Fatima Al-Zahrani", "phone": "+966501234567" }),
            201,
        )
        .await;
    let offer = crate::helpers::stay_offer(&app, &city, 10, 12, 2).await;
    let booking: Value = crate::helpers::book(
        &app,
        &agent,
        "phone-1",
        &json!({ "offer_id": offer["offer_id"], "customer_id": client["id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let response = pay(&app, &agent, &booking, CARD_OK).await;
    assert_eq!(response.status(), 200);
    let paid: Value = response.json().await.unwrap();
    assert_eq!(paid["booking"]["status"], "pending");
    let audit: Value = app
        .get_authed("/v1/audit?action=payment.take", &admin)
        .await
        .json()
        .await
        .unwrap();
    let entry = &audit["entries"][0];
    assert_eq!(entry["on_behalf_of"], client["id"]);
    assert_eq!(entry["details"]["amount"], "928.75");
    // The client's invoice is theirs: staff find it by customer.
    let invoices: Value = app
        .get_authed(
            &format!(
                "/v1/invoices?customer_id={}",
                client["id"].as_str().unwrap()
            ),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(invoices["invoices"][0]["buyer_name"], "Fatima Al-Zahrani");
}

/// `kind=hotel` search of two nights from `check_in` days ahead, signed in as `token` or not.
async fn search_stay(app: &TestApp, city: &str, check_in: i64, token: Option<&str>) -> Value {
    let path = format!(
        "/v1/search?kind=hotel&city={city}&check_in={}&check_out={}&guests=2",
        crate::helpers::day(check_in),
        crate::helpers::day(check_in + 2)
    );
    let response = match token {
        Some(token) => app.get_authed(&path, token).await,
        None => app.get(&path).await,
    };
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn line_codes(price: &Value) -> Vec<&str> {
    price["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["code"].as_str().unwrap())
        .collect()
}

/// An offer id with its claims altered and the signature kept.
fn tampered(offer_id: &str, change: impl FnOnce(&mut Value)) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = offer_id.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    change(&mut claims);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test]
async fn a_subscriber_sees_offers_priced_for_their_plan_and_books_at_that_price() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 10).await;
    let subscriber = token(&app.register("planned@example.com").await);
    assert_eq!(
        subscribe(&app, &subscriber, "plus", CARD_OK).await.status(),
        201
    );

    // Signed out: the full fee, everything due now at a prepaid provider.
    let anyone = search_stay(&app, &city, 10, None).await["offers"][0].clone();
    assert_eq!(anyone["price"]["total"], "928.75");
    assert_eq!(
        line_codes(&anyone["price"]),
        ["provider_price", "service_fee", "vat"]
    );
    assert_eq!(anyone["due_now"], "928.75");
    assert_eq!(anyone["due_at_provider"], "0.00");

    // Signed in on Plus: the full fee, half of it off as a line, the lines adding up.
    let offer = search_stay(&app, &city, 10, Some(&subscriber)).await["offers"][0].clone();
    let price = &offer["price"];
    assert_eq!(
        line_codes(price),
        ["provider_price", "service_fee", "plan_discount", "vat"]
    );
    let amounts: Vec<&str> = price["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["900.00", "25.00", "-12.50", "1.88"]);
    assert_eq!(price["total"], "914.38");
    assert_eq!(offer["due_now"], "914.38");

    // The discount is applied after the shared answer, never kept in it: the same question
    // signed out still gets the full fee.
    let again = search_stay(&app, &city, 10, None).await["offers"][0].clone();
    assert_eq!(again["price"]["total"], "928.75");
    assert_eq!(again["offer_id"], anyone["offer_id"]);

    // Someone without the plan holding the subscriber's offer is shown their own price.
    let other = token(&app.register("unplanned@example.com").await);
    let body = json!({ "offer_id": offer["offer_id"] });
    let changed = assert_problem(
        crate::helpers::book(&app, &other, &uuid::Uuid::new_v4().to_string(), &body).await,
        409,
        "booking.offer_changed",
    )
    .await;
    assert_eq!(changed["offer"]["price"]["total"], "928.75");

    // A discount written into the offer by hand breaks its signature.
    for forged in [
        tampered(anyone["offer_id"].as_str().unwrap(), |claims| {
            claims["d"] = json!(100);
            claims["t"] = json!("900.00");
        }),
        tampered(offer["offer_id"].as_str().unwrap(), |claims| {
            claims["t"] = json!("900.00");
        }),
    ] {
        let body = json!({ "offer_id": forged });
        let response =
            crate::helpers::book(&app, &subscriber, &uuid::Uuid::new_v4().to_string(), &body).await;
        assert_problem(response, 400, "offer.invalid").await;
    }

    // The subscriber's own offer holds at the price shown, the discount kept as a line.
    let response =
        crate::helpers::book(&app, &subscriber, &uuid::Uuid::new_v4().to_string(), &body).await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["price"], offer["price"]);
    assert_eq!(booking["due_now"], "914.38");
    let id = booking["id"].as_str().unwrap();
    let read: Value = app
        .get_authed(&format!("/v1/bookings/{id}"), &subscriber)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["price"], offer["price"]);
    let paid: Value = pay(&app, &subscriber, &booking, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["payment"]["amount"], "914.38");
}

#[tokio::test]
async fn offers_and_bookings_say_what_is_paid_now_and_what_at_the_provider() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = crate::helpers::unique_city("split");
    let (provider_id, _) = app
        .local_hotel(&admin, &city, "Pay At Desk", 3, "450.00", 30)
        .await;
    app.patch_ok(
        &format!("/v1/providers/{provider_id}"),
        &admin,
        &json!({ "prepaid": false }),
    )
    .await;
    let subscriber = token(&app.register("split@example.com").await);
    assert_eq!(
        subscribe(&app, &subscriber, "plus", CARD_OK).await.status(),
        201
    );
    let anyone = search_stay(&app, &city, 10, None).await["offers"][0].clone();
    assert_eq!(anyone["due_now"], "28.75");
    assert_eq!(anyone["due_at_provider"], "900.00");
    let offer = search_stay(&app, &city, 10, Some(&subscriber)).await["offers"][0].clone();
    assert_eq!(offer["due_now"], "14.38");
    assert_eq!(offer["due_at_provider"], "900.00");

    let body = json!({ "offer_id": offer["offer_id"] });
    let response =
        crate::helpers::book(&app, &subscriber, &uuid::Uuid::new_v4().to_string(), &body).await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["due_now"], "14.38");
    assert_eq!(booking["due_at_provider"], "900.00");
    assert_eq!(booking["price"]["total"], "914.38");

    // Staff searching for the client see the client's price; a customer may not ask for
    // someone else's, and a bad token is refused rather than shown full prices.
    let agent = token(&app.user_with_role(Role::Agent).await);
    let customer_id = booking["customer_id"].as_str().unwrap();
    let path = format!(
        "/v1/search?kind=hotel&city={city}&check_in={}&check_out={}&guests=2&customer_id={customer_id}",
        crate::helpers::day(10),
        crate::helpers::day(12)
    );
    let for_client: Value = app.get_authed(&path, &agent).await.json().await.unwrap();
    assert_eq!(for_client["offers"][0]["due_now"], "14.38");
    assert_problem(
        app.get_authed(&path, &subscriber).await,
        403,
        "auth.forbidden",
    )
    .await;
    assert_eq!(app.get_authed(&path, "not-a-token").await.status(), 401);
}
