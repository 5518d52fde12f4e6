//! No-shows (#15, point 4): a provider login or staff mark a started, confirmed booking a
//! no-show; the provider's policy decides the fee; a prepaid booking gets the rest of the
//! provider's price back through the one refund path (credit note, balanced ledger); staff
//! waive the fee once, audited; the provider and the customer are told.

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{
    TestApp, assert_problem, canned_server, held, join_all, problem_fields, spawn_app, token,
    unique_city,
};
use crate::payments::{CARD_OK, balance, ledger, pay};

struct Setup {
    admin: String,
    agent: String,
    customer: String,
    customer_email: String,
    desk: String,
    provider: String,
    unit: String,
    city: String,
}

/// A local hotel at 450.00 a night in a city of its own, with `no_show_fee` as its policy,
/// a provider login ("desk") and a webhook endpoint that answers 204.
async fn setup(app: &TestApp, no_show_fee: &str) -> Setup {
    let admin = app.admin_token().await;
    let city = unique_city("ns");
    let (provider, unit) = app
        .local_hotel(&admin, &city, "Corniche", 5, "450.00", 30)
        .await;
    let hook = canned_server("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".into()).await;
    let updated = app
        .patch_ok(
            &format!("/v1/providers/{provider}"),
            &admin,
            &json!({ "no_show_fee": no_show_fee, "webhook_url": format!("http://127.0.0.1:{hook}/hooks") }),
        )
        .await;
    assert_eq!(updated["no_show_fee"], no_show_fee);
    let desk = app.provider_desk(&admin, &provider).await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let customer_email = format!("guest-{}@example.com", uuid::Uuid::new_v4().simple());
    let customer = token(&app.register(&customer_email).await);
    Setup {
        admin,
        agent,
        customer,
        customer_email,
        desk,
        provider,
        unit,
        city,
    }
}

/// A booking of two nights from tomorrow, paid by card and confirmed by the (local)
/// provider; returns its id.
async fn confirmed_paid(app: &TestApp, s: &Setup) -> String {
    let booking = held(app, &s.customer, &s.city, 1).await;
    assert_eq!(pay(app, &s.customer, &booking, CARD_OK).await.status(), 200);
    app.run_pending_jobs().await;
    let id = booking["id"].as_str().unwrap().to_owned();
    assert_eq!(get(app, &s.agent, &id).await["status"], "confirmed");
    id
}

/// Moves a booking two days back, as if it had started yesterday (its nights are now
/// yesterday's and today's, so no night of it is still to come).
fn started_yesterday(app: &TestApp, id: &str) {
    diesel::sql_query(format!(
        "UPDATE bookings SET starts_at = starts_at - interval '2 days', \
         ends_at = ends_at - interval '2 days' WHERE id = '{id}'"
    ))
    .execute(&mut app.db.connect())
    .unwrap();
}

