//! Accounts (#14, point 5; and point 4's unverified contact emails): verification and reset
//! links read from the real SMTP server (maildev), sessions that end at once, the absolute
//! session lifetime, and what an unverified customer may do.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::email::inbox;
use crate::helpers::{
    PASSWORD, TestApp, assert_problem, book, problem_fields, spawn_app, spawn_app_with, stay_offer,
    token, unique_city,
};

const NEW_PASSWORD: &str = "a brand new passphrase";

fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// The token of the link in a mail's text part.
fn link_token(mail: &Value, page: &str) -> String {
    let text = mail["text"].as_str().unwrap();
    let start = text
        .find(&format!("#/{page}?token="))
        .unwrap_or_else(|| panic!("no {page} link in: {text}"))
        + page.len()
        + 9;
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The mails at `to` whose subject is `subject`, after running the queued jobs.
async fn mails(app: &TestApp, to: &str, subject: &str) -> Vec<Value> {
    app.run_pending_jobs().await;
    inbox(app, to)
        .await
        .into_iter()
        .filter(|m| m["subject"] == subject)
        .collect()
}

async fn me(app: &TestApp, access: &str) -> reqwest::Response {
    app.get_authed("/v1/me", access).await
}

async fn refresh(app: &TestApp, session: &Value) -> reqwest::Response {
    app.post_json(
        "/v1/auth/refresh",
        &json!({ "refresh_token": session["refresh_token"] }),
    )
    .await
}

fn sql(app: &TestApp, statement: &str) -> usize {
    diesel::sql_query(statement)
        .execute(&mut app.db.connect())
        .unwrap()
}

#[tokio::test]
async fn sign_up_mails_a_verification_link_that_works_once_and_not_once_expired() {
    let app = spawn_app().await;
    let email = unique_email("verify");
    let session = app.sign_up(&email).await;
    assert_eq!(session["user"]["email_verified"], false);
    let access = token(&session);

    // Another link on request; then the first one is made to have expired.
    let resent = app
        .post_json_authed("/v1/me/verification-email", &access, &json!({}))
        .await;
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    let sent = mails(&app, &email, "أكّد بريدك الإلكتروني في وسيط").await;
    assert_eq!(sent.len(), 2, "in Arabic, the sign-up's language");
    assert!(sent[0]["html"].as_str().unwrap().contains("dir=\"rtl\""));
    assert!(
        sent[0]["headers"]["message-id"]
            .as_str()
            .unwrap()
            .starts_with("<verify-email."),
        "{}",
        sent[0]["headers"]
    );
    let (first, second) = (
        link_token(&sent[0], "verify-email"),
        link_token(&sent[1], "verify-email"),
    );
    assert!(sent[0]["text"].as_str().unwrap().contains(&format!(
        "{}#/verify-email?token={first}",
        app.settings.email.site_url
    )));
    // The two mails may arrive in either order (workers send side by side): the link made to
    // expire is the one of the first mail, named by its Message-ID.
    let first_link = sent[0]["headers"]["message-id"]
        .as_str()
        .unwrap()
        .trim_start_matches("<verify-email.")
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    sql(
        &app,
        &format!(
            "UPDATE account_tokens SET expires_at = now() - interval '1 second' \
             WHERE id = '{first_link}'"
        ),
    );
    let expired = app
        .post_json("/v1/auth/verify-email", &json!({ "token": first }))
        .await;
    let problem = assert_problem(expired, 400, "auth.invalid_link").await;
    assert_eq!(problem_fields(&problem), ["token"]);

    let verified = app
        .post_json("/v1/auth/verify-email", &json!({ "token": second }))
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    let account: Value = me(&app, &access).await.json().await.unwrap();
    assert_eq!(account["email_verified"], true);

    let again = app
        .post_json("/v1/auth/verify-email", &json!({ "token": second }))
        .await;
    assert_problem(again, 400, "auth.invalid_link").await;
    let unknown = app
        .post_json("/v1/auth/verify-email", &json!({ "token": "made-up" }))
        .await;
    assert_problem(unknown, 400, "auth.invalid_link").await;
    // Nothing more to verify: no more mail.
    let done = app
        .post_json_authed("/v1/me/verification-email", &access, &json!({}))
        .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn staff_accounts_start_verified() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .post_ok(
            "/v1/admin/users",
            &admin,
            &json!({ "email": unique_email("agent"), "password": PASSWORD, "full_name": "Agent", "role": "agent" }),
            201,
        )
        .await;
    assert_eq!(created["email_verified"], true);
}

/// A hold at an outside provider books with someone else on the customer's word: only a
/// verified customer may make one. Our own inventory takes anyone signed in, and an agent
/// booking for the client is not held back.
#[tokio::test]
async fn an_unverified_customer_holds_at_our_inventory_but_not_at_an_outside_provider() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let (_, dav_city, _) = crate::seams::caldav_hotel(&app, &admin, 3).await;
    let local_city = unique_city("own");
    app.local_hotel(&admin, &local_city, "Own", 3, "200.00", 20)
        .await;
    let session = app.sign_up(&unique_email("unverified")).await;
    let customer = token(&session);

    let local = stay_offer(&app, &local_city, 3, 5, 2).await;
    let held = book(
        &app,
        &customer,
        "own-1",
        &json!({ "offer_id": local["offer_id"] }),
    )
    .await;
    assert_eq!(held.status(), 201, "our own inventory");
    let held: Value = held.json().await.unwrap();

    let outside = stay_offer(&app, &dav_city, 3, 5, 2).await;
    assert!(outside["offer_id"].is_string(), "the CalDAV hotel offers");
    let refused = book(
        &app,
        &customer,
        "dav-1",
        &json!({ "offer_id": outside["offer_id"] }),
    )
    .await;
    let problem = assert_problem(refused, 403, "account.unverified").await;
    assert!(problem["detail"].as_str().unwrap().contains("verify"));

    let for_client = book(
        &app,
        &agent,
        "dav-agent",
        &json!({ "offer_id": outside["offer_id"], "customer_id": held["customer_id"] }),
    )
    .await;
    assert_eq!(for_client.status(), 201, "an agent books for the client");

    app.mark_verified(session["user"]["id"].as_str().unwrap());
    let again = stay_offer(&app, &dav_city, 7, 9, 2).await;
    let allowed = book(
        &app,
        &customer,
        "dav-2",
        &json!({ "offer_id": again["offer_id"] }),
    )
    .await;
    assert_eq!(allowed.status(), 201, "once verified");
}

