use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{
    PASSWORD, TestApp, assert_problem, join_all, problem_fields, random_secret, spawn_app,
    spawn_app_with,
};

fn token(session: &Value) -> &str {
    session["access_token"].as_str().unwrap()
}

fn refresh_token(session: &Value) -> &str {
    session["refresh_token"].as_str().unwrap()
}

#[tokio::test]
async fn a_customer_signs_up_and_sees_themself() {
    let app = spawn_app().await;
    let session = app.register("Sara@Example.com").await;
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["expires_in"], 900);
    assert_eq!(session["user"]["email"], "sara@example.com");
    assert_eq!(session["user"]["role"], "customer");
    assert_eq!(session["user"]["locale"], "ar");
    assert!(session["user"].get("password_hash").is_none());

    let me: Value = app
        .get_authed("/v1/me", token(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], session["user"]["id"]);
    assert_eq!(me["full_name"], "Sara Al-Harbi");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = spawn_app().await;
    app.register("hash@example.com").await;
    let mut conn = app.db.connect();
    let stored: String = wasit::schema::users::table
        .select(wasit::schema::users::password_hash)
        .first(&mut conn)
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(PASSWORD));
}

#[tokio::test]
async fn sign_up_normalises_a_saudi_phone_and_takes_a_locale() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": "n@example.com", "password": PASSWORD, "full_name": " Noura ", "phone": "050 123 4567", "locale": "en" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["user"]["phone"], "+966501234567");
    assert_eq!(session["user"]["locale"], "en");
    assert_eq!(session["user"]["full_name"], "Noura");
}

#[tokio::test]
async fn bad_sign_up_input_names_every_bad_field() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": "not an email", "password": "short", "full_name": "   ", "phone": "12" }),
        )
        .await;
    let problem = assert_problem(response, 422, "validation.failed").await;
    assert_eq!(
        problem_fields(&problem),
        ["email", "password", "full_name", "phone"]
    );
    assert!(
        problem["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("10"),
        "names the minimum"
    );
}

#[tokio::test]
async fn a_password_under_the_configured_minimum_is_rejected() {
    let app = spawn_app_with(|s| s.auth.password_min_length = 14).await;
    let response = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": "p@example.com", "password": "thirteen-char", "full_name": "P" }),
        )
        .await;
    let problem = assert_problem(response, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["password"]);
}

#[tokio::test]
async fn a_taken_email_is_a_409_whatever_its_case() {
    let app = spawn_app().await;
    app.register("taken@example.com").await;
    let response = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": "TAKEN@example.com", "password": PASSWORD, "full_name": "Other" }),
        )
        .await;
    assert_problem(response, 409, "auth.email_taken").await;
}