async fn get(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_authed(&format!("/v1/bookings/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.post_json_authed(path, token, body).await
}

fn money(value: &Value) -> Decimal {
    crate::payments::money(value)
}

/// The refunds of a booking's payment: (amount, status).
fn refunds_of(app: &TestApp, id: &str) -> Vec<(Decimal, String)> {
    use wasit::schema::{payments::dsl as p, refunds::dsl as r};
    r::refunds
        .inner_join(p::payments)
        .filter(p::booking_id.eq(id.parse::<uuid::Uuid>().unwrap()))
        .order(r::created_at)
        .select((r::amount, r::status))
        .load(&mut app.db.connect())
        .unwrap()
}

/// The webhooks queued for a provider of one event type, as their data.
fn webhooks(app: &TestApp, event_type: &str) -> Vec<Value> {
    use wasit::schema::jobs::dsl as j;
    let payloads: Vec<Value> = j::jobs
        .filter(j::kind.eq("deliver_webhook"))
        .order(j::id)
        .select(j::payload)
        .load(&mut app.db.connect())
        .unwrap();
    payloads
        .into_iter()
        .filter(|p| p["event_type"] == event_type)
        .map(|p| p["data"].clone())
        .collect()
}

fn reserved(app: &TestApp, unit: &str) -> i64 {
    use wasit::schema::inventory_cells::dsl as c;
    c::inventory_cells
        .filter(c::unit_id.eq(unit.parse::<uuid::Uuid>().unwrap()))
        .select(diesel::dsl::sum(c::reserved))
        .first::<Option<i64>>(&mut app.db.connect())
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test]
async fn the_provider_marks_a_started_booking_and_the_rest_of_its_price_is_refunded() {
    let app = spawn_app().await;
    let s = setup(&app, "first_night").await;
    let id = confirmed_paid(&app, &s).await;
    let path = format!("/v1/provider/bookings/{id}/no-show");

    // Not before the start.
    assert_problem(
        post(&app, &path, &s.desk, &json!({})).await,
        409,
        "booking.not_started",
    )
    .await;
    started_yesterday(&app, &id);

    // An empty body is enough for the provider.
    let response = app
        .client
        .post(app.url(&path))
        .bearer_auth(&s.desk)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let marked: Value = response.json().await.unwrap();
    assert_eq!(marked["status"], "no_show");
    // 900.00 for two nights: the first night (450.00) is kept, the other 450.00 comes back;
    // our fee (25.00 + 3.75 VAT) is not refunded.
    assert_eq!(marked["no_show"]["fee"], "450.00");
    assert!(marked["no_show"]["waived_at"].is_null());
    assert_eq!(marked["refund_amount"], "450.00");
    assert_eq!(marked["provider"]["no_show_fee"], "first_night");

    // Marked once: again is a conflict.
    assert_problem(
        post(&app, &path, &s.desk, &json!({})).await,
        409,
        "booking.invalid_state",
    )
    .await;

    app.run_pending_jobs().await;
    assert_eq!(
        refunds_of(&app, &id),
        [("450.00".parse().unwrap(), "succeeded".to_owned())]
    );
    let invoices: Value = app
        .get_authed("/v1/invoices", &s.customer)
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
    assert_eq!(notes.len(), 1, "{invoices}");
    assert_eq!(notes[0]["total"], "450.00");
    // It credits the provider's price only: our fee and its VAT are not refunded.
    assert_eq!(notes[0]["vat_total"], "0.00");
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        "478.75".parse().unwrap()
    );

    // The history says who marked it; the provider marked it itself, so no webhook.
    let view = get(&app, &s.customer, &id).await;
    assert_eq!(view["no_show"]["fee"], "450.00");
    let last = view["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["to_status"], "no_show");
    assert_eq!(last["actor_role"], "provider");
    assert_eq!(last["reason"], "the guest did not come");
    assert!(webhooks(&app, "booking.no_show").is_empty());
    // The customer is told (in Arabic, their language) what was kept and what comes back.
    let mail = no_show_mail(&app, &s.customer_email, "عدمَ حضور").await;
    let text = mail["text"].as_str().unwrap();
    // Amounts inside Arabic text are isolated (U+2066 … U+2069) so they never reverse.
    assert!(text.contains("بـ \u{2066}450.00 SAR\u{2069}"), "{text}");
    assert!(
        text.contains("ونعيد إليك \u{2066}450.00 SAR\u{2069}"),
        "{text}"
    );
}

/// The one mail whose subject mentions `what` that maildev holds for `to`.
async fn no_show_mail(app: &TestApp, to: &str, what: &str) -> Value {
    let mut found = Vec::new();
    for _ in 0..50 {
        found = crate::email::inbox(app, to)
            .await
            .into_iter()
            .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(what)))
            .collect();
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1, "mails about {what} to {to}");
    found.remove(0)
}

