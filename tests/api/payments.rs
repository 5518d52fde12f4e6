//! Paying for bookings with the sandbox gateway: each test card's outcome, 3-D Secure, a
//! payment that lands after its hold ended, double submits, refunds by policy and by
//! staff, invoices (gapless under concurrency, JSON and printable) and a ledger that
//! balances after randomized flows.

use base64::Engine;
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;
use wasit::auth::Role;

use crate::helpers::{
    TestApp, assert_problem, book, held, join_all, problem_fields, spawn_app, stay_offer, token,
    unique_city,
};

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_NO_FUNDS: &str = "4000000000009995";
pub const CARD_RENEWAL_FAILS: &str = "4000000000000341";
pub const CARD_3DS: &str = "4000002760003184";

/// A card by its number, valid for a few more years whenever the tests run.
pub fn card(number: &str) -> Value {
    let exp_year = chrono::Datelike::year(&chrono::Utc::now()) + 4;
    json!({ "card": { "number": number, "exp_month": 12, "exp_year": exp_year, "cvc": "123" } })
}

pub fn money(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not an amount: {value}"))
        .parse()
        .unwrap()
}

/// POSTs with an Idempotency-Key (a fresh one unless given).
pub async fn post_keyed(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A local hotel in a city of its own, with `rooms` rooms at 450.00 a night.
pub async fn hotel(app: &TestApp, admin: &str, rooms: i32) -> String {
    let city = unique_city("pay");
    app.local_hotel(admin, &city, "Hilton", rooms, "450.00", 30)
        .await;
    city
}

/// A held booking of two nights `check_in` days from now; returns the booking.
pub async fn pay(
    app: &TestApp,
    customer: &str,
    booking: &Value,
    number: &str,
) -> reqwest::Response {
    let id = booking["id"].as_str().unwrap();
    post_keyed(
        app,
        &format!("/v1/bookings/{id}/pay"),
        customer,
        &card(number),
    )
    .await
}

/// Holds `count` stays of the same offer, one after another, then pays them all at once.
pub async fn pay_at_once(app: &TestApp, customer: &str, city: &str, count: usize) {
    let offer = stay_offer(app, city, 10, 12, 2).await;
    let mut bookings = Vec::new();
    for _ in 0..count {
        let response = book(
            app,
            customer,
            &Uuid::new_v4().to_string(),
            &json!({ "offer_id": offer["offer_id"] }),
        )
        .await;
        assert_eq!(response.status(), 201);
        bookings.push(response.json::<Value>().await.unwrap());
    }
    let payments = bookings
        .iter()
        .map(|b| pay(app, customer, b, CARD_OK))
        .collect();
    for response in join_all(payments).await {
        assert_eq!(response.status(), 200);
    }
}

/// The sandbox bank's answer to a 3-D Secure step, as the page's form posts it.
pub async fn answer_3ds(app: &TestApp, action: &str, result: &str) -> reqwest::Response {
    app.client
        .post(app.url(action))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("result={result}"))
        .send()
        .await
        .unwrap()
}

