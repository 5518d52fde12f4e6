//! Pay links (#16 point 4): an agent sends a held booking's single-use link; the client pays
//! on it with no session, through the sandbox gateway as `/pay` does. Paid exactly once under
//! ten pays at once (one capture, one card saved); a declined card may try again on the same
//! link; a 3-D Secure step returns to the link's page; the link expires with the hold and
//! waits for the client's consent; the console's state follows (sent, opened, paid,
//! expired); the link is texted and emailed.

use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;
use wasit::config::ConsentRequired;

use crate::helpers::{
    TestApp, assert_problem, hold_for, join_all, phone_client, spawn_app, spawn_app_with,
    texted_token, token,
};
use crate::payments::{CARD_3DS, CARD_DECLINED, CARD_OK, answer_3ds, card, money, post_keyed};

async fn send_link(app: &TestApp, agent: &str, booking: &Value) -> Value {
    let id = booking["id"].as_str().unwrap();
    let response = post_keyed(
        app,
        &format!("/v1/bookings/{id}/pay-link"),
        agent,
        &json!({}),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn link_state(app: &TestApp, agent: &str, booking: &Value) -> Value {
    let id = booking["id"].as_str().unwrap();
    let links: Value = app
        .get_authed(&format!("/v1/bookings/{id}/client-links"), agent)
        .await
        .json()
        .await
        .unwrap();
    links["pay_link"]["state"].clone()
}

async fn pay_on(app: &TestApp, link: &str, number: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/pay-links/{link}/pay")))
        .json(&card(number))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pay_link_is_paid_exactly_once_under_ten_pays_at_once() {
    let app = spawn_app().await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 2).await;
    let sent = send_link(&app, &agent, &booking).await;
    assert_eq!(sent["state"], "sent");
    assert_eq!(sent["expires_at"], booking["hold_expires_at"]);
    let link = texted_token(&app, "pay_link", &booking).await;

    // What to pay: the lines, the total, until when; nothing else of the client.
    let page: Value = app
        .get(&format!("/v1/pay-links/{link}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["state"], "opened");
    assert_eq!(page["total"], booking["price"]["total"]);
    assert_eq!(page["consent_pending"], false);
    let lines: rust_decimal::Decimal = page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| money(&l["net"]) + money(&l["vat"]))
        .sum();
    assert_eq!(lines, money(&page["total"]));
    assert!(!page.to_string().contains("0559876543"));
    assert_eq!(link_state(&app, &agent, &booking).await, "opened");

    let pays = (0..10).map(|_| pay_on(&app, &link, CARD_OK)).collect();
    let mut statuses: Vec<u16> = join_all(pays)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses[0], 200, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");

    let mut conn = app.db.connect();
    use wasit::schema::{payment_methods, payments};
    let booking_id = Uuid::parse_str(booking["id"].as_str().unwrap()).unwrap();
    let customer_id = Uuid::parse_str(client["id"].as_str().unwrap()).unwrap();
    let captured: Vec<(Uuid, Option<Uuid>)> = payments::table
        .filter(payments::booking_id.eq(booking_id))
        .filter(payments::status.eq("succeeded"))
        .select((payments::customer_id, payments::created_by))
        .load(&mut conn)
        .unwrap();
    assert_eq!(captured.len(), 1, "exactly one capture");
    assert_eq!(captured[0].0, customer_id, "the customer's payment");
    assert_eq!(captured[0].1, None, "not taken by the agent");
    let saved: i64 = payment_methods::table
        .filter(payment_methods::customer_id.eq(customer_id))
        .filter(payment_methods::saved_at.is_not_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(saved, 1, "one card saved");

    assert_eq!(link_state(&app, &agent, &booking).await, "paid");
    let page: Value = app
        .get(&format!("/v1/pay-links/{link}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["state"], "paid");
    assert_problem(pay_on(&app, &link, CARD_OK).await, 409, "link.used").await;
    // The sender is on the record.
    use wasit::schema::audit_log;
    let sends: i64 = audit_log::table
        .filter(audit_log::action.eq("booking.pay_link_send"))
        .filter(audit_log::entity_id.eq(booking["reference"].as_str().unwrap()))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(sends, 1);
}

#[tokio::test]
async fn a_declined_card_tries_again_and_3_d_secure_returns_to_the_link_page() {
    let app = spawn_app().await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 1).await;
    send_link(&app, &agent, &booking).await;
    let link = texted_token(&app, "pay_link", &booking).await;

    assert_problem(
        pay_on(&app, &link, CARD_DECLINED).await,
        402,
        "payment.declined",
    )
    .await;
    assert_eq!(link_state(&app, &agent, &booking).await, "sent");

    let step = pay_on(&app, &link, CARD_3DS).await;
    assert_eq!(step.status(), 202);
    let step: Value = step.json().await.unwrap();
    let action = step["payment"]["action_url"].as_str().unwrap();
    assert!(action.ends_with(&format!("?back=/pay/{link}")), "{action}");
    assert!(step["booking"]["contact_phone"].is_null(), "{step}");
    let page = app.get(action).await.text().await.unwrap();
    assert!(
        page.contains(&format!("?back=/pay/{link}")),
        "the form posts back with it"
    );
    let answered = answer_3ds(&app, action, "approve").await;
    assert_eq!(answered.status(), 303);
    let location = answered.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("status=succeeded") && location.ends_with(&format!("#/pay/{link}")),
        "{location}"
    );
    assert_eq!(link_state(&app, &agent, &booking).await, "paid");

    // Anything but a page of the site is refused as a return.
    let path = action.split('?').next().unwrap();
    let response = app.get(&format!("{path}?back=https://evil.example/")).await;
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn a_pay_link_waits_for_consent_and_expires_with_the_hold() {
    let app = spawn_app_with(|s| s.bookings.consent_required = ConsentRequired::Always).await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 1).await;
    send_link(&app, &agent, &booking).await;
    let link = texted_token(&app, "pay_link", &booking).await;
    let page: Value = app
        .get(&format!("/v1/pay-links/{link}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["consent_pending"], true);
    assert_problem(
        pay_on(&app, &link, CARD_OK).await,
        409,
        "booking.consent_pending",
    )
    .await;

    // Only staff send links; sending needs an Idempotency-Key.
    let id = booking["id"].as_str().unwrap();
    let customer = token(&app.register("other@example.com").await);
    let response = post_keyed(
        &app,
        &format!("/v1/bookings/{id}/pay-link"),
        &customer,
        &json!({}),
    )
    .await;
    assert_problem(response, 403, "auth.forbidden").await;
    let response = app
        .post_json_authed(&format!("/v1/bookings/{id}/pay-link"), &agent, &json!({}))
        .await;
    assert_problem(response, 400, "idempotency.key_required").await;

    // The hold runs out: the link with it.
    let mut conn = app.db.connect();
    use wasit::schema::bookings;
    diesel::update(bookings::table.find(Uuid::parse_str(id).unwrap()))
        .set(bookings::hold_expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .execute(&mut conn)
        .unwrap();
    assert_problem(pay_on(&app, &link, CARD_OK).await, 409, "link.expired").await;
    assert_eq!(link_state(&app, &agent, &booking).await, "expired");
    let response = post_keyed(
        &app,
        &format!("/v1/bookings/{id}/pay-link"),
        &agent,
        &json!({}),
    )
    .await;
    assert_problem(response, 409, "booking.invalid_state").await;
    assert_problem(
        app.get(&format!("/v1/pay-links/{}", "x".repeat(43))).await,
        404,
        "resource.not_found",
    )
    .await;
}

#[tokio::test]
async fn the_pay_link_is_texted_and_emailed() {
    let app = spawn_app().await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 1).await;
    send_link(&app, &agent, &booking).await;
    let link = texted_token(&app, "pay_link", &booking).await;
    let mut conn = app.db.connect();
    use wasit::schema::sms_messages;
    let (status, body): (String, String) = sms_messages::table
        .filter(sms_messages::purpose.eq("pay_link"))
        .select((sms_messages::status, sms_messages::body))
        .first(&mut conn)
        .unwrap();
    assert_eq!(status, "sent");
    assert!(
        body.starts_with("Wasit: pay") && body.ends_with(&format!("#/pay/{link}")),
        "{body}"
    );
    let inbox = crate::email::inbox(&app, client["email"].as_str().unwrap()).await;
    assert!(
        inbox.iter().any(|m| m["subject"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Pay for your booking")
            && m["text"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("#/pay/{link}"))),
        "no pay-link mail"
    );
}