/// #14, point 4: a contact email on a booking the customer made gets no mail until the
/// customer's own email is verified (nor does their own unproven address).
#[tokio::test]
async fn booking_mail_waits_until_the_customers_email_is_verified() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("mail");
    app.local_hotel(&admin, &city, "Corniche", 3, "300.00", 20)
        .await;
    let own = unique_email("own");
    let contact = unique_email("contact");
    let session = app.sign_up(&own).await;
    let customer = token(&session);
    let offer = stay_offer(&app, &city, 3, 5, 2).await;
    let booking: Value = book(
        &app,
        &customer,
        "contact-1",
        &json!({ "offer_id": offer["offer_id"], "contact": { "name": "Aunt Noura", "email": contact } }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(booking["contact"]["email"], contact.as_str());
    app.run_pending_jobs().await;
    assert!(
        inbox(&app, &contact).await.is_empty(),
        "no mail to the contact"
    );
    let own_mail = inbox(&app, &own).await;
    assert_eq!(own_mail.len(), 1, "only the verification mail");
    let token_text = link_token(&own_mail[0], "verify-email");

    let verified = app
        .post_json("/v1/auth/verify-email", &json!({ "token": token_text }))
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    let reference = booking["reference"].as_str().unwrap();
    app.post_ok(
        &format!("/v1/bookings/{reference}/cancel"),
        &customer,
        &json!({}),
        200,
    )
    .await;
    app.run_pending_jobs().await;
    let to_contact = inbox(&app, &contact).await;
    assert_eq!(
        to_contact.len(),
        1,
        "verified: the cancellation reaches the contact"
    );
    assert!(
        to_contact[0]["subject"]
            .as_str()
            .unwrap()
            .contains(reference)
    );
}

#[tokio::test]
async fn forgot_password_answers_202_whatever_the_email_and_its_link_resets_once() {
    let app = spawn_app().await;
    let email = unique_email("forgot");
    let response = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": email, "password": PASSWORD, "full_name": "Omar", "locale": "en" }),
        )
        .await;
    let session: Value = response.json().await.unwrap();
    let access = token(&session);
    assert_eq!(me(&app, &access).await.status(), 200);

    let unknown = unique_email("nobody");
    for address in [&email, &unknown] {
        let answer = app
            .post_json("/v1/auth/password/forgot", &json!({ "email": address }))
            .await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "{address}");
        assert_eq!(answer.text().await.unwrap(), "", "the same empty answer");
    }
    let malformed = app
        .post_json(
            "/v1/auth/password/forgot",
            &json!({ "email": "not an email" }),
        )
        .await;
    let problem = assert_problem(malformed, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["email"]);

    let sent = mails(&app, &email, "Reset your Wasit password").await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0]["text"].as_str().unwrap().contains("30 minutes"));
    assert!(inbox(&app, &unknown).await.is_empty(), "nobody to mail");
    let reset_token = link_token(&sent[0], "reset-password");

    let short = app
        .post_json(
            "/v1/auth/password/reset",
            &json!({ "token": reset_token, "password": "short" }),
        )
        .await;
    let problem = assert_problem(short, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["password"]);
    let reset = app
        .post_json(
            "/v1/auth/password/reset",
            &json!({ "token": reset_token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);

    // Every session ended: the access token from the next request, the refresh token now.
    assert_problem(me(&app, &access).await, 401, "auth.invalid_token").await;
    assert_problem(
        refresh(&app, &session).await,
        401,
        "auth.invalid_refresh_token",
    )
    .await;
    assert_problem(
        app.login(&email, PASSWORD).await,
        401,
        "auth.invalid_credentials",
    )
    .await;
    let fresh: Value = app.login(&email, NEW_PASSWORD).await.json().await.unwrap();
    assert_eq!(
        fresh["user"]["email_verified"], true,
        "the link proved the address"
    );

    let again = app
        .post_json(
            "/v1/auth/password/reset",
            &json!({ "token": reset_token, "password": "yet another passphrase" }),
        )
        .await;
    assert_problem(again, 400, "auth.invalid_link").await;
}

#[tokio::test]
async fn a_reset_link_expires() {
    let app = spawn_app().await;
    let email = unique_email("late");
    app.register(&email).await;
    app.post_json("/v1/auth/password/forgot", &json!({ "email": email }))
        .await;
    let sent = mails(&app, &email, "إعادة تعيين كلمة المرور في وسيط").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sql(
            &app,
            "UPDATE account_tokens SET expires_at = now() - interval '1 second' \
             WHERE purpose = 'reset_password'"
        ),
        1
    );
    let late = app
        .post_json(
            "/v1/auth/password/reset",
            &json!({ "token": link_token(&sent[0], "reset-password"), "password": NEW_PASSWORD }),
        )
        .await;
    assert_problem(late, 400, "auth.invalid_link").await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
}