async fn booking_status(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_authed(&format!("/v1/bookings/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

/// Sum of ledger entries per account, and transactions that do not balance.
pub fn ledger(app: &TestApp) -> (Vec<(String, Decimal)>, i64) {
    let mut conn = app.db.connect();
    use wasit::schema::ledger_entries::dsl as e;
    let balances: Vec<(String, Option<Decimal>)> = e::ledger_entries
        .group_by(e::account)
        .select((e::account, diesel::dsl::sum(e::amount)))
        .order(e::account)
        .load(&mut conn)
        .unwrap();
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let unbalanced = diesel::sql_query(
        "SELECT count(*) AS n FROM (SELECT transaction_id FROM ledger_entries \
         GROUP BY transaction_id HAVING sum(amount) <> 0) t",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    let balances = balances
        .into_iter()
        .map(|(account, sum)| (account, sum.unwrap_or_default()))
        .collect();
    (balances, unbalanced)
}

pub fn balance(balances: &[(String, Decimal)], account: &str) -> Decimal {
    balances
        .iter()
        .find(|(a, _)| a == account)
        .map(|(_, b)| *b)
        .unwrap_or_default()
}

#[tokio::test]
async fn each_sandbox_card_does_what_it_says_and_only_a_success_moves_money() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("payer@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let id = booking["id"].as_str().unwrap();
    assert_eq!(booking["provider"]["prepaid"], true);
    assert_eq!(booking["due_now"], "928.75");

    for (number, reason) in [
        (CARD_DECLINED, "card_declined"),
        (CARD_NO_FUNDS, "insufficient_funds"),
        ("4000000000000069", "expired_card"),
    ] {
        let problem = assert_problem(
            pay(&app, &customer, &booking, number).await,
            402,
            "payment.declined",
        )
        .await;
        assert_eq!(problem["decline_reason"], reason);
        assert_eq!(booking_status(&app, &customer, id).await["status"], "held");
    }
    let (balances, _) = ledger(&app);
    assert!(
        balances.is_empty(),
        "a declined card moved money: {balances:?}"
    );
    // The booking's history keeps each declined attempt, oldest first, with its reason.
    let declined = booking_status(&app, &customer, id).await["declined_payments"].clone();
    let reasons: Vec<&str> = declined
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["failure_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["card_declined", "insufficient_funds", "expired_card"]
    );
    assert_eq!(declined[0]["amount"], "928.75");

    let response = pay(&app, &customer, &booking, CARD_OK).await;
    assert_eq!(response.status(), 200);
    let paid: Value = response.json().await.unwrap();
    assert_eq!(paid["payment"]["status"], "succeeded");
    assert_eq!(paid["booking"]["status"], "pending");
    // Prepaid local hotel: two nights at 450 + fee 25 + VAT 3.75 on the fee.
    assert_eq!(paid["payment"]["amount"], "928.75");
    assert_eq!(paid["payment"]["card"]["last4"], "4242");
    let lines = paid["payment"]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["code"].as_str(), lines[0]["vat"].as_str()),
        (Some("provider_price"), Some("0.00"))
    );
    assert_eq!(
        (lines[1]["code"].as_str(), lines[1]["vat"].as_str()),
        (Some("service_fee"), Some("3.75"))
    );
    assert!(paid["payment"]["invoice_id"].is_string());

    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        "928.75".parse().unwrap()
    );
    assert_eq!(
        balance(&balances, "provider_payable"),
        "-900.00".parse().unwrap()
    );
    assert_eq!(balance(&balances, "fee_revenue"), "-25.00".parse().unwrap());
    assert_eq!(balance(&balances, "vat_payable"), "-3.75".parse().unwrap());
    assert_eq!(balance(&balances, "customer_receivable"), Decimal::ZERO);

    // The booking page links its payment and invoice, and says who paid.
    let page = booking_status(&app, &customer, id).await;
    assert_eq!(page["payment"]["status"], "succeeded");
    assert_eq!(page["payment"]["invoice_id"], paid["payment"]["invoice_id"]);
    let last = page["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["to_status"].as_str(), last["actor_role"].as_str()),
        (Some("pending"), Some("customer"))
    );
    assert_eq!(last["actor_name"], "Sara Al-Harbi");

    // Paying again: the booking is no longer held.
    assert_problem(
        pay(&app, &customer, &booking, CARD_OK).await,
        409,
        "booking.invalid_state",
    )
    .await;
    // The provider confirmation job was queued with the payment.
    app.run_pending_jobs().await;
    assert_eq!(
        booking_status(&app, &customer, id).await["status"],
        "confirmed"
    );
}

#[tokio::test]
async fn three_d_secure_holds_the_booking_until_the_bank_answers() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("tds@example.com").await);

    let approved = held(&app, &customer, &city, 10).await;
    let before = approved["hold_expires_at"].as_str().unwrap().to_owned();
    let response = pay(&app, &customer, &approved, CARD_3DS).await;
    assert_eq!(response.status(), 202);
    let pending: Value = response.json().await.unwrap();
    assert_eq!(pending["payment"]["status"], "requires_action");
    assert_eq!(pending["booking"]["status"], "held");
    let action = pending["payment"]["action_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(action.starts_with("/sandbox/3ds/"), "{action}");
    let after = pending["booking"]["hold_expires_at"].as_str().unwrap();
    assert!(
        after > before.as_str(),
        "the hold was not extended: {before} -> {after}"
    );

    // The bank's page, then its answer; the browser goes back to the site.
    let page = app.get(&action).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"result\""));
    let answer = answer_3ds(&app, &action, "approve").await;
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("status=succeeded"), "{location}");
    let id = approved["id"].as_str().unwrap();
    assert_eq!(
        booking_status(&app, &customer, id).await["status"],
        "pending"
    );
    // The bank answering twice changes nothing.
    let again = answer_3ds(&app, &action, "deny").await;
    assert_eq!(again.status(), 303);
    assert_eq!(
        booking_status(&app, &customer, id).await["status"],
        "pending"
    );

    // A denied step fails the payment and leaves the booking held for another card.
    let denied = held(&app, &customer, &city, 12).await;
    let pending: Value = pay(&app, &customer, &denied, CARD_3DS)
        .await
        .json()
        .await
        .unwrap();
    let action = pending["payment"]["action_url"]
        .as_str()
        .unwrap()
        .to_owned();
    answer_3ds(&app, &action, "deny").await;
    let payment_id = pending["payment"]["id"].as_str().unwrap();
    let payment: Value = app
        .get_authed(&format!("/v1/payments/{payment_id}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(payment["payment"]["status"], "failed");
    assert_eq!(payment["payment"]["failure_code"], "authentication_failed");
    let id = denied["id"].as_str().unwrap();
    assert_eq!(booking_status(&app, &customer, id).await["status"], "held");
    assert_eq!(pay(&app, &customer, &denied, CARD_OK).await.status(), 200);
}

#[tokio::test]
async fn a_payment_that_completes_after_the_hold_expired_is_refunded_in_full() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("late@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let pending: Value = pay(&app, &customer, &booking, CARD_3DS)
        .await
        .json()
        .await
        .unwrap();
    let action = pending["payment"]["action_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = booking["id"].as_str().unwrap();

    // The customer dawdles at the bank past the (extended) hold; the sweep expires it.
    {
        let mut conn = app.db.connect();
        diesel::sql_query(
            "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(id.parse::<Uuid>().unwrap())
        .execute(&mut conn)
        .unwrap();
    }
    app.worker("sweeper").bookings.expire_due().await.unwrap();
    assert_eq!(
        booking_status(&app, &customer, id).await["status"],
        "expired"
    );

    answer_3ds(&app, &action, "approve").await;
    app.run_pending_jobs().await;
    let payment_id = pending["payment"]["id"].as_str().unwrap();
    let payment: Value = app
        .get_authed(&format!("/v1/payments/{payment_id}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(payment["payment"]["status"], "succeeded");
    assert_eq!(payment["payment"]["refunded"], payment["payment"]["amount"]);
    assert_eq!(payment["refunds"][0]["status"], "succeeded");
    assert_eq!(
        booking_status(&app, &customer, id).await["status"],
        "expired"
    );
    // Nothing of it stays with us: the clearing account is back to zero.
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(balance(&balances, "gateway_clearing"), Decimal::ZERO);
    assert_eq!(balance(&balances, "fee_revenue"), Decimal::ZERO);
    // And the customer has an invoice and its credit note.
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
}

#[tokio::test]
async fn a_payment_submitted_many_times_at_once_charges_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("double@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;

    let attempts = (0..12)
        .map(|_| pay(&app, &customer, &booking, CARD_OK))
        .collect();
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 409].contains(s)),
        "{statuses:?}"
    );
    let mut conn = app.db.connect();
    use wasit::schema::{invoices, payments};
    let captured: i64 = payments::table
        .filter(payments::status.eq("succeeded"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(captured, 1);
    let issued: i64 = invoices::table.count().get_result(&mut conn).unwrap();
    assert_eq!(issued, 1);

    // The same Idempotency-Key replays the first answer instead of paying again.
    let second = held(&app, &customer, &city, 12).await;
    let path = format!("/v1/bookings/{}/pay", second["id"].as_str().unwrap());
    let send = || {
        app.client
            .post(app.url(&path))
            .bearer_auth(&customer)
            .header("idempotency-key", "pay-once")
            .json(&card(CARD_OK))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 200);
    let replay = send().await.unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let captured: i64 = payments::table
        .filter(payments::status.eq("succeeded"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(captured, 2);
}

#[tokio::test]
async fn bad_payment_input_is_refused_before_any_money_moves() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("bad@example.com").await);
    let other = token(&app.register("other@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let path = format!("/v1/bookings/{}/pay", booking["id"].as_str().unwrap());

    let cases = [
        (
            json!({ "card": { "number": "4242424242424241", "exp_month": 12, "exp_year": 2030, "cvc": "123" } }),
            "card.number",
        ),
        (
            json!({ "card": { "number": "4242424242424242", "exp_month": 1, "exp_year": 2020, "cvc": "123" } }),
            "card.exp_year",
        ),
        (
            json!({ "card": { "number": "4242424242424242", "exp_month": 13, "exp_year": 2030, "cvc": "123" } }),
            "card.exp_month",
        ),
        (
            json!({ "card": { "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "12" } }),
            "card.cvc",
        ),
        (json!({}), "payment_method_id"),
        (
            json!({ "token": "tok_visa", "payment_method_id": Uuid::new_v4() }),
            "payment_method_id",
        ),
        (
            json!({ "payment_method_id": Uuid::new_v4() }),
            "payment_method_id",
        ),
    ];
    for (body, field) in cases {
        let problem = assert_problem(
            post_keyed(&app, &path, &customer, &body).await,
            422,
            "validation.failed",
        )
        .await;
        assert_eq!(problem_fields(&problem), [field], "{body}");
    }
    // Someone else's booking does not exist for them.
    assert_problem(
        pay(&app, &other, &booking, CARD_OK).await,
        404,
        "resource.not_found",
    )
    .await;
    // Without an Idempotency-Key nothing happens.
    let bare = app.post_json_authed(&path, &customer, &card(CARD_OK)).await;
    assert_problem(bare, 400, "idempotency.key_required").await;
    // A cancelled booking cannot be paid.
    app.post_ok(
        &format!("/v1/bookings/{}/cancel", booking["id"].as_str().unwrap()),
        &customer,
        &json!({}),
        200,
    )
    .await;
    assert_problem(
        pay(&app, &customer, &booking, CARD_OK).await,
        409,
        "booking.invalid_state",
    )
    .await;

    let mut conn = app.db.connect();
    let payments: i64 = wasit::schema::payments::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(payments, 0, "a refused request wrote a payment");
}

#[tokio::test]
async fn cancelling_refunds_the_policy_share_through_the_gateway_with_a_credit_note() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("cancel@example.com").await);

    // Ten days ahead: the default policy refunds everything.
    let early = held(&app, &customer, &city, 10).await;
    assert_eq!(pay(&app, &customer, &early, CARD_OK).await.status(), 200);
    let cancelled = app
        .post_ok(
            &format!("/v1/bookings/{}/cancel", early["id"].as_str().unwrap()),
            &customer,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(cancelled["refund_amount"], "928.75");

    // Two days ahead (between 24 and 72 hours): half back.
    let late = held(&app, &customer, &city, 2).await;
    assert_eq!(pay(&app, &customer, &late, CARD_OK).await.status(), 200);
    let cancelled = app
        .post_ok(
            &format!("/v1/bookings/{}/cancel", late["id"].as_str().unwrap()),
            &customer,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(cancelled["refund_amount"], "464.38"); // 928.75 / 2, half-up

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
    let mut totals: Vec<String> = notes
        .iter()
        .map(|n| n["total"].as_str().unwrap().to_owned())
        .collect();
    totals.sort();
    assert_eq!(totals, ["464.38", "928.75"]);
    for note in &notes {
        assert!(note["original_invoice_id"].is_string());
        assert!(
            note["original_invoice_number"]
                .as_str()
                .is_some_and(|n| n.starts_with("INV-")),
            "{note}"
        );
        assert!(note["number"].as_str().unwrap().starts_with("CRN-"));
        // A credit note says what was bought: its booking's reference, provider and dates.
        assert_eq!(note["subject"]["kind"], "booking");
        let reference = note["subject"]["reference"].as_str().unwrap();
        assert!([&early, &late].iter().any(|b| b["reference"] == reference));
        let html = app
            .get_authed(
                &format!("/v1/invoices/{}/print", note["id"].as_str().unwrap()),
                &customer,
            )
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("Credit note number") && !html.contains("Invoice number"));
        assert!(
            html.contains(reference) && html.contains("Check-in"),
            "{html}"
        );
        // The half refund reverses VAT in proportion: 3.75 / 2 = 1.875 -> 1.88.
        if note["total"] == "464.38" {
            assert_eq!(note["vat_total"], "1.88");
        }
    }
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        "464.37".parse().unwrap()
    );
}

#[tokio::test]
async fn staff_refunds_part_of_a_payment_but_never_more_than_was_captured() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("partial@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let paid: Value = pay(&app, &customer, &booking, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    let payment_id = paid["payment"]["id"].as_str().unwrap();
    let path = format!("/v1/payments/{payment_id}/refunds");

    // Customers cannot refund themselves; amounts must be money.
    assert_problem(
        post_keyed(
            &app,
            &path,
            &customer,
            &json!({ "amount": "10.00", "reason": "x" }),
        )
        .await,
        403,
        "auth.forbidden",
    )
    .await;
    for amount in ["0", "-5.00", "1.005"] {
        let problem = assert_problem(
            post_keyed(
                &app,
                &path,
                &agent,
                &json!({ "amount": amount, "reason": "goodwill" }),
            )
            .await,
            422,
            "validation.failed",
        )
        .await;
        assert_eq!(problem_fields(&problem), ["amount"], "{amount}");
    }

    // Ten agents refund 100.00 at once from 928.75: nine fit, the tenth would exceed it.
    let hundred = json!({ "amount": "100.00", "reason": "goodwill" });
    let attempts = (0..10)
        .map(|_| post_keyed(&app, &path, &agent, &hundred))
        .collect();
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        9,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        1,
        "{statuses:?}"
    );
    assert_problem(
        post_keyed(
            &app,
            &path,
            &agent,
            &json!({ "amount": "28.76", "reason": "one halala too many" }),
        )
        .await,
        409,
        "refund.exceeds_captured",
    )
    .await;
    assert_eq!(
        post_keyed(
            &app,
            &path,
            &agent,
            &json!({ "amount": "28.75", "reason": "the rest" })
        )
        .await
        .status(),
        202
    );

    app.run_pending_jobs().await;
    let payment: Value = app
        .get_authed(&format!("/v1/payments/{payment_id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(payment["payment"]["refunded"], "928.75");
    assert_eq!(payment["refunds"].as_array().unwrap().len(), 10);
    assert!(
        payment["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "succeeded")
    );
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    for account in [
        "gateway_clearing",
        "provider_payable",
        "fee_revenue",
        "vat_payable",
        "customer_receivable",
    ] {
        assert_eq!(
            balance(&balances, account),
            Decimal::ZERO,
            "{account}: {balances:?}"
        );
    }
    // Staff refunds are audited against the customer.
    let audit: Value = app
        .get_authed("/v1/audit?action=payment.refund", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(10),
        "{audit}"
    );
}

#[tokio::test]
async fn invoice_numbers_stay_gapless_under_fifty_concurrent_payments() {
    // Payments queue for the invoice counter holding a connection each: on a loaded machine
    // the last may wait longer than the default 2 s for one. This test is about the numbers.
    let app = crate::helpers::spawn_app_with(|s| s.database.connect_timeout_secs = 20).await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 50).await;
    let customer = token(&app.register("fifty@example.com").await);
    pay_at_once(&app, &customer, &city, 50).await;
    let mut conn = app.db.connect();
    use wasit::schema::invoices::dsl as i;
    let mut numbers: Vec<(i32, String)> = i::invoices
        .select((i::seq, i::number))
        .load(&mut conn)
        .unwrap();
    numbers.sort();
    let seqs: Vec<i32> = numbers.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(numbers[0].1, format!("INV-{year}-000001"));
    assert_eq!(numbers[49].1, format!("INV-{year}-000050"));
}

#[tokio::test]
async fn invoices_are_the_customers_own_with_a_zatca_qr_and_a_printable_page() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("invoice@example.com").await);
    let stranger = token(&app.register("stranger@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    let paid: Value = pay(&app, &customer, &booking, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    let invoice_id = paid["payment"]["invoice_id"].as_str().unwrap();

    let invoice: Value = app
        .get_authed(&format!("/v1/invoices/{invoice_id}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(invoice["kind"], "invoice");
    assert_eq!(invoice["total"], "928.75");
    assert_eq!(invoice["vat_total"], "3.75");
    assert_eq!(invoice["subtotal"], "925.00");
    // What was bought, as it stood at issue.
    let subject = &invoice["subject"];
    assert_eq!(
        (
            &subject["kind"],
            &subject["reference"],
            &subject["provider_kind"]
        ),
        (&json!("booking"), &booking["reference"], &json!("hotel"))
    );
    assert_eq!(
        subject["starts_at"]
            .as_str()
            .map(|s| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
        booking["start"].as_str().map(|s| s.parse().unwrap())
    );
    assert_eq!(
        invoice["seller"]["vat_number"],
        app.settings.invoices.vat_number
    );
    // The QR: nine TLV fields (ZATCA phase 2), lengths in UTF-8 bytes (the Arabic seller
    // name is longer in bytes than in characters); tests/api/zatca.rs checks every field.
    let tlv = base64::engine::general_purpose::STANDARD
        .decode(invoice["zatca_qr"].as_str().unwrap())
        .unwrap();
    let mut fields: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut at = 0;
    while at < tlv.len() {
        let (tag, len) = (tlv[at], tlv[at + 1] as usize);
        fields.push((tag, tlv[at + 2..at + 2 + len].to_vec()));
        at += 2 + len;
    }
    let seller = &app.settings.invoices.seller_name_ar;
    assert!(seller.len() > seller.chars().count());
    assert_eq!(fields[0], (1, seller.clone().into_bytes()));
    assert_eq!(
        fields[1],
        (2, app.settings.invoices.vat_number.clone().into_bytes())
    );
    assert_eq!(fields[3], (4, b"928.75".to_vec()));
    assert_eq!(fields[4], (5, b"3.75".to_vec()));
    assert_eq!(
        fields[5],
        (
            6,
            invoice["zatca"]["hash"]
                .as_str()
                .unwrap()
                .as_bytes()
                .to_vec()
        )
    );
    assert_eq!(
        fields.iter().map(|(tag, _)| *tag).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<u8>>()
    );

    let page = app
        .get_authed(&format!("/v1/invoices/{invoice_id}/print"), &customer)
        .await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<svg")
            && html.contains("dir=\"rtl\"")
            && html.contains("فاتورة ضريبية مبسطة")
    );
    assert!(html.contains(invoice["number"].as_str().unwrap()));
    assert!(html.contains("Invoice number") && !html.contains("Credit note number"));
    assert!(
        html.contains(booking["reference"].as_str().unwrap()),
        "{html}"
    );
    // Each total sits under "Total", the last column, not spread from "Amount".
    assert!(
        html.contains(
            "<th scope=\"row\" colspan=\"4\">الإجمالي شامل الضريبة / Total including VAT</th><td class=\"num\">928.75 SAR</td>"
        ),
        "{html}"
    );

    // Another customer neither sees it nor finds it in their list.
    assert_problem(
        app.get_authed(&format!("/v1/invoices/{invoice_id}"), &stranger)
            .await,
        404,
        "resource.not_found",
    )
    .await;
    assert_problem(
        app.get_authed(&format!("/v1/invoices/{invoice_id}/print"), &stranger)
            .await,
        404,
        "resource.not_found",
    )
    .await;
    let theirs: Value = app
        .get_authed("/v1/invoices", &stranger)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["invoices"], json!([]));
    assert_problem(
        app.get_authed(
            &format!("/v1/payments/{}", paid["payment"]["id"].as_str().unwrap()),
            &stranger,
        )
        .await,
        404,
        "resource.not_found",
    )
    .await;
}

#[tokio::test]
async fn the_ledger_balances_after_randomized_flows_and_refuses_an_unbalanced_entry() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let city = hotel(&app, &admin, 40).await;
    let customer = token(&app.register("random@example.com").await);
    // A small deterministic generator (no rand crate for one test).
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let cards = [CARD_OK, CARD_OK, CARD_DECLINED, CARD_3DS];
    for round in 0..24 {
        let booking = held(&app, &customer, &city, 3 + (round % 20)).await;
        let response = pay(&app, &customer, &booking, cards[next(4) as usize]).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if status == 202 {
            let action = body["payment"]["action_url"].as_str().unwrap();
            let answer = if next(2) == 0 { "approve" } else { "deny" };
            answer_3ds(&app, action, answer).await;
        }
        let paid = status == 200 || (status == 202);
        let booking_path = format!("/v1/bookings/{}", booking["id"].as_str().unwrap());
        match next(4) {
            0 => {
                app.post_json_authed(&format!("{booking_path}/cancel"), &customer, &json!({}))
                    .await;
            }
            1 if paid && status == 200 => {
                let payment_id = body["payment"]["id"].as_str().unwrap();
                let cents = 1 + next(30_000);
                let amount = format!("{}.{:02}", cents / 100, cents % 100);
                post_keyed(
                    &app,
                    &format!("/v1/payments/{payment_id}/refunds"),
                    &agent,
                    &json!({ "amount": amount, "reason": "random" }),
                )
                .await;
            }
            _ => {}
        }
        if next(3) == 0 {
            app.run_pending_jobs().await;
        }
    }
    app.run_pending_jobs().await;

    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0, "{balances:?}");
    let total: Decimal = balances.iter().map(|(_, b)| *b).sum();
    assert_eq!(total, Decimal::ZERO);
    // What the gateway holds is what was captured less what was refunded.
    let mut conn = app.db.connect();
    use wasit::schema::{payments as p, refunds as r};
    let captured: Option<Decimal> = p::table
        .filter(p::status.eq("succeeded"))
        .select(diesel::dsl::sum(p::amount))
        .first(&mut conn)
        .unwrap();
    let refunded: Option<Decimal> = r::table
        .filter(r::status.eq("succeeded"))
        .select(diesel::dsl::sum(r::amount))
        .first(&mut conn)
        .unwrap();
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        captured.unwrap_or_default() - refunded.unwrap_or_default()
    );
    assert!(
        captured.unwrap_or_default() > Decimal::ZERO,
        "no payment succeeded in the run"
    );
    assert_eq!(balance(&balances, "customer_receivable"), Decimal::ZERO);

    // The database itself refuses an unbalanced transaction, and edits to posted entries.
    let unbalanced = conn.transaction::<_, diesel::result::Error, _>(|conn| {
        diesel::sql_query("INSERT INTO ledger_transactions (kind) VALUES ('payment')")
            .execute(conn)?;
        diesel::sql_query(
            "INSERT INTO ledger_entries (transaction_id, account, amount) VALUES \
             (currval('ledger_transactions_id_seq'), 'gateway_clearing', 10.00), \
             (currval('ledger_transactions_id_seq'), 'customer_receivable', -9.99)",
        )
        .execute(conn)?;
        Ok(())
    });
    let error = unbalanced
        .expect_err("an unbalanced transaction was committed")
        .to_string();
    assert!(error.contains("does not balance"), "{error}");
    let edit =
        diesel::sql_query("UPDATE ledger_entries SET amount = amount + 1").execute(&mut conn);
    assert!(edit.is_err(), "a posted entry was edited");
    let delete = diesel::sql_query("DELETE FROM ledger_entries").execute(&mut conn);
    assert!(delete.is_err(), "a posted entry was deleted");
}

#[tokio::test]
async fn the_refund_shown_before_cancelling_is_the_refund_made() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("preview@example.com").await);
    let stranger = token(&app.register("peek@example.com").await);
    let booking = held(&app, &customer, &city, 2).await;
    let path = format!(
        "/v1/bookings/{}/cancellation",
        booking["id"].as_str().unwrap()
    );

    // Held: nothing captured, nothing to give back.
    let quote: Value = app.get_authed(&path, &customer).await.json().await.unwrap();
    assert_eq!(
        (
            quote["allowed"].as_bool(),
            quote["paid"].as_str(),
            quote["refund_amount"].as_str()
        ),
        (Some(true), Some("0.00"), Some("0.00"))
    );
    assert_eq!(pay(&app, &customer, &booking, CARD_OK).await.status(), 200);
    let quote: Value = app.get_authed(&path, &customer).await.json().await.unwrap();
    assert_eq!(quote["refund_percent"], 50);
    assert_eq!(quote["paid"], "928.75");
    assert_eq!(quote["refund_amount"], "464.38");
    assert_problem(
        app.get_authed(&path, &stranger).await,
        404,
        "resource.not_found",
    )
    .await;

    let cancelled = app
        .post_ok(
            &format!("/v1/bookings/{}/cancel", booking["id"].as_str().unwrap()),
            &customer,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(cancelled["refund_amount"], quote["refund_amount"]);
    let after: Value = app.get_authed(&path, &customer).await.json().await.unwrap();
    assert_eq!(after["allowed"], false);
}

#[tokio::test]
async fn a_provider_paid_on_site_is_not_charged_through_us() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("onsite");
    let (provider_id, _) = app
        .local_hotel(&admin, &city, "Pay At Desk", 3, "450.00", 30)
        .await;
    app.patch_ok(
        &format!("/v1/providers/{provider_id}"),
        &admin,
        &json!({ "prepaid": false }),
    )
    .await;
    let customer = token(&app.register("desk@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    assert_eq!(booking["price"]["total"], "928.75");
    assert_eq!(booking["due_now"], "28.75");
    let paid: Value = pay(&app, &customer, &booking, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["payment"]["amount"], "28.75");
    let codes: Vec<&str> = paid["payment"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["service_fee"]);
    let (balances, _) = ledger(&app);
    assert_eq!(balance(&balances, "provider_payable"), Decimal::ZERO);
}
