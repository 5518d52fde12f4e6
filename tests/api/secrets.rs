//! Issue #14, point 10: stored secrets. The idempotency store keeps a keyed fingerprint of
//! each request and answers without card digits, 3-D Secure links, webhook secrets or
//! tokens (and replays them whole); a credential sent back as `[REDACTED]` keeps the stored
//! one; a failed login logs a hash of the email field, never its text.

use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, assert_problem, held, problem_fields, spawn_app, token};
use crate::payments::{CARD_3DS, hotel};

/// The request fingerprint as it was before: SHA-256 of the length-prefixed method, path and
/// query, then the body. Anyone reading the table could try card numbers against it.
fn plain_fingerprint(path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in ["POST", path, ""] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update(body);
    hasher.finalize().to_vec()
}

#[tokio::test]
async fn the_idempotency_store_keeps_no_card_digits_secrets_or_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let session = app.register("vault@example.com").await;
    let customer = token(&session);
    let booking = held(&app, &customer, &city, 10).await;

    let send = |path: String, bearer: String, key: &'static str, body: Value| {
        let request = app
            .client
            .post(app.url(&path))
            .bearer_auth(bearer)
            .header("idempotency-key", key)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let pay_path = format!("/v1/bookings/{}/pay", booking["id"].as_str().unwrap());
    let exp_year = chrono::Datelike::year(&chrono::Utc::now()) + 4;
    let card = json!({ "card": { "number": CARD_3DS, "exp_month": 12, "exp_year": exp_year, "cvc": "737" } });
    let pay = || send(pay_path.clone(), customer.clone(), "pay-3ds", card.clone());
    let first = pay().await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let action = first["payment"]["action_url"].as_str().unwrap().to_owned();

    // Tokens handed out under a key: never kept, so a retry signs in again.
    let login = json!({ "email": "vault@example.com", "password": PASSWORD });
    let signed_in = send("/v1/auth/login".into(), customer.clone(), "login-1", login).await;
    let cache_control = signed_in.headers().get("cache-control").cloned();
    let signed_in: Value = signed_in.json().await.unwrap();

    let provider = json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Vault", "city": city, "adapter": "local" });
    let create = || {
        send(
            "/v1/providers".into(),
            admin.clone(),
            "provider-1",
            provider.clone(),
        )
    };
    let created: Value = create().await.json().await.unwrap();
    let webhook_secret = created["webhook_secret"].as_str().unwrap().to_owned();

    let rows: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = {
        use wasit::schema::idempotency_keys::dsl as k;
        k::idempotency_keys
            .select((k::key, k::request_hash, k::response_body))
            .load(&mut app.db.connect())
            .unwrap()
    };
    let kept: String = rows
        .iter()
        .filter_map(|(_, _, body)| body.as_deref())
        .map(String::from_utf8_lossy)
        .collect();
    for (what, secret) in [
        ("card number", CARD_3DS),
        ("3-D Secure link", action.as_str()),
        ("webhook secret", webhook_secret.as_str()),
        ("customer's access token", customer.as_str()),
        ("admin's access token", admin.as_str()),
        ("access token", signed_in["access_token"].as_str().unwrap()),
        (
            "refresh token",
            signed_in["refresh_token"].as_str().unwrap(),
        ),
        ("refresh token", session["refresh_token"].as_str().unwrap()),
    ] {
        assert!(!kept.contains(secret), "the store keeps a {what}: {kept}");
    }
    let keys: Vec<&str> = rows.iter().map(|(key, _, _)| key.as_str()).collect();
    assert!(!keys.contains(&"login-1"), "{keys:?}");
    assert_eq!(cache_control.unwrap(), "no-store");
    let (_, pay_fingerprint, _) = rows.iter().find(|(key, _, _)| key == "pay-3ds").unwrap();
    let body = serde_json::to_vec(&card).unwrap();
    assert_ne!(pay_fingerprint, &plain_fingerprint(&pay_path, &body));
    assert_ne!(pay_fingerprint, &Sha256::digest(&body).to_vec());

    // Replays are whole: the secrets are read back from where they live.
    let again = pay().await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["payment"]["action_url"], action.as_str());
    let replayed = create().await;
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed["webhook_secret"], webhook_secret.as_str());
    assert_eq!(replayed["id"], created["id"]);

    // A password change answers the new session: not kept either (it ends the others).
    let change = json!({ "current_password": PASSWORD, "new_password": "another horse battery" });
    let changed = send(
        "/v1/me/password".into(),
        customer.clone(),
        "password-1",
        change,
    )
    .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.headers()["cache-control"], "no-store");
    let kept: i64 = {
        use wasit::schema::idempotency_keys::dsl as k;
        k::idempotency_keys
            .filter(k::key.eq("password-1"))
            .count()
            .get_result(&mut app.db.connect())
            .unwrap()
    };
    assert_eq!(kept, 0);
}