#[tokio::test]
async fn only_the_bookings_own_provider_or_staff_may_mark_it() {
    let app = spawn_app().await;
    let s = setup(&app, "full").await;
    let id = confirmed_paid(&app, &s).await;
    started_yesterday(&app, &id);

    // Another provider's login: the booking does not exist for it.
    let (other, _) = app
        .local_hotel(&s.admin, &unique_city("nso"), "Other", 1, "100.00", 3)
        .await;
    let other_desk = app.provider_desk(&s.admin, &other).await;
    assert_problem(
        post(
            &app,
            &format!("/v1/provider/bookings/{id}/no-show"),
            &other_desk,
            &json!({}),
        )
        .await,
        404,
        "resource.not_found",
    )
    .await;
    // The customer cannot mark their own booking, on either route.
    for path in [
        format!("/v1/bookings/{id}/no-show"),
        format!("/v1/provider/bookings/{id}/no-show"),
    ] {
        assert_problem(
            post(
                &app,
                &path,
                &s.customer,
                &json!({ "reason": "I did not go" }),
            )
            .await,
            403,
            "auth.forbidden",
        )
        .await;
    }
    // Staff must say why.
    let problem = assert_problem(
        post(
            &app,
            &format!("/v1/bookings/{id}/no-show"),
            &s.agent,
            &json!({}),
        )
        .await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["reason"]);

    // An agent marks it (the desk phoned): audited, and the provider is told the fee.
    let marked: Value = app
        .post_ok(
            &format!("/v1/bookings/{id}/no-show"),
            &s.agent,
            &json!({ "reason": "the hotel phoned: the guest never came" }),
            200,
        )
        .await;
    assert_eq!(marked["no_show"]["fee"], "900.00");
    // The whole price is kept: nothing comes back.
    assert_eq!(marked["refund_amount"], "0.00");
    let hooks = webhooks(&app, "booking.no_show");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["status"], "no_show");
    assert_eq!(hooks[0]["no_show"]["fee"], "900.00");
    let audit: Value = app
        .get_authed("/v1/audit?action=booking.no_show", &s.admin)
        .await
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(
        entries[0]["details"]["reason"],
        "the hotel phoned: the guest never came"
    );
    app.run_pending_jobs().await;
    assert!(refunds_of(&app, &id).is_empty());
}

#[tokio::test]
async fn an_agent_waives_the_fee_once_and_it_is_refunded_and_audited() {
    let app = spawn_app().await;
    let s = setup(&app, "first_night").await;
    let id = confirmed_paid(&app, &s).await;
    started_yesterday(&app, &id);
    app.post_ok(
        &format!("/v1/provider/bookings/{id}/no-show"),
        &s.desk,
        &json!({ "reason": "no arrival by midnight" }),
        200,
    )
    .await;
    let waive = format!("/v1/bookings/{id}/no-show/waive");

    // Customers and providers cannot waive; staff must say why.
    for who in [&s.customer, &s.desk] {
        assert_problem(
            post(&app, &waive, who, &json!({ "reason": "please" })).await,
            403,
            "auth.forbidden",
        )
        .await;
    }
    let problem = assert_problem(
        post(&app, &waive, &s.agent, &json!({ "reason": "  " })).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["reason"]);

    let waived: Value = app
        .client
        .post(app.url(&waive))
        .bearer_auth(&s.agent)
        .header("idempotency-key", "waive-once")
        .json(&json!({ "reason": "flight cancelled, ticket seen" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(waived["status"], "no_show");
    assert!(waived["no_show"]["waived_at"].is_string(), "{waived}");
    assert_eq!(waived["refund_amount"], "900.00");
    // The same request again is the same answer; a second waiver is refused.
    let replay = app
        .client
        .post(app.url(&waive))
        .bearer_auth(&s.agent)
        .header("idempotency-key", "waive-once")
        .json(&json!({ "reason": "flight cancelled, ticket seen" }))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_problem(
        post(&app, &waive, &s.admin, &json!({ "reason": "again" })).await,
        409,
        "booking.fee_waived",
    )
    .await;

    app.run_pending_jobs().await;
    let refunds = refunds_of(&app, &id);
    assert_eq!(refunds.len(), 2, "{refunds:?}");
    assert!(refunds.iter().all(|(amount, status)| {
        *amount == "450.00".parse::<Decimal>().unwrap() && status == "succeeded"
    }));
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    // All of the provider's price is back; our fee and its VAT stay.
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        "28.75".parse().unwrap()
    );
    assert_eq!(
        balance(&balances, "provider_payable"),
        Decimal::ZERO,
        "{balances:?}"
    );
    assert_eq!(
        balance(&balances, "fee_revenue"),
        "-25.00".parse().unwrap(),
        "{balances:?}"
    );

    let audit: Value = app
        .get_authed("/v1/audit?action=booking.no_show_waive", &s.admin)
        .await
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert!(
        entries[0]["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("flight cancelled, ticket seen"),
        "{audit}"
    );
    let view = get(&app, &s.customer, &id).await;
    let last = view["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor_role"], "agent");
    assert!(
        last["reason"].as_str().unwrap().contains("waived"),
        "{last}"
    );
    let hooks = webhooks(&app, "booking.no_show_waived");
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0]["no_show"]["waived_at"].is_string());
    let mail = no_show_mail(&app, &s.customer_email, "أعفيناك").await;
    let text = mail["text"].as_str().unwrap();
    assert!(
        text.contains("(\u{2066}450.00 SAR\u{2069})") && text.contains("سنعيدها إلى بطاقتك"),
        "{text}"
    );
}

