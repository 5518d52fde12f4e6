//! `GET /metrics`: who may read it, and that it counts what happened.

use serde_json::json;

use crate::helpers::{assert_problem, spawn_app_with};

/// The value of the sample whose line starts with `prefix` (name and labels), if any.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn metrics_are_for_the_scraper_and_admins_and_count_requests_bookings_and_jobs() {
    let app = spawn_app_with(|s| {
        s.metrics.token = Some("scrape-token-for-tests-only".to_owned().into());
    })
    .await;
    let admin = app.admin_token().await;
    let customer = app.register("metrics@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_problem(app.get("/metrics").await, 401, "auth.missing_token").await;
    assert_problem(
        app.get_authed("/metrics", &customer).await,
        403,
        "auth.forbidden",
    )
    .await;
    assert_problem(
        app.get_authed("/metrics", "scrape-token-wrong-for-tests")
            .await,
        401,
        "auth.invalid_token",
    )
    .await;

    // Something to count: a booking held (and its email job queued), a 404.
    let city = crate::helpers::unique_city("metrics");
    app.local_hotel(&admin, &city, "Counted", 2, "300.00", 5)
        .await;
    let offer = crate::helpers::stay_offer(&app, &city, 2, 3, 1).await;
    let held = crate::helpers::book(
        &app,
        &customer,
        "m1",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(held.status(), 201);
    app.get("/v1/nowhere").await;

    let response = app
        .get_authed("/metrics", "scrape-token-for-tests-only")
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        sample(
            &text,
            r#"wasit_http_requests_total{method="POST",route="/v1/bookings",status="201"}"#
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"wasit_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ) >= Some(1.0)
    );
    assert!(
        text.contains(
            r#"wasit_http_request_duration_seconds_bucket{method="GET",route="/v1/search""#
        )
    );
    assert!(text.contains("wasit_provider_search_duration_seconds_count{"));
    assert_eq!(sample(&text, r#"wasit_bookings{status="held"}"#), Some(1.0));
    assert!(sample(&text, r#"wasit_jobs_queued{kind="send_booking_email"}"#) >= Some(1.0));
    // Admins may look too.
    assert_eq!(app.get_authed("/metrics", &admin).await.status(), 200);
}