/// The stored credential of a provider's adapter settings.
fn stored_setting(app: &crate::helpers::TestApp, provider: &str, key: &str) -> Value {
    use wasit::schema::providers::dsl as p;
    let settings: Value = p::providers
        .find(provider.parse::<uuid::Uuid>().unwrap())
        .select(p::adapter_settings)
        .first(&mut app.db.connect())
        .unwrap();
    settings[key].clone()
}

#[tokio::test]
async fn a_credential_sent_back_as_get_shows_it_keeps_the_stored_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = crate::helpers::unique_city("redacted");
    let room = json!({ "code": "std", "calendar_path": "/hotel/std/", "name_ar": "غرفة", "name_en": "Standard", "rooms": 2, "max_guests": 2, "nightly_price": "300.00" });
    let hotel = json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Dav", "city": city, "adapter": "caldav",
        "adapter_settings": { "base_url": "http://127.0.0.1:9", "username": "desk", "password": "s3cret-pass", "room_types": [room] } });
    let hospital = json!({ "kind": "hospital", "name_ar": "مستشفى", "name_en": "Fhir", "city": city, "adapter": "fhir",
        "adapter_settings": { "base_url": "http://svc:pw-in-url@127.0.0.1:9/fhir", "bearer_token": "tok-123", "schedules": [{ "schedule_id": "s1", "price": "200.00" }] } });

    for (body, key, secret) in [
        (hotel, "password", "s3cret-pass"),
        (hospital, "bearer_token", "tok-123"),
    ] {
        let created = app.post_ok("/v1/providers", &admin, &body, 201).await;
        let id = created["id"].as_str().unwrap();
        let shown: Value = app
            .get_authed(&format!("/v1/providers/{id}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown["adapter_settings"][key], "[REDACTED]");

        // An admin renames the provider, sending the settings back as they were shown.
        let patched = app
            .patch_ok(
                &format!("/v1/providers/{id}"),
                &admin,
                &json!({ "name_en": "Renamed", "adapter_settings": shown["adapter_settings"] }),
            )
            .await;
        assert_eq!(patched["adapter_settings"], shown["adapter_settings"]);
        assert_eq!(stored_setting(&app, id, key), secret, "{key}");
        assert_eq!(
            stored_setting(&app, id, "base_url"),
            body["adapter_settings"]["base_url"],
            "a base URL shown with [REDACTED]@ keeps its credentials"
        );

        // The marker with nothing behind it is not a credential.
        let mut fresh = body.clone();
        fresh["adapter_settings"][key] = json!("[REDACTED]");
        let problem = assert_problem(
            app.post_json_authed("/v1/providers", &admin, &fresh).await,
            422,
            "validation.failed",
        )
        .await;
        assert_eq!(
            problem_fields(&problem),
            [format!("adapter_settings.{key}")]
        );
    }
}

/// What the app logs, captured in this test's process (nextest runs each test in its own).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_login_logs_a_hash_of_the_email_field_never_its_text() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .try_init()
        .expect("this test's process logs to the capture");
    let app = spawn_app().await;
    app.register("sara.typist@example.com").await;

    // A wrong password, and a password typed into the email box.
    for typed in ["Sara.Typist@example.com", "Tr0ub4dor&3-in-the-wrong-box"] {
        assert_problem(
            app.login(typed, "not the password").await,
            401,
            "auth.invalid_credentials",
        )
        .await;
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for text in ["sara.typist", "Sara.Typist", "Tr0ub4dor"] {
        assert!(!logs.contains(text), "the log echoes {text:?}: {logs}");
    }
    let hasher = wasit::auth::log_hash::LogHasher::new(
        app.settings.auth.jwt_secret.expose_secret().as_bytes(),
    );
    let failures: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("failed login"))
        .collect();
    assert_eq!(failures.len(), 2, "{logs}");
    for (line, typed) in failures
        .iter()
        .zip(["sara.typist@example.com", "Tr0ub4dor&3-in-the-wrong-box"])
    {
        assert!(
            line.contains(&format!("email_hash={}", hasher.email(typed))),
            "{line}"
        );
    }
}