#[tokio::test]
async fn concurrent_sign_ups_for_one_email_create_one_account() {
    let app = spawn_app().await;
    let bodies: Vec<Value> = (0..20)
        .map(|i| json!({ "email": "race@example.com", "password": PASSWORD, "full_name": format!("Racer {i}") }))
        .collect();
    let attempts = bodies
        .iter()
        .map(|body| app.post_json("/v1/auth/register", body));
    let statuses: Vec<u16> = futures_statuses(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    let mut conn = app.db.connect();
    let users: i64 = wasit::schema::users::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(users, 1);
}

async fn futures_statuses(
    requests: impl Iterator<Item = impl Future<Output = reqwest::Response>>,
) -> Vec<u16> {
    let handles: Vec<_> = requests.collect();
    let mut statuses = Vec::new();
    for response in join_all(handles).await {
        statuses.push(response.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn login_succeeds_with_the_right_password_only() {
    let app = spawn_app().await;
    app.register("login@example.com").await;
    let response = app.login("LOGIN@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let session: Value = response.json().await.unwrap();
    assert_eq!(
        app.get_authed("/v1/me", token(&session)).await.status(),
        200
    );

    assert_problem(
        app.login("login@example.com", "wrong password!").await,
        401,
        "auth.invalid_credentials",
    )
    .await;
    // An unknown account answers exactly the same.
    assert_problem(
        app.login("nobody@example.com", PASSWORD).await,
        401,
        "auth.invalid_credentials",
    )
    .await;
    assert_problem(
        app.login("not-even-an-email", PASSWORD).await,
        401,
        "auth.invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn me_without_a_token_is_401_missing_token() {
    let app = spawn_app().await;
    let response = app.get("/v1/me").await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "auth.missing_token").await;
}

fn forge(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn claims_for(app: &TestApp, session: &Value, exp_offset: i64, audience: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": app.settings.auth.jwt_issuer,
        "aud": audience,
        "sub": session["user"]["id"],
        "role": "admin",
        "iat": now,
        "exp": now + exp_offset,
        "jti": uuid::Uuid::new_v4(),
    })
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_401_invalid_token() {
    let app = spawn_app().await;
    let session = app.register("victim@example.com").await;
    let secret = secrecy::ExposeSecret::expose_secret(&app.settings.auth.jwt_secret).to_owned();
    let audience = app.settings.auth.jwt_audience.clone();

    // Sanity: a token we forge with the real key and claims is accepted, so the
    // rejections below are about the one thing each changes.
    let genuine = forge(
        &claims_for(&app, &session, 600, &audience),
        &secret,
        Algorithm::HS256,
    );
    assert_eq!(app.get_authed("/v1/me", &genuine).await.status(), 200);

    let other_key = forge(
        &claims_for(&app, &session, 600, &audience),
        &random_secret(),
        Algorithm::HS256,
    );
    let expired = forge(
        &claims_for(&app, &session, -120, &audience),
        &secret,
        Algorithm::HS256,
    );
    let other_audience = forge(
        &claims_for(&app, &session, 600, "another-api"),
        &secret,
        Algorithm::HS256,
    );
    let other_algorithm = forge(
        &claims_for(&app, &session, 600, &audience),
        &secret,
        Algorithm::HS512,
    );
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload =
            URL_SAFE_NO_PAD.encode(claims_for(&app, &session, 600, &audience).to_string());
        format!("{header}.{payload}.")
    };
    let tampered = {
        let mut parts: Vec<String> = token(&session).split('.').map(str::to_owned).collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["role"] = json!("admin");
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts.join(".")
    };
    let cases = [
        ("other key", other_key),
        ("expired", expired),
        ("other audience", other_audience),
        ("HS512", other_algorithm),
        ("alg none", unsigned),
        ("tampered claims", tampered),
        ("garbage", "not-a-token".to_owned()),
    ];
    for (name, bad) in cases {
        let response = app.get_authed("/v1/me", &bad).await;
        assert_eq!(response.status(), 401, "{name}");
        assert_problem(response, 401, "auth.invalid_token").await;
    }
    let basic = app
        .client
        .get(app.url("/v1/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(basic, 401, "auth.invalid_token").await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let first = app.register("rotate@example.com").await;
    let second: Value = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token(&first) }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(refresh_token(&second), refresh_token(&first));
    assert_eq!(app.get_authed("/v1/me", token(&second)).await.status(), 200);

    // The first token again: someone kept a copy. It fails, and so does its successor.
    let reuse = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token(&first) }),
        )
        .await;
    assert_problem(reuse, 401, "auth.invalid_refresh_token").await;
    let successor = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token(&second) }),
        )
        .await;
    assert_problem(successor, 401, "auth.invalid_refresh_token").await;

    // Another login is another family and still works.
    assert_eq!(
        app.login("rotate@example.com", PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_win() {
    let app = spawn_app().await;
    let session = app.register("twice@example.com").await;
    let body = json!({ "refresh_token": refresh_token(&session) });
    let attempts = (0..10).map(|_| app.post_json("/v1/auth/refresh", &body));
    let statuses = futures_statuses(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        9,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() {
    let app = spawn_app().await;
    let response = app
        .post_json("/v1/auth/refresh", &json!({ "refresh_token": "made-up" }))
        .await;
    assert_problem(response, 401, "auth.invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_ends_the_refresh_token_family() {
    let app = spawn_app().await;
    let session = app.register("bye@example.com").await;
    let body = json!({ "refresh_token": refresh_token(&session) });
    assert_eq!(app.post_json("/v1/auth/logout", &body).await.status(), 204);
    assert_problem(
        app.post_json("/v1/auth/refresh", &body).await,
        401,
        "auth.invalid_refresh_token",
    )
    .await;
    // Logging out twice is fine.
    assert_eq!(app.post_json("/v1/auth/logout", &body).await.status(), 204);
}

#[tokio::test]
async fn repeated_failures_for_an_account_are_slowed_with_429() {
    let app = spawn_app_with(|s| {
        s.auth.login_throttle.account_max_failures = 3;
        s.auth.login_throttle.lockout_secs = 120;
    })
    .await;
    app.register("guarded@example.com").await;
    for _ in 0..3 {
        assert_problem(
            app.login("guarded@example.com", "wrong password!").await,
            401,
            "auth.invalid_credentials",
        )
        .await;
    }
    // Now even the right password waits: the lock-out does not reveal whether it was right.
    let response = app.login("guarded@example.com", PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((100..=121).contains(&retry_after), "{retry_after}");
    assert_problem(response, 429, "auth.too_many_attempts").await;
    // Other accounts are unaffected.
    app.register("other@example.com").await;
    assert_eq!(app.login("other@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_burst_of_guesses_gets_at_most_the_limit_checked_and_the_rest_429() {
    const LIMIT: usize = 5;
    let app = spawn_app_with(|s| {
        s.auth.login_throttle.account_max_failures = LIMIT as u32;
        // Hashes slow enough that a check-then-count throttle would let several through.
        s.auth.argon2.memory_kib = 8 * 1024;
        s.auth.argon2.iterations = 2;
    })
    .await;
    app.register("burst@example.com").await;
    let body = json!({ "email": "burst@example.com", "password": "wrong password!" });
    let attempts = (0..30).map(|_| async {
        let response = app.post_json("/v1/auth/login", &body).await;
        let status = response.status().as_u16();
        let problem: Value = response.json().await.unwrap();
        (
            status,
            problem["code"].as_str().unwrap_or_default().to_owned(),
        )
    });
    let answers = join_all(attempts.collect()).await;
    // Each attempt reserves its place in the count before the password is checked, so no
    // more than the limit are ever checked, however many arrive at once.
    let checked = answers
        .iter()
        .filter(|a| *a == &(401, "auth.invalid_credentials".to_owned()))
        .count();
    let refused = answers
        .iter()
        .filter(|a| *a == &(429, "auth.too_many_attempts".to_owned()))
        .count();
    assert_eq!(checked + refused, answers.len(), "{answers:?}");
    assert!(checked <= LIMIT, "{checked} of 30 checked: {answers:?}");
    assert_eq!(checked, LIMIT, "{answers:?}");
    let mut conn = app.db.connect();
    let failures: i32 = wasit::schema::login_throttles::table
        .find(
            wasit::auth::throttle::ThrottlePolicy::from(&app.settings.auth.login_throttle)
                .account("burst@example.com")
                .key,
        )
        .select(wasit::schema::login_throttles::failures)
        .first(&mut conn)
        .unwrap();
    assert_eq!(
        failures as usize, checked,
        "every 401 was counted, no 429 was"
    );
    // The lock-out does not reveal whether a password is right: the right one waits too.
    assert_problem(
        app.login("burst@example.com", PASSWORD).await,
        429,
        "auth.too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn many_accounts_guessed_from_one_address_block_that_address() {
    let app = spawn_app_with(|s| {
        s.auth.login_throttle.account_max_failures = 3;
        s.auth.login_throttle.address_max_failures = 4;
    })
    .await;
    app.register("later@example.com").await;
    for i in 0..4 {
        let response = app
            .login(&format!("victim{i}@example.com"), "guess-guess-guess")
            .await;
        assert_problem(response, 401, "auth.invalid_credentials").await;
    }
    assert_problem(
        app.login("later@example.com", PASSWORD).await,
        429,
        "auth.too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn a_right_password_does_not_count_against_its_address() {
    let app = spawn_app_with(|s| {
        s.auth.login_throttle.address_max_failures = 2;
        s.auth.login_throttle.lockout_secs = 1;
    })
    .await;
    app.register("regular@example.com").await;
    for i in 0..2 {
        let response = app
            .login(&format!("guess{i}@example.com"), "wrong password!")
            .await;
        assert_problem(response, 401, "auth.invalid_credentials").await;
    }
    assert_problem(
        app.login("regular@example.com", PASSWORD).await,
        429,
        "auth.too_many_attempts",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    // The lock-out has passed. Each login is counted before its password is checked, and a
    // right one takes its count back, so right passwords do not lock the address out again.
    for _ in 0..3 {
        assert_eq!(
            app.login("regular@example.com", PASSWORD).await.status(),
            200
        );
    }
    // A wrong one still carries on from the earlier guesses: a doubled lock-out.
    let response = app.login("guess9@example.com", "wrong password!").await;
    assert_problem(response, 401, "auth.invalid_credentials").await;
    let response = app.login("regular@example.com", PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((2..=3).contains(&retry_after), "{retry_after}");
    assert_problem(response, 429, "auth.too_many_attempts").await;
}

#[tokio::test]
async fn a_successful_login_clears_the_account_counter() {
    let app = spawn_app_with(|s| s.auth.login_throttle.account_max_failures = 3).await;
    app.register("forgetful@example.com").await;
    for _ in 0..2 {
        app.login("forgetful@example.com", "wrong password!").await;
    }
    assert_eq!(
        app.login("forgetful@example.com", PASSWORD).await.status(),
        200
    );
    for _ in 0..2 {
        assert_eq!(
            app.login("forgetful@example.com", "wrong password!")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.login("forgetful@example.com", PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn the_role_guard_lets_admins_create_staff_and_answers_403_to_others() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    let body = json!({ "email": "agent@office.sa", "password": PASSWORD, "full_name": "Agent Khalid", "role": "agent" });
    for role in [Role::Customer, Role::Agent, Role::Provider] {
        let caller = app.user_with_role(role).await;
        let response = app
            .post_json_authed("/v1/admin/users", token(&caller), &body)
            .await;
        assert_problem(response, 403, "auth.forbidden").await;
    }
    assert_problem(
        app.post_json("/v1/admin/users", &body).await,
        401,
        "auth.missing_token",
    )
    .await;

    let response = app
        .post_json_authed("/v1/admin/users", token(&admin), &body)
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["role"], "agent");
    let agent: Value = app
        .login("agent@office.sa", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(agent["user"]["role"], "agent");

    let again = app
        .post_json_authed("/v1/admin/users", token(&admin), &body)
        .await;
    assert_problem(again, 409, "auth.email_taken").await;
    let bad_role = json!({ "email": "x@office.sa", "password": PASSWORD, "full_name": "X", "role": "superuser" });
    let problem = assert_problem(
        app.post_json_authed("/v1/admin/users", token(&admin), &bad_role)
            .await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["role"]);
}

#[tokio::test]
async fn a_disabled_account_can_neither_log_in_nor_refresh() {
    let app = spawn_app().await;
    let session = app.register("gone@example.com").await;
    let mut conn = app.db.connect();
    diesel::update(wasit::schema::users::table)
        .set(wasit::schema::users::disabled_at.eq(diesel::dsl::now))
        .execute(&mut conn)
        .unwrap();
    assert_problem(
        app.login("gone@example.com", PASSWORD).await,
        401,
        "auth.invalid_credentials",
    )
    .await;
    let refresh = app
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token(&session) }),
        )
        .await;
    assert_problem(refresh, 401, "auth.invalid_refresh_token").await;
    // Its access token is refused too (#14, point 5), not answered as for a missing account.
    assert_problem(
        app.get_authed("/v1/me", token(&session)).await,
        401,
        "auth.invalid_token",
    )
    .await;
}
