//! Calls to addresses an admin typed (issue #14, point 2): refused addresses are never
//! connected to, whatever a name resolves to; redirects are not followed; answers are capped;
//! the public search shows a reason, never a provider's URL or what it sent; credentials in a
//! base URL are redacted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, canned_server, day, problem_fields, spawn_app, spawn_app_with,
    unique_city,
};

/// A server that counts the connections made to it and answers none.
async fn recording_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (port, seen)
}

fn hospital(city: &str, name: &str, base_url: &str) -> Value {
    json!({ "kind": "hospital", "name_ar": name, "name_en": name, "city": city, "adapter": "fhir",
        "adapter_settings": { "base_url": base_url, "schedules": [{ "schedule_id": "s1", "price": "100.00" }] } })
}

fn hotel(city: &str, name: &str, base_url: &str) -> Value {
    json!({ "kind": "hotel", "name_ar": name, "name_en": name, "city": city, "adapter": "caldav",
        "adapter_settings": { "base_url": base_url,
            "room_types": [{ "code": "std", "calendar_path": "/hotel/std/", "name_ar": "عادية", "name_en": "Standard",
                "rooms": 3, "max_guests": 2, "nightly_price": "200.00" }] } })
}

/// Rewrites a saved provider's base URL behind the API's back: what a row saved before the
/// rule, or a name that resolved elsewhere when it was saved, looks like when it is called.
fn store_base_url(app: &TestApp, provider: &str, url: &str) {
    diesel::sql_query(
        "UPDATE providers SET adapter_settings = \
         jsonb_set(adapter_settings, '{base_url}', to_jsonb($1::text)) WHERE id = $2::uuid",
    )
    .bind::<Text, _>(url)
    .bind::<Text, _>(provider)
    .execute(&mut app.db.connect())
    .unwrap();
}