/// Past the email's limit the answer stays 202 and nothing is sent; past the client
/// address's limit the answer is 429.
#[tokio::test]
async fn reset_mail_is_limited_per_email_and_per_address() {
    let app = spawn_app_with(|s| {
        s.auth.mail_throttle.email_max_requests = 2;
        s.auth.mail_throttle.address_max_requests = 3;
    })
    .await;
    let email = unique_email("flood");
    app.register(&email).await;
    for _ in 0..3 {
        let answer = app
            .post_json("/v1/auth/password/forgot", &json!({ "email": email }))
            .await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(
        mails(&app, &email, "إعادة تعيين كلمة المرور في وسيط")
            .await
            .len(),
        2
    );
    let blocked = app
        .post_json(
            "/v1/auth/password/forgot",
            &json!({ "email": unique_email("other") }),
        )
        .await;
    assert!(blocked.headers().contains_key("retry-after"));
    assert_problem(blocked, 429, "auth.too_many_attempts").await;
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let app = spawn_app().await;
    let email = unique_email("change");
    let first = app.register(&email).await;
    let other: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    assert_eq!(me(&app, &token(&other)).await.status(), 200);

    let wrong = app
        .post_json_authed(
            "/v1/me/password",
            &token(&first),
            &json!({ "current_password": "not my password", "new_password": NEW_PASSWORD }),
        )
        .await;
    let problem = assert_problem(wrong, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["current_password"]);

    let changed = app
        .post_json_authed(
            "/v1/me/password",
            &token(&first),
            &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let fresh: Value = changed.json().await.unwrap();
    assert_eq!(me(&app, &token(&fresh)).await.status(), 200);
    assert_eq!(refresh(&app, &fresh).await.status(), 200);

    for old in [&first, &other] {
        assert_problem(me(&app, &token(old)).await, 401, "auth.invalid_token").await;
        assert_problem(refresh(&app, old).await, 401, "auth.invalid_refresh_token").await;
    }
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_disabled_staff_member_is_refused_from_the_next_request() {
    let app = spawn_app().await;
    let admin_session = app.user_with_role(Role::Admin).await;
    let admin = token(&admin_session);
    let agent = app.user_with_role(Role::Agent).await;
    let agent_token = token(&agent);
    let lookup = "/v1/customers?phone=%2B966501234567";
    assert_eq!(app.get_authed(lookup, &agent_token).await.status(), 200);

    let id = agent["user"]["id"].as_str().unwrap();
    let disabled = app
        .post_ok(
            &format!("/v1/admin/users/{id}/disable"),
            &admin,
            &json!({}),
            200,
        )
        .await;
    assert!(disabled["disabled_at"].is_string(), "{disabled}");

    assert_problem(
        app.get_authed(lookup, &agent_token).await,
        401,
        "auth.invalid_token",
    )
    .await;
    assert_problem(
        refresh(&app, &agent).await,
        401,
        "auth.invalid_refresh_token",
    )
    .await;
    let email = agent["user"]["email"].as_str().unwrap();
    assert_problem(
        app.login(email, PASSWORD).await,
        401,
        "auth.invalid_credentials",
    )
    .await;

    let own = admin_session["user"]["id"].as_str().unwrap();
    let myself = app
        .post_json_authed(
            &format!("/v1/admin/users/{own}/disable"),
            &admin,
            &json!({}),
        )
        .await;
    assert_problem(myself, 409, "account.disable_self").await;
    let nobody = uuid::Uuid::new_v4();
    let missing = app
        .post_json_authed(
            &format!("/v1/admin/users/{nobody}/disable"),
            &admin,
            &json!({}),
        )
        .await;
    assert_problem(missing, 404, "resource.not_found").await;
    let customer = token(&app.register(&unique_email("curious")).await);
    let not_admin = app
        .post_json_authed(
            &format!("/v1/admin/users/{own}/disable"),
            &customer,
            &json!({}),
        )
        .await;
    assert_problem(not_admin, 403, "auth.forbidden").await;
}

#[tokio::test]
async fn a_session_is_not_refreshed_past_session_max_days() {
    let app = spawn_app_with(|s| s.auth.session_max_days = 1).await;
    let email = unique_email("long");
    app.register(&email).await;
    let session: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let renewed: Value = refresh(&app, &session).await.json().await.unwrap();
    // The new refresh token ends with the session, not 30 days from now.
    let mut conn = app.db.connect();
    let beyond: i64 = wasit::schema::refresh_tokens::table
        .filter(
            wasit::schema::refresh_tokens::expires_at
                .gt(wasit::schema::refresh_tokens::session_started_at
                    + diesel::dsl::IntervalDsl::days(1)),
        )
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(beyond, 0);

    sql(
        &app,
        "UPDATE refresh_tokens SET session_started_at = now() - interval '25 hours'",
    );
    assert_problem(
        refresh(&app, &renewed).await,
        401,
        "auth.invalid_refresh_token",
    )
    .await;
}

/// `wasit create-user --reset-password` ends the account's sessions: refresh tokens at
/// once, access tokens once the server's last look at the account is older than
/// `auth.session_recheck_ms` (the command runs in another process).
#[tokio::test]
async fn the_cli_password_reset_ends_every_session() {
    let app = spawn_app().await;
    let agent = app.user_with_role(Role::Agent).await;
    let access = token(&agent);
    assert_eq!(me(&app, &access).await.status(), 200);
    let email = agent["user"]["email"].as_str().unwrap().to_owned();
    let url = app.db.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        crate::lifecycle::wasit("test", &url)
            .args([
                "create-user",
                "--role",
                "agent",
                "--email",
                &email,
                "--reset-password",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_problem(
        refresh(&app, &agent).await,
        401,
        "auth.invalid_refresh_token",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(
        app.settings.auth.session_recheck_ms + 100,
    ))
    .await;
    assert_problem(me(&app, &access).await, 401, "auth.invalid_token").await;
}
