//! A phone client's consent (#16 point 3): which agent holds wait for the client under each
//! `bookings.consent_required` mode; the link's page shows only its booking; approving is
//! recorded once (history, audit: address and user agent) and lets the booking be paid or
//! confirmed; declining cancels the hold; a lapsed hold ends the link; a link works once, a
//! resent one replaces it, a token we never made is 404. The link is texted (the recorded
//! `sms_messages` row) and emailed (maildev).

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::config::ConsentRequired;

use crate::helpers::{
    TestApp, assert_problem, hold_for, phone_client, spawn_app_with, texted_token, token,
};
use crate::payments::{CARD_OK, pay, post_keyed};

/// An app whose office asks consent `mode`.
async fn office(mode: ConsentRequired) -> TestApp {
    spawn_app_with(|s| s.bookings.consent_required = mode).await
}

async fn links_of(app: &TestApp, agent: &str, booking: &Value) -> Value {
    let id = booking["id"].as_str().unwrap();
    let response = app
        .get_authed(&format!("/v1/bookings/{id}/client-links"), agent)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn decide(app: &TestApp, token: &str, decision: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/consents/{token}/{decision}")))
        .header("user-agent", "ClientPhone/1.0 (test)")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_consent_mode_decides_which_agent_holds_wait_for_the_client() {
    // never: nothing is asked, the agent confirms at once.
    let app = office(ConsentRequired::Never).await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 1).await;
    assert!(links_of(&app, &agent, &booking).await["consent"].is_null());
    app.confirm_paid_at_office(&agent, booking["id"].as_str().unwrap())
        .await;

    // always: every agent hold waits; a customer's own hold never does.
    let app = office(ConsentRequired::Always).await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 1).await;
    assert_eq!(
        links_of(&app, &agent, &booking).await["consent"]["state"],
        "sent"
    );
    let response = app
        .post_json_authed(
            &format!("/v1/bookings/{}/confirm", booking["id"].as_str().unwrap()),
            &agent,
            &json!({ "reason": "paid at the office" }),
        )
        .await;
    assert_problem(response, 409, "booking.consent_pending").await;
    let customer = token(&app.register("self@example.com").await);
    let own = crate::helpers::held(&app, &customer, &city, 5).await;
    assert_eq!(own["status"], "held");
    let mut conn = app.db.connect();
    let asked: i64 = wasit::schema::client_links::table
        .filter(
            wasit::schema::client_links::booking_id
                .eq(uuid::Uuid::parse_str(own["id"].as_str().unwrap()).unwrap()),
        )
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(asked, 0, "a customer booking for themselves is not asked");

    // above:<amount>: one night (300 + fee) is under 1000, four nights are over.
    let app = office(ConsentRequired::Above("1000".parse().unwrap())).await;
    let (agent, client, city) = phone_client(&app).await;
    let small = hold_for(&app, &agent, &client, &city, 1).await;
    assert!(links_of(&app, &agent, &small).await["consent"].is_null());
    let large = hold_for(&app, &agent, &client, &city, 4).await;
    assert_eq!(
        links_of(&app, &agent, &large).await["consent"]["state"],
        "sent"
    );

    // new_clients: asked until one of the client's bookings has gone ahead.
    let app = office(ConsentRequired::NewClients).await;
    let (agent, client, city) = phone_client(&app).await;
    let first = hold_for(&app, &agent, &client, &city, 1).await;
    let link = texted_token(&app, "consent_link", &first).await;
    assert_eq!(decide(&app, &link, "approve").await.status(), 200);
    app.confirm_paid_at_office(&agent, first["id"].as_str().unwrap())
        .await;
    let second = hold_for(&app, &agent, &client, &city, 1).await;
    assert!(
        links_of(&app, &agent, &second).await["consent"].is_null(),
        "a client served before is not asked again"
    );
}