async fn created_id(app: &TestApp, admin: &str, body: &Value) -> String {
    app.post_ok("/v1/providers", admin, body, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The search's answer as text (to look for what must not be in it) and as JSON.
async fn search_text(app: &TestApp, kind: &str, city: &str) -> (String, Value) {
    let query = match kind {
        "hotel" => format!(
            "kind=hotel&city={city}&check_in={}&check_out={}&guests=2",
            day(1),
            day(2)
        ),
        _ => format!("kind=hospital&city={city}&from={}&to={}", day(1), day(2)),
    };
    let response = app.search(&query).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap();
    (text, json)
}

fn status_of(results: &Value, name: &str) -> Value {
    results["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name_en"] == name)
        .unwrap_or_else(|| panic!("{name} in {results}"))
        .clone()
}

#[tokio::test]
async fn a_provider_whose_address_is_loopback_is_never_connected_to_unless_allowed() {
    let app = spawn_app_with(|s| s.outbound.allow_private = false).await;
    let admin = app.admin_token().await;
    let (port, seen) = recording_server().await;
    let city = unique_city("ssrf");
    // Saved while their names pointed elsewhere; now they lead to loopback: by a name the
    // resolver answers (checked at connect time), by IP literals (checked before sending).
    for (name, url) in [
        ("By Name", format!("http://localhost:{port}/fhir/R4")),
        ("By Literal", format!("http://127.0.0.1:{port}/fhir/R4")),
        (
            "By Mapped",
            format!("http://[::ffff:127.0.0.1]:{port}/fhir/R4"),
        ),
    ] {
        let id = created_id(
            &app,
            &admin,
            &hospital(&city, name, "https://fhir.hospital.example/R4"),
        )
        .await;
        store_base_url(&app, &id, &url);
    }
    let hotel_id = created_id(
        &app,
        &admin,
        &hotel(&city, "Hotel By Name", "https://dav.hotel.example"),
    )
    .await;
    store_base_url(&app, &hotel_id, &format!("http://localhost:{port}"));

    let (text, results) = search_text(&app, "hospital", &city).await;
    for name in ["By Name", "By Literal", "By Mapped"] {
        let status = status_of(&results, name);
        assert_eq!(status["status"], "error", "{status}");
        assert_eq!(status["error"], "refused", "{status}");
    }
    let (hotel_text, hotels) = search_text(&app, "hotel", &city).await;
    assert_eq!(status_of(&hotels, "Hotel By Name")["error"], "refused");
    for text in [text, hotel_text] {
        assert!(
            !text.contains("localhost") && !text.contains("127.0.0.1"),
            "{text}"
        );
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn a_webhook_to_a_name_that_resolves_to_loopback_is_not_sent() {
    let app = spawn_app_with(|s| s.outbound.allow_private = false).await;
    let admin = app.admin_token().await;
    let (port, seen) = recording_server().await;
    let provider = created_id(
        &app,
        &admin,
        &json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Hooked", "city": "abha", "adapter": "local",
            "webhook_url": "https://hooks.hotel.example/wasit" }),
    )
    .await;
    let mut conn = app.db.connect();
    diesel::sql_query("UPDATE providers SET webhook_url = $1 WHERE id = $2::uuid")
        .bind::<Text, _>(format!("http://localhost:{port}/hooks"))
        .bind::<Text, _>(&provider)
        .execute(&mut conn)
        .unwrap();
    let job = wasit::jobs::Job::DeliverWebhook {
        provider_id: provider.parse().unwrap(),
        message_id: "msg_ssrf".into(),
        event_type: "booking.confirmed".into(),
        timestamp: chrono::Utc::now(),
        data: json!({ "reference": "WS-SSRF01" }),
    };
    wasit::jobs::queue::enqueue(&mut conn, &job, None, chrono::Utc::now()).unwrap();
    app.run_pending_jobs().await;

    let log: Value = app
        .get_authed(
            &format!("/v1/providers/{provider}/webhook-deliveries"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let attempt = &log["deliveries"][0];
    assert_eq!(attempt["status_code"], Value::Null, "{log}");
    assert!(
        attempt["error"].as_str().unwrap().contains("refused"),
        "{log}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn link_local_and_metadata_addresses_are_refused_even_where_private_ones_are_allowed() {
    // The test layer allows private addresses (its servers are on loopback).
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("meta");
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]:8080/fhir",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/",
    ] {
        let response = app
            .post_json_authed("/v1/providers", &admin, &hospital(&city, "Meta", url))
            .await;
        let problem = assert_problem(response, 422, "validation.failed").await;
        assert_eq!(
            problem_fields(&problem),
            ["adapter_settings.base_url"],
            "{url}"
        );
        assert!(!problem.to_string().contains(url), "{problem}");
    }
    let response = app
        .post_json_authed(
            "/v1/providers",
            &admin,
            &json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Hooked", "city": city, "adapter": "local",
                "webhook_url": "http://169.254.169.254/hooks" }),
        )
        .await;
    let problem = assert_problem(response, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["webhook_url"]);

    // Loopback is allowed here; a PATCH to a link-local address is not.
    let id = created_id(
        &app,
        &admin,
        &hospital(&city, "Meta", "http://127.0.0.1:9/fhir"),
    )
    .await;
    for (body, field) in [
        (
            json!({ "adapter_settings": hospital(&city, "Meta", "http://[fe80::1]/")["adapter_settings"] }),
            "adapter_settings.base_url",
        ),
        (
            json!({ "webhook_url": "http://169.254.170.2/v2/credentials" }),
            "webhook_url",
        ),
    ] {
        let response = app
            .client
            .patch(app.url(&format!("/v1/providers/{id}")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422, "validation.failed").await;
        assert_eq!(problem_fields(&problem), [field], "{body}");
    }

    // One stored before the rule is refused when called.
    store_base_url(&app, &id, "http://169.254.169.254/latest/meta-data");
    let (_, results) = search_text(&app, "hospital", &city).await;
    assert_eq!(status_of(&results, "Meta")["error"], "refused", "{results}");
}

#[tokio::test]
async fn private_addresses_are_refused_at_save_time_unless_allowed() {
    let app = spawn_app_with(|s| s.outbound.allow_private = false).await;
    let admin = app.admin_token().await;
    let city = unique_city("priv");
    for url in [
        "http://127.0.0.1:8080/fhir",
        "http://localhost/fhir",
        "http://2130706433/fhir",
        "http://10.0.0.7/fhir",
        "http://172.16.0.1/fhir",
        "http://192.168.1.20/fhir",
        "http://[::1]/fhir",
        "http://[fc00::1]/fhir",
        "http://224.0.0.1/fhir",
        "http://0.0.0.0/fhir",
    ] {
        let response = app
            .post_json_authed("/v1/providers", &admin, &hospital(&city, "Private", url))
            .await;
        let problem = assert_problem(response, 422, "validation.failed").await;
        assert_eq!(
            problem_fields(&problem),
            ["adapter_settings.base_url"],
            "{url}"
        );
        let response = app
            .post_json_authed(
                "/v1/providers",
                &admin,
                &json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Hooked", "city": city,
                    "adapter": "local", "webhook_url": url }),
            )
            .await;
        let problem = assert_problem(response, 422, "validation.failed").await;
        assert_eq!(problem_fields(&problem), ["webhook_url"], "{url}");
    }
    created_id(
        &app,
        &admin,
        &hospital(&city, "Public", "https://fhir.hospital.example/R4"),
    )
    .await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (target, seen) = recording_server().await;
    let redirect = canned_server(format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    ))
    .await;
    let city = unique_city("redir");
    let base = format!("http://127.0.0.1:{redirect}");
    app.post_ok(
        "/v1/providers",
        &admin,
        &hospital(&city, "Redirecting", &format!("{base}/fhir/R4")),
        201,
    )
    .await;
    app.post_ok(
        "/v1/providers",
        &admin,
        &hotel(&city, "Redirecting", &base),
        201,
    )
    .await;
    for kind in ["hospital", "hotel"] {
        let (_, results) = search_text(&app, kind, &city).await;
        let status = status_of(&results, "Redirecting");
        assert_eq!(status["status"], "error", "{kind}: {status}");
        assert_eq!(status["error"], "invalid_response", "{kind}: {status}");
    }
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