#[tokio::test]
async fn an_agent_cannot_waive_a_fee_above_the_staff_refund_limit() {
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.billing.staff_refund_limit = "100.00".parse().unwrap();
    })
    .await;
    let s = setup(&app, "first_night").await;
    let id = confirmed_paid(&app, &s).await;
    started_yesterday(&app, &id);
    app.post_ok(
        &format!("/v1/provider/bookings/{id}/no-show"),
        &s.desk,
        &json!({}),
        200,
    )
    .await;
    let waive = format!("/v1/bookings/{id}/no-show/waive");
    let body = json!({ "reason": "goodwill" });
    assert_problem(
        post(&app, &waive, &s.agent, &body).await,
        403,
        "refund.needs_admin",
    )
    .await;
    // Nothing was reserved; an admin may.
    assert_eq!(refunds_of(&app, &id).len(), 1);
    let waived = app.post_ok(&waive, &s.admin, &body, 200).await;
    assert_eq!(waived["refund_amount"], "900.00");
}

#[tokio::test]
async fn ten_marks_at_once_make_one_no_show_and_one_refund() {
    let app = spawn_app().await;
    let s = setup(&app, "none").await;
    let id = confirmed_paid(&app, &s).await;
    started_yesterday(&app, &id);
    // Five from the front desk, five from agents, all at once.
    let attempts = (0..10)
        .map(|i| {
            let (path, who) = if i % 2 == 0 {
                (
                    format!("/v1/provider/bookings/{id}/no-show"),
                    s.desk.clone(),
                )
            } else {
                (format!("/v1/bookings/{id}/no-show"), s.agent.clone())
            };
            let app = &app;
            async move {
                app.post_json_authed(&path, &who, &json!({ "reason": format!("mark {i}") }))
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
    // `none`: all of the provider's price comes back, our fee stays.
    let view = get(&app, &s.agent, &id).await;
    assert_eq!(view["status"], "no_show");
    assert_eq!(view["no_show"]["fee"], "0.00");
    assert_eq!(money(&view["refund_amount"]), "900.00".parse().unwrap());
    // A no-show is final: it cannot be cancelled for a second refund, and has no fee to waive.
    assert_problem(
        post(
            &app,
            &format!("/v1/bookings/{id}/cancel"),
            &s.customer,
            &json!({}),
        )
        .await,
        409,
        "booking.invalid_state",
    )
    .await;
    assert_problem(
        post(
            &app,
            &format!("/v1/bookings/{id}/no-show/waive"),
            &s.agent,
            &json!({ "reason": "x" }),
        )
        .await,
        409,
        "booking.no_fee",
    )
    .await;
    app.run_pending_jobs().await;
    let refunds = refunds_of(&app, &id);
    assert_eq!(
        refunds,
        [("900.00".parse().unwrap(), "succeeded".to_owned())],
        "{refunds:?}"
    );
    let (_, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
}

#[tokio::test]
async fn a_no_show_gives_back_the_nights_not_yet_begun() {
    let app = spawn_app().await;
    let s = setup(&app, "full").await;
    let booking = held(&app, &s.customer, &s.city, 1).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    assert_eq!(
        pay(&app, &s.customer, &booking, CARD_OK).await.status(),
        200
    );
    app.run_pending_jobs().await;
    assert_eq!(reserved(&app, &s.unit), 2);
    // It began an hour ago (the guest was due tonight): both its nights are still to come.
    diesel::sql_query(format!(
        "UPDATE bookings SET starts_at = now() - interval '1 hour' WHERE id = '{id}'"
    ))
    .execute(&mut app.db.connect())
    .unwrap();
    app.post_ok(
        &format!("/v1/provider/bookings/{id}/no-show"),
        &s.desk,
        &json!({}),
        200,
    )
    .await;
    assert_eq!(reserved(&app, &s.unit), 0);
}

#[tokio::test]
async fn a_booking_paid_at_the_property_moves_no_money_and_the_provider_is_told_the_fee() {
    let app = spawn_app().await;
    let s = setup(&app, "first_night").await;
    app.patch_ok(
        &format!("/v1/providers/{}", s.provider),
        &s.admin,
        &json!({ "prepaid": false }),
    )
    .await;
    let id = confirmed_paid(&app, &s).await;
    started_yesterday(&app, &id);
    let marked = app
        .post_ok(
            &format!("/v1/bookings/{id}/no-show"),
            &s.admin,
            &json!({ "reason": "the desk emailed" }),
            200,
        )
        .await;
    assert_eq!(marked["no_show"]["fee"], "450.00");
    assert_eq!(marked["refund_amount"], "0.00");
    let hooks = webhooks(&app, "booking.no_show");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["no_show"]["fee"], "450.00");
    // Waiving it refunds nothing (nothing of it was paid through us); the provider is told.
    let waived = app
        .post_ok(
            &format!("/v1/bookings/{id}/no-show/waive"),
            &s.agent,
            &json!({ "reason": "regular guest" }),
            200,
        )
        .await;
    assert_eq!(waived["refund_amount"], "0.00");
    app.run_pending_jobs().await;
    assert!(refunds_of(&app, &id).is_empty());
    assert_eq!(webhooks(&app, "booking.no_show_waived").len(), 1);
}

#[tokio::test]
async fn admins_set_the_no_show_policy_and_bad_values_name_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .post_ok(
            "/v1/providers",
            &admin,
            &json!({ "kind": "hospital", "name_ar": "مستشفى", "name_en": "Clinic", "city": "riyadh", "adapter": "local", "no_show_fee": "full" }),
            201,
        )
        .await;
    assert_eq!(created["no_show_fee"], "full");
    let id = created["id"].as_str().unwrap();
    let fetched: Value = app
        .get_authed(&format!("/v1/providers/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["no_show_fee"], "full");
    let response = app
        .client
        .patch(app.url(&format!("/v1/providers/{id}")))
        .bearer_auth(&admin)
        .json(&json!({ "no_show_fee": "double" }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["no_show_fee"]);
    // Unset, a provider keeps the first night.
    let (hotel, _) = app
        .local_hotel(&admin, &unique_city("nsd"), "Default", 1, "100.00", 2)
        .await;
    let fetched: Value = app
        .get_authed(&format!("/v1/providers/{hotel}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["no_show_fee"], "first_night");
}

/// The fee kept and the rest refunded through Stripe (localstripe), as the office runs it.
#[tokio::test]
async fn stripe_a_no_show_refund_goes_through_the_stripe_gateway() {
    let api_base = std::env::var("WASIT_TEST_STRIPE_URL")
        .expect("start the Stripe fake (scripts/test exports WASIT_TEST_STRIPE_URL)");
    let app = crate::helpers::spawn_app_with(move |settings| {
        settings.payments.gateway = wasit::config::GatewayKind::Stripe;
        settings.payments.stripe.api_base = api_base;
        settings.payments.stripe.secret_key = Some("sk_test_wasit".to_owned().into());
        settings.payments.stripe.webhook_secret = Some(
            format!("whsec_{}", uuid::Uuid::new_v4().simple())
                .to_owned()
                .into(),
        );
    })
    .await;
    let s = setup(&app, "first_night").await;
    let id = confirmed_paid(&app, &s).await;
    started_yesterday(&app, &id);
    let marked = app
        .post_ok(
            &format!("/v1/provider/bookings/{id}/no-show"),
            &s.desk,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(marked["refund_amount"], "450.00");
    app.run_pending_jobs().await;
    use wasit::schema::{payments::dsl as p, refunds::dsl as r};
    let refunds: Vec<(Decimal, String, Option<String>, String)> = r::refunds
        .inner_join(p::payments)
        .filter(p::booking_id.eq(id.parse::<uuid::Uuid>().unwrap()))
        .select((r::amount, r::status, r::gateway_ref, p::gateway))
        .load(&mut app.db.connect())
        .unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let (amount, status, gateway_ref, gateway) = &refunds[0];
    assert_eq!(gateway, "stripe");
    assert_eq!(*amount, "450.00".parse::<Decimal>().unwrap());
    assert_eq!(status, "succeeded");
    assert!(
        gateway_ref.as_deref().is_some_and(|r| r.starts_with("re_")),
        "{refunds:?}"
    );
    let (_, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
}

#[tokio::test]
async fn five_waivers_at_once_refund_the_fee_once() {
    let app = spawn_app().await;
    let s = setup(&app, "first_night").await;
    let id = confirmed_paid(&app, &s).await;
    started_yesterday(&app, &id);
    app.post_ok(
        &format!("/v1/provider/bookings/{id}/no-show"),
        &s.desk,
        &json!({}),
        200,
    )
    .await;
    let waive = format!("/v1/bookings/{id}/no-show/waive");
    let attempts = (0..5)
        .map(|i| {
            let (app, waive, agent) = (&app, waive.clone(), s.agent.clone());
            async move {
                app.post_json_authed(&waive, &agent, &json!({ "reason": format!("waiver {i}") }))
                    .await
                    .status()
                    .as_u16()
            }
        })
        .collect();
    let mut statuses = join_all(attempts).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409]);
    app.run_pending_jobs().await;
    // The no-show's refund and the waiver's: 450.00 each, never a third.
    let refunds = refunds_of(&app, &id);
    assert_eq!(refunds.len(), 2, "{refunds:?}");
    let (balances, unbalanced) = ledger(&app);
    assert_eq!(unbalanced, 0);
    assert_eq!(
        balance(&balances, "gateway_clearing"),
        "28.75".parse().unwrap()
    );
}

#[tokio::test]
async fn a_stay_stays_open_to_a_no_show_for_the_window_after_its_end() {
    let app = spawn_app().await;
    let s = setup(&app, "full").await;
    let recent = confirmed_paid(&app, &s).await;
    let old = confirmed_paid(&app, &s).await;
    let mut conn = app.db.connect();
    // One ended an hour ago, the other two days ago (the window is 24 hours).
    for (id, ended) in [(&recent, "1 hour"), (&old, "2 days")] {
        diesel::sql_query(format!(
            "UPDATE bookings SET starts_at = now() - interval '{ended}' - interval '2 days', \
             ends_at = now() - interval '{ended}' WHERE id = '{id}'"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let completed = app.worker("w").bookings.complete_past().await.unwrap();
    assert_eq!(completed, 1);
    assert_eq!(get(&app, &s.agent, &old).await["status"], "completed");
    assert_problem(
        post(
            &app,
            &format!("/v1/provider/bookings/{old}/no-show"),
            &s.desk,
            &json!({}),
        )
        .await,
        409,
        "booking.invalid_state",
    )
    .await;
    let marked = app
        .post_ok(
            &format!("/v1/provider/bookings/{recent}/no-show"),
            &s.desk,
            &json!({ "reason": "checked out without checking in" }),
            200,
        )
        .await;
    assert_eq!(marked["status"], "no_show");
}

#[tokio::test]
async fn marks_and_cancels_at_once_end_the_booking_one_way() {
    let app = spawn_app().await;
    let s = setup(&app, "first_night").await;
    let id = confirmed_paid(&app, &s).await;
    started_yesterday(&app, &id);
    let attempts = (0..10)
        .map(|i| {
            let (path, who) = if i % 2 == 0 {
                (
                    format!("/v1/provider/bookings/{id}/no-show"),
                    s.desk.clone(),
                )
            } else {
                (format!("/v1/bookings/{id}/cancel"), s.agent.clone())
            };
            let app = &app;
            async move {
                app.post_json_authed(&path, &who, &json!({ "reason": "at once" }))
                    .await
                    .status()
                    .as_u16()
            }
        })
        .collect();
    let mut statuses = join_all(attempts).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    let view = get(&app, &s.agent, &id).await;
    app.run_pending_jobs().await;
    let refunds = refunds_of(&app, &id);
    let fees: i64 = {
        use wasit::schema::booking_no_shows::dsl as n;
        n::booking_no_shows
            .count()
            .get_result(&mut app.db.connect())
            .unwrap()
    };
    if view["status"] == "no_show" {
        assert_eq!(view["no_show"]["fee"], "450.00");
        assert_eq!(refunds.len(), 1, "{refunds:?}");
        assert_eq!(fees, 1);
    } else {
        // A cancel after the start refunds nothing (the default policy), and the losing
        // marks left no fee behind.
        assert_eq!(view["status"], "cancelled");
        assert!(refunds.is_empty(), "{refunds:?}");
        assert_eq!(fees, 0);
    }
}
