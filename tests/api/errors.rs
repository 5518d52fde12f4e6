//! Bad input of every kind gets problem+json with a stable code, never a 500 or plain text,
//! and leaves nothing half-written.

use diesel::prelude::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{assert_problem, problem_fields, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    assert_problem(app.get("/v1/no-such-thing").await, 404, "route.not_found").await;
    let response = app.client.delete(app.url("/")).send().await.unwrap();
    assert_problem(response, 404, "route.not_found").await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = spawn_app().await;
    assert_problem(
        app.get("/v1/auth/login").await,
        405,
        "route.method_not_allowed",
    )
    .await;
    let response = app
        .client
        .delete(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 405, "route.method_not_allowed").await;
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    for body in [
        "{",
        "not json",
        "",
        "{\"email\": \"a@b.co\",}",
        "{} trailing",
    ] {
        let response = app
            .client
            .post(app.url("/v1/auth/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "request.malformed_json").await;
    }
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_is_a_415_problem() {
    let app = spawn_app().await;
    let body = r#"{"email":"a@example.com","password":"whatever-password"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("json"),
        None,
    ] {
        let mut request = app.client.post(app.url("/v1/auth/login")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, 415, "request.unsupported_media_type").await;
    }
    // A charset parameter and +json suffix are fine.
    for content_type in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let response = app
            .client
            .post(app.url("/v1/auth/login"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "auth.invalid_credentials").await;
    }
}

#[tokio::test]
async fn missing_and_mistyped_fields_are_422_problems_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({ "password": "correct horse battery", "full_name": "A" }),
            "email",
        ),
        (
            json!({ "email": "a@example.com", "full_name": "A" }),
            "password",
        ),
        (
            json!({ "email": 42, "password": "correct horse battery", "full_name": "A" }),
            "email",
        ),
        (
            json!({ "email": "a@example.com", "password": ["x"], "full_name": "A" }),
            "password",
        ),
        (
            json!({ "email": "a@example.com", "password": "correct horse battery", "full_name": "A", "locale": "fr" }),
            "locale",
        ),
        (
            json!({ "email": "a@example.com", "password": "correct horse battery", "full_name": "A", "nickname": "x" }),
            "nickname",
        ),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (body, field) in cases {
        let response = app.post_json("/v1/auth/register", &body).await;
        let problem = assert_problem(response, 422, "validation.failed").await;
        let fields = problem_fields(&problem);
        assert!(
            fields.iter().any(|f| f == field),
            "{body}: expected {field}, got {fields:?}"
        );
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[tokio::test]
async fn an_unknown_enum_value_says_which_values_are_allowed() {
    let app = spawn_app().await;
    let body = json!({ "email": "a@example.com", "password": "correct horse battery", "full_name": "A", "locale": "fr" });
    let problem = assert_problem(
        app.post_json("/v1/auth/register", &body).await,
        422,
        "validation.failed",
    )
    .await;
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("ar") && message.contains("en"),
        "{message}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 2048).await;
    let big = json!({ "email": "a@example.com", "password": "x".repeat(4096) });
    let problem = assert_problem(
        app.post_json("/v1/auth/login", &big).await,
        413,
        "request.too_large",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("2048"));
    // Just under the limit is parsed normally.
    let fits = json!({ "email": "a@example.com", "password": "x".repeat(1500) });
    assert_problem(
        app.post_json("/v1/auth/login", &fits).await,
        401,
        "auth.invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn a_chunked_body_without_a_length_is_cut_off_at_the_limit() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 2048).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let chunk = "x".repeat(1000);
    let mut request = String::from(
        "POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..5 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let head = answer.lines().next().unwrap();
    assert!(head.contains(" 413 "), "{head}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains("request.too_large"), "{answer}");
}

#[tokio::test]
async fn path_and_query_garbage_never_yields_a_500() {
    let app = spawn_app().await;
    for path in [
        "/v1/me/%ff",
        "/v1/auth/login?x=%zz",
        "/%2e%2e/etc/passwd",
        "/v1//auth//login",
    ] {
        let response = app.get(path).await;
        assert!(
            response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
}

#[tokio::test]
async fn rejected_input_writes_nothing() {
    let app = spawn_app().await;
    let bad = [
        json!({ "email": "not-an-email", "password": "correct horse battery", "full_name": "A" }),
        json!({ "email": "a@example.com", "password": "short", "full_name": "A" }),
        json!({ "email": "a@example.com", "password": "correct horse battery", "full_name": "" }),
        json!({ "email": "a@example.com", "password": "correct horse battery", "full_name": "A", "phone": "123" }),
    ];
    for body in bad {
        assert_problem(
            app.post_json("/v1/auth/register", &body).await,
            422,
            "validation.failed",
        )
        .await;
    }
    let mut conn = app.db.connect();
    let users: i64 = wasit::schema::users::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    let tokens: i64 = wasit::schema::refresh_tokens::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((users, tokens), (0, 0));
}

#[tokio::test]
async fn a_nul_character_in_any_text_is_a_field_error_not_a_500() {
    let app = crate::helpers::spawn_app().await;
    let response = app
        .post_json(
            "/v1/auth/login",
            &serde_json::json!({ "email": "a\u{0}@example.com", "password": "whatever it is" }),
        )
        .await;
    let problem = crate::helpers::assert_problem(response, 422, "validation.failed").await;
    assert_eq!(crate::helpers::problem_fields(&problem), ["email"]);
}