/// A CalDAV answer with no events (every room free), padded with `padding` bytes of
/// whitespace; with or without its length announced.
async fn multistatus_server(padding: usize, announce_length: bool) -> u16 {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:multistatus xmlns:D=\"DAV:\"></D:multistatus>{}",
        " ".repeat(padding)
    );
    let length = if announce_length {
        format!("content-length: {}\r\n", body.len())
    } else {
        String::new()
    };
    canned_server(format!(
        "HTTP/1.1 207 Multi-Status\r\ncontent-type: application/xml\r\n{length}connection: close\r\n\r\n{body}"
    ))
    .await
}

#[tokio::test]
async fn an_answer_over_the_body_cap_fails_the_provider() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("big");
    let over = 6 << 20; // outbound.max_body_bytes is 5 MiB
    for (name, port) in [
        ("Small", multistatus_server(1000, true).await),
        ("Big Announced", multistatus_server(over, true).await),
        ("Big Streamed", multistatus_server(over, false).await),
    ] {
        app.post_ok(
            "/v1/providers",
            &admin,
            &hotel(&city, name, &format!("http://127.0.0.1:{port}")),
            201,
        )
        .await;
    }
    let (_, results) = search_text(&app, "hotel", &city).await;
    assert_eq!(status_of(&results, "Small")["status"], "ok", "{results}");
    for name in ["Big Announced", "Big Streamed"] {
        let status = status_of(&results, name);
        assert_eq!(status["status"], "error", "{status}");
        assert_eq!(status["error"], "invalid_response", "{status}");
    }
}

#[tokio::test]
async fn the_public_search_shows_a_reason_never_a_url_or_what_the_provider_sent() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("leak");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    app.post_ok(
        "/v1/providers",
        &admin,
        &hospital(&city, "Down", &format!("http://127.0.0.1:{closed}/fhir/R4")),
        201,
    )
    .await;
    let body = "Unauthorized: realm internal-dav-7, user hotel-admin";
    let refusing = canned_server(format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    app.post_ok(
        "/v1/providers",
        &admin,
        &hotel(&city, "Refusing", &format!("http://127.0.0.1:{refusing}")),
        201,
    )
    .await;

    let (text, results) = search_text(&app, "hospital", &city).await;
    assert_eq!(
        status_of(&results, "Down")["error"],
        "unavailable",
        "{text}"
    );
    let (hotel_text, hotels) = search_text(&app, "hotel", &city).await;
    assert_eq!(
        status_of(&hotels, "Refusing")["error"],
        "rejected",
        "{hotel_text}"
    );
    for text in [text, hotel_text] {
        for leak in ["http", "127.0.0.1", "internal-dav-7", "hotel-admin"] {
            assert!(!text.contains(leak), "`{leak}` in {text}");
        }
    }
}

#[tokio::test]
async fn credentials_in_a_base_url_are_redacted_in_every_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("cred");
    let answers = [
        app.post_ok(
            "/v1/providers",
            &admin,
            &hotel(
                &city,
                "Creds",
                "https://hotel:s3cret-pass@dav.hotel.example/",
            ),
            201,
        )
        .await,
        app.post_ok(
            "/v1/providers",
            &admin,
            &hospital(
                &city,
                "Token",
                "https://api-token-77@fhir.hospital.example/R4",
            ),
            201,
        )
        .await,
    ];
    let hotel_id = answers[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        answers[0]["adapter_settings"]["base_url"],
        "https://[REDACTED]@dav.hotel.example/"
    );
    let mut texts: Vec<String> = answers.iter().map(Value::to_string).collect();
    for path in [format!("/v1/providers/{hotel_id}"), "/v1/providers".into()] {
        texts.push(app.get_authed(&path, &admin).await.text().await.unwrap());
    }
    texts.push(
        app.patch_ok(
            &format!("/v1/providers/{hotel_id}"),
            &admin,
            &json!({ "name_en": "Creds Renamed" }),
        )
        .await
        .to_string(),
    );
    for text in texts {
        assert!(
            !text.contains("s3cret-pass") && !text.contains("api-token-77"),
            "{text}"
        );
    }
}