#[tokio::test]
async fn a_client_approves_once_and_the_approval_is_in_the_history_and_the_audit_log() {
    let app = office(ConsentRequired::Always).await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 2).await;
    let id = booking["id"].as_str().unwrap();
    let link = texted_token(&app, "consent_link", &booking).await;

    // The page: what was booked and its price, nothing else of the client.
    let page: Value = app
        .get(&format!("/v1/consents/{link}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["state"], "opened");
    assert_eq!(page["booking"]["reference"], booking["reference"]);
    assert_eq!(page["booking"]["total"], booking["price"]["total"]);
    assert_eq!(page["booking"]["provider_name_en"], "Corniche");
    let text = page.to_string();
    for private in ["Omar", "0559876543", "example.com", "customer_id"] {
        assert!(!text.contains(private), "the page shows {private}: {text}");
    }
    assert_eq!(
        links_of(&app, &agent, &booking).await["consent"]["state"],
        "opened"
    );

    // Not paid, nor confirmed, before the client says yes.
    let response = pay(&app, &agent, &booking, CARD_OK).await;
    assert_problem(response, 409, "booking.consent_pending").await;

    let approved = decide(&app, &link, "approve").await;
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().await.unwrap();
    assert_eq!(approved["state"], "approved");
    // Once only, either way.
    assert_problem(decide(&app, &link, "approve").await, 409, "link.used").await;
    assert_problem(decide(&app, &link, "decline").await, 409, "link.used").await;
    let again = post_keyed(
        &app,
        &format!("/v1/bookings/{id}/consent"),
        &agent,
        &json!({}),
    )
    .await;
    assert_problem(again, 409, "consent.decided").await;

    // In the booking's history, with where it came from.
    let seen: Value = app
        .get_authed(&format!("/v1/bookings/{id}"), &agent)
        .await
        .json()
        .await
        .unwrap();
    let event = seen["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "client approved")
        .unwrap_or_else(|| panic!("no approval in {}", seen["events"]));
    assert_eq!(event["details"]["user_agent"], "ClientPhone/1.0 (test)");
    assert!(event["details"]["address"].is_string(), "{event}");
    assert_eq!(event["to_status"], "held");
    // And in the audit log, on the client's behalf.
    let mut conn = app.db.connect();
    use wasit::schema::audit_log;
    let (on_behalf_of, details): (Option<uuid::Uuid>, Value) = audit_log::table
        .filter(audit_log::action.eq("booking.consent_approved"))
        .filter(audit_log::entity_id.eq(booking["reference"].as_str().unwrap()))
        .select((audit_log::on_behalf_of, audit_log::details))
        .first(&mut conn)
        .unwrap();
    assert_eq!(
        on_behalf_of.unwrap().to_string(),
        client["id"].as_str().unwrap()
    );
    assert_eq!(details["by"], "client");
    assert_eq!(details["user_agent"], "ClientPhone/1.0 (test)");

    // Now it goes ahead.
    assert_eq!(pay(&app, &agent, &booking, CARD_OK).await.status(), 200);
}

#[tokio::test]
async fn a_decline_cancels_the_hold_and_a_lapsed_hold_ends_the_link() {
    let app = office(ConsentRequired::Always).await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 1).await;
    let link = texted_token(&app, "consent_link", &booking).await;
    let declined = decide(&app, &link, "decline").await;
    assert_eq!(declined.status(), 200);
    let seen: Value = app
        .get_authed(
            &format!("/v1/bookings/{}", booking["id"].as_str().unwrap()),
            &agent,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["status"], "cancelled");
    assert!(
        seen["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["to_status"] == "cancelled" && e["reason"] == "client declined"),
        "{}",
        seen["events"]
    );
    assert_eq!(
        links_of(&app, &agent, &booking).await["consent"]["state"],
        "declined"
    );

    // Lapsed: the hold runs out before the client answers; the sweep expires it.
    let lapsing = hold_for(&app, &agent, &client, &city, 1).await;
    let link = texted_token(&app, "consent_link", &lapsing).await;
    let mut conn = app.db.connect();
    use wasit::schema::bookings;
    let lapsing_id = uuid::Uuid::parse_str(lapsing["id"].as_str().unwrap()).unwrap();
    diesel::update(bookings::table.find(lapsing_id))
        .set(bookings::hold_expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .execute(&mut conn)
        .unwrap();
    assert_problem(decide(&app, &link, "approve").await, 409, "link.expired").await;
    app.state.bookings.expire_due().await.unwrap();
    let page: Value = app
        .get(&format!("/v1/consents/{link}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["state"], "expired");
    assert!(page["booking"]["hold_expires_at"].is_null());
    let status: String = bookings::table
        .find(lapsing_id)
        .select(bookings::status)
        .first(&mut conn)
        .unwrap();
    assert_eq!(status, "expired");
    // Nothing is sent for a hold that has ended.
    let again = post_keyed(
        &app,
        &format!("/v1/bookings/{lapsing_id}/consent"),
        &agent,
        &json!({}),
    )
    .await;
    assert_problem(again, 409, "booking.invalid_state").await;
}

#[tokio::test]
async fn a_token_sees_only_its_booking_a_resent_link_replaces_it_and_unknown_tokens_are_404() {
    let app = office(ConsentRequired::Always).await;
    let (agent, client, city) = phone_client(&app).await;
    let first = hold_for(&app, &agent, &client, &city, 1).await;
    let second = hold_for(&app, &agent, &client, &city, 2).await;
    let first_link = texted_token(&app, "consent_link", &first).await;
    let second_link = texted_token(&app, "consent_link", &second).await;
    assert_ne!(first_link, second_link);
    for (link, booking) in [(&first_link, &first), (&second_link, &second)] {
        let page: Value = app
            .get(&format!("/v1/consents/{link}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["booking"]["reference"], booking["reference"]);
    }

    // Unknown, malformed, or of the other kind: 404, the same answer for each.
    let made_up = "A".repeat(43);
    for path in [
        format!("/v1/consents/{made_up}"),
        "/v1/consents/short".to_owned(),
        format!("/v1/pay-links/{first_link}"),
    ] {
        assert_problem(app.get(&path).await, 404, "resource.not_found").await;
    }
    assert_problem(
        decide(&app, &made_up, "approve").await,
        404,
        "resource.not_found",
    )
    .await;

    // Sent again: a new link, the old one stops working; a customer cannot send one.
    let id = first["id"].as_str().unwrap();
    let missing_key = app
        .post_json_authed(&format!("/v1/bookings/{id}/consent"), &agent, &json!({}))
        .await;
    assert_problem(missing_key, 400, "idempotency.key_required").await;
    let resent = post_keyed(
        &app,
        &format!("/v1/bookings/{id}/consent"),
        &agent,
        &json!({}),
    )
    .await;
    assert_eq!(resent.status(), 201);
    let newer = texted_token(&app, "consent_link", &first).await;
    assert_ne!(newer, first_link);
    assert_problem(
        decide(&app, &first_link, "approve").await,
        409,
        "link.replaced",
    )
    .await;
    assert_eq!(decide(&app, &newer, "approve").await.status(), 200);
    let customer = token(&app.register("nosy@example.com").await);
    let response = post_keyed(
        &app,
        &format!("/v1/bookings/{id}/consent"),
        &customer,
        &json!({}),
    )
    .await;
    assert_problem(response, 403, "auth.forbidden").await;
}

#[tokio::test]
async fn the_consent_link_is_texted_and_emailed_in_the_clients_language() {
    let app = office(ConsentRequired::Always).await;
    let (agent, client, city) = phone_client(&app).await;
    let booking = hold_for(&app, &agent, &client, &city, 1).await;
    let link = texted_token(&app, "consent_link", &booking).await;
    let mut conn = app.db.connect();
    use wasit::schema::sms_messages;
    let (to, status, body): (String, String, String) = sms_messages::table
        .filter(sms_messages::purpose.eq("consent_link"))
        .select((
            sms_messages::to_phone,
            sms_messages::status,
            sms_messages::body,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!(to, "+966559876543");
    assert_eq!(status, "sent", "the client opted in: the text went out");
    assert!(
        body.starts_with("Wasit: we booked") && body.ends_with(&format!("#/consent/{link}")),
        "{body}"
    );

    let email = client["email"].as_str().unwrap();
    let inbox = crate::email::inbox(&app, email).await;
    let mail = inbox
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Approve your booking")
        })
        .unwrap_or_else(|| panic!("no consent mail for {email}"));
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains(&format!("#/consent/{link}"))
    );
}
