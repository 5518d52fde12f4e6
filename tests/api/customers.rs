//! Office staff enter phone clients and find them again by phone; the bookings code gets or
//! creates the customer of a web login.

use diesel::prelude::*;
use reqwest::Response;
use serde_json::{Value, json};
use uuid::Uuid;
use wasit::auth::{Role, User};
use wasit::error::ApiError;

use crate::helpers::{TestApp, assert_problem, problem_fields, spawn_app, token};

async fn staff_token(app: &TestApp, role: Role) -> (String, String) {
    let session = app.user_with_role(role).await;
    (
        token(&session),
        session["user"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn lookup(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Response {
    app.client
        .get(app.url("/v1/customers"))
        .query(query)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The names a look-up answers with, in order.
async fn names(response: Response) -> Vec<String> {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["full_name"].as_str().unwrap().to_owned())
        .collect()
}

fn count_rows(app: &TestApp) -> (i64, i64) {
    let mut conn = app.db.connect();
    let customers = wasit::schema::customers::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    let entries = wasit::schema::audit_log::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    (customers, entries)
}

#[tokio::test]
async fn an_agent_enters_a_phone_client_and_finds_them_by_phone_in_any_form() {
    let app = spawn_app().await;
    let (token, agent_id) = staff_token(&app, Role::Agent).await;
    let created = app
        .post_ok(
            "/v1/customers",
            &token,
            &json!({ "full_name": "  Sara Al-Harbi ", "phone": "0501234567", "email": "Sara@Example.SA" }),
            201,
        )
        .await;
    assert_eq!(created["full_name"], "Sara Al-Harbi");
    assert_eq!(created["phone"], "+966501234567");
    assert_eq!(created["email"], "sara@example.sa");
    assert_eq!(created["locale"], "ar", "Arabic unless asked otherwise");
    assert_eq!(created["has_login"], false);
    assert_eq!(created["created_by"], agent_id.as_str());
    assert!(created["created_at"].is_string());
    Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();

    for form in [
        "+966501234567",
        "0501234567",
        "00966501234567",
        "966 50 123 4567",
        "+966 (50) 123-4567",
    ] {
        let response = lookup(&app, &token, &[("phone", form)]).await;
        assert_eq!(names(response).await, ["Sara Al-Harbi"], "{form}");
    }
    let response = lookup(&app, &token, &[("phone", "0509999999")]).await;
    assert!(names(response).await.is_empty(), "another number, nobody");
}

#[tokio::test]
async fn a_name_prefix_narrows_a_shared_phone() {
    let app = spawn_app().await;
    let (token, _) = staff_token(&app, Role::Agent).await;
    for (name, phone) in [
        ("Sara Al-Harbi", "0501234567"),
        ("salem Al-Harbi", "0501234567"),
        ("Noura Al-Harbi", "0501234567"),
        ("سارة الحربي", "0501234567"),
        ("Sara Other", "0557654321"),
    ] {
        app.post_ok(
            "/v1/customers",
            &token,
            &json!({ "full_name": name, "phone": phone, "locale": "en" }),
            201,
        )
        .await;
    }
    let everyone = names(lookup(&app, &token, &[("phone", "0501234567")]).await).await;
    assert_eq!(everyone.len(), 4, "{everyone:?}");
    assert_eq!(
        names(lookup(&app, &token, &[("phone", "0501234567"), ("q", "SA")]).await).await,
        ["salem Al-Harbi", "Sara Al-Harbi"],
        "case-insensitive, by name"
    );
    assert_eq!(
        names(lookup(&app, &token, &[("phone", "0501234567"), ("q", "sar")]).await).await,
        ["Sara Al-Harbi"]
    );
    assert_eq!(
        names(lookup(&app, &token, &[("phone", "0501234567"), ("q", "سا")]).await).await,
        ["سارة الحربي"]
    );
    assert!(
        names(lookup(&app, &token, &[("phone", "0501234567"), ("q", "%")]).await)
            .await
            .is_empty(),
        "a wildcard is only a character"
    );
}

#[tokio::test]
async fn a_customer_is_fetched_by_id_and_an_unknown_id_is_404() {
    let app = spawn_app().await;
    let (token, _) = staff_token(&app, Role::Agent).await;
    let created = app
        .post_ok(
            "/v1/customers",
            &token,
            &json!({ "full_name": "Khalid", "phone": "+44 20 7946 0958", "locale": "en" }),
            201,
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let response = app.get_authed(&format!("/v1/customers/{id}"), &token).await;
    assert_eq!(response.status(), 200);
    let fetched: Value = response.json().await.unwrap();
    assert_eq!(fetched, created);
    assert_eq!(fetched["phone"], "+442079460958");
    assert_eq!(fetched["email"], Value::Null);

    assert_problem(
        app.get_authed(&format!("/v1/customers/{}", Uuid::new_v4()), &token)
            .await,
        404,
        "resource.not_found",
    )
    .await;
    // An id that does not parse names no customer either.
    assert_problem(
        app.get_authed("/v1/customers/not-a-uuid", &token).await,
        404,
        "resource.not_found",
    )
    .await;
}

#[tokio::test]
async fn only_staff_reach_customers_and_admins_may_do_what_agents_do() {
    let app = spawn_app().await;
    let body = json!({ "full_name": "Sara", "phone": "0501234567" });
    let (admin, admin_id) = staff_token(&app, Role::Admin).await;
    let created = app.post_ok("/v1/customers", &admin, &body, 201).await;
    assert_eq!(created["created_by"], admin_id.as_str());
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        names(lookup(&app, &admin, &[("phone", "0501234567")]).await).await,
        ["Sara"]
    );
    let response = app.get_authed(&format!("/v1/customers/{id}"), &admin).await;
    assert_eq!(response.status(), 200);

    for role in [Role::Customer, Role::Provider] {
        let session = app.user_with_role(role).await;
        let token = token(&session);
        assert_problem(
            app.post_json_authed("/v1/customers", &token, &body).await,
            403,
            "auth.forbidden",
        )
        .await;
        assert_problem(
            lookup(&app, &token, &[("phone", "0501234567")]).await,
            403,
            "auth.forbidden",
        )
        .await;
        assert_problem(
            app.get_authed(&format!("/v1/customers/{id}"), &token).await,
            403,
            "auth.forbidden",
        )
        .await;
    }
    assert_problem(
        app.post_json("/v1/customers", &body).await,
        401,
        "auth.missing_token",
    )
    .await;
    assert_problem(
        app.get("/v1/customers?phone=0501234567").await,
        401,
        "auth.missing_token",
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/customers/{id}")).await,
        401,
        "auth.missing_token",
    )
    .await;
    assert_problem(
        app.get_authed("/v1/customers?phone=0501234567", "not.a.token")
            .await,
        401,
        "auth.invalid_token",
    )
    .await;
    assert_eq!(
        count_rows(&app),
        (1, 1),
        "only the admin's client and its entry"
    );
}

#[tokio::test]
async fn bad_customer_input_names_each_field_and_writes_nothing() {
    let app = spawn_app().await;
    let (token, _) = staff_token(&app, Role::Agent).await;
    let cases = [
        (
            json!({ "full_name": "Sara", "phone": "12345" }),
            vec!["phone"],
        ),
        (
            json!({ "full_name": "Sara", "phone": "0123456789" }),
            vec!["phone"],
        ),
        (
            json!({ "full_name": "Sara", "phone": "0501234567", "email": "not-an-email" }),
            vec!["email"],
        ),
        (
            json!({ "full_name": "   ", "phone": "0501234567" }),
            vec!["full_name"],
        ),
        (
            json!({ "full_name": "x".repeat(201), "phone": "0501234567" }),
            vec!["full_name"],
        ),
        (
            json!({ "full_name": "Sara", "phone": "0501234567", "locale": "fr" }),
            vec!["locale"],
        ),
        (
            json!({ "full_name": "Sara", "phone": "0501234567", "nickname": "S" }),
            vec!["nickname"],
        ),
        (json!({ "full_name": "Sara" }), vec!["phone"]),
        (
            json!({ "full_name": "Sara", "phone": 501234567 }),
            vec!["phone"],
        ),
        (
            json!({ "full_name": "", "phone": "call me", "email": "@example.com" }),
            vec!["full_name", "phone", "email"],
        ),
    ];
    for (body, fields) in cases {
        let problem = assert_problem(
            app.post_json_authed("/v1/customers", &token, &body).await,
            422,
            "validation.failed",
        )
        .await;
        assert_eq!(problem_fields(&problem), fields, "{body}");
    }
    assert_problem(
        app.client
            .post(app.url("/v1/customers"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{\"full_name\":")
            .send()
            .await
            .unwrap(),
        400,
        "request.malformed_json",
    )
    .await;
    assert_eq!(count_rows(&app), (0, 0), "no customer, no audit entry");

    // An empty email box means no email.
    let created = app
        .post_ok(
            "/v1/customers",
            &token,
            &json!({ "full_name": "Sara", "phone": "0501234567", "email": " " }),
            201,
        )
        .await;
    assert_eq!(created["email"], Value::Null);
}

#[tokio::test]
async fn a_phone_lookup_needs_a_phone() {
    let app = spawn_app().await;
    let (token, _) = staff_token(&app, Role::Agent).await;
    for (query, field) in [
        (vec![], "phone"),
        (vec![("q", "Sara")], "phone"),
        (vec![("phone", "  ")], "phone"),
        (vec![("phone", "Sara")], "phone"),
        (vec![("phone", "+966123")], "phone"),
    ] {
        let problem =
            assert_problem(lookup(&app, &token, &query).await, 400, "query.invalid").await;
        assert_eq!(problem_fields(&problem), [field], "{query:?}");
    }
    let long = "a".repeat(201);
    let problem = assert_problem(
        lookup(&app, &token, &[("phone", "0501234567"), ("q", &long)]).await,
        400,
        "query.invalid",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["q"]);
}

/// The account behind a session, as the bookings code receives it.
fn user_of(session: &Value) -> User {
    let user = &session["user"];
    User {
        id: user["id"].as_str().unwrap().parse().unwrap(),
        email: user["email"].as_str().unwrap().to_owned(),
        role: serde_json::from_value(user["role"].clone()).unwrap(),
        full_name: user["full_name"].as_str().unwrap().to_owned(),
        phone: user["phone"].as_str().map(str::to_owned),
        locale: serde_json::from_value(user["locale"].clone()).unwrap(),
        email_verified: user["email_verified"].as_bool().unwrap(),
        created_at: serde_json::from_value(user["created_at"].clone()).unwrap(),
        disabled_at: None,
    }
}

#[tokio::test]
async fn customer_for_user_copies_the_account_once() {
    let app = spawn_app().await;
    let session = app.user_with_role(Role::Customer).await;
    let user = user_of(&session);
    let mut conn = app.db.connect();
    let first = conn
        .transaction(|conn| wasit::customers::customer_for_user(conn, &user))
        .unwrap();
    assert_eq!(first.user_id, Some(user.id));
    assert_eq!(first.full_name, user.full_name);
    assert_eq!(first.email.as_deref(), Some(user.email.as_str()));
    assert_eq!(first.phone, user.phone);
    assert_eq!(first.locale, user.locale);
    assert_eq!(first.created_by, None);
    let again = conn
        .transaction(|conn| wasit::customers::customer_for_user(conn, &user))
        .unwrap();
    assert_eq!(again.id, first.id);

    let found = wasit::customers::find_customer(&mut conn, first.id).unwrap();
    assert_eq!(found.id, first.id);
    assert!(matches!(
        wasit::customers::find_customer(&mut conn, Uuid::new_v4()),
        Err(ApiError::NotFound)
    ));

    // Staff see a web customer as one with a login.
    let (token, _) = staff_token(&app, Role::Agent).await;
    let view: Value = app
        .get_authed(&format!("/v1/customers/{}", first.id), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["has_login"], true);
    assert_eq!(view["created_by"], Value::Null);
}

#[tokio::test]
async fn customer_for_user_is_race_safe() {
    const THREADS: usize = 10;
    let app = spawn_app().await;
    let session = app.user_with_role(Role::Customer).await;
    let user = user_of(&session);
    let url = app.db.url.clone();
    let ids = tokio::task::spawn_blocking(move || {
        let barrier = std::sync::Barrier::new(THREADS);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    scope.spawn(|| {
                        let mut conn = PgConnection::establish(&url).unwrap();
                        barrier.wait();
                        conn.transaction(|conn| wasit::customers::customer_for_user(conn, &user))
                            .map(|row| row.id)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect::<Vec<_>>()
        })
    })
    .await
    .unwrap();
    let ids: Vec<Uuid> = ids
        .into_iter()
        .map(|id| id.expect("every caller gets the customer"))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let mut conn = app.db.connect();
    let rows: i64 = wasit::schema::customers::table
        .filter(wasit::schema::customers::user_id.eq(user_of(&session).id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(rows, 1);
}
