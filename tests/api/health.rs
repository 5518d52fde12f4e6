use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn live_answers_without_touching_the_database() {
    let app = spawn_app().await;
    app.db.drop_now();
    let response = app.get("/health/live").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_is_200_while_the_database_answers() {
    let app = spawn_app().await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn ready_is_503_problem_when_the_database_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/ready").await.status(), 200);
    app.db.drop_now();
    let response = app.get("/health/ready").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503, "service.unavailable").await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    for path in ["/health/live", "/no/such/route"] {
        let response = app.get(path).await;
        let id = response
            .headers()
            .get("x-request-id")
            .expect("x-request-id");
        assert!(
            uuid::Uuid::parse_str(id.to_str().unwrap()).is_ok(),
            "{path}: {id:?}"
        );
    }
    let first = app.get("/health/live").await.headers()["x-request-id"].clone();
    let second = app.get("/health/live").await.headers()["x-request-id"].clone();
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_sane_incoming_request_id_is_kept_and_a_bad_one_replaced() {
    let app = spawn_app().await;
    let kept = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "lb-7f3a-0042")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "lb-7f3a-0042");
    let replaced = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "x".repeat(300))
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn errors_carry_the_request_id_too() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("x-request-id", "trace-me")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me");
    assert_problem(response, 400, "request.malformed_json").await;
}

#[tokio::test]
async fn the_site_and_the_api_are_gzipped_for_clients_that_ask() {
    let app = crate::helpers::spawn_app().await;
    let plain = app.get("/assets/i18n.js").await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    let zipped = app
        .client
        .get(app.url("/assets/i18n.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let zipped_len = zipped.bytes().await.unwrap().len();
    assert!(
        zipped_len * 2 < plain_len,
        "{zipped_len} of {plain_len} bytes"
    );
}
