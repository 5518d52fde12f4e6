//! Texts as a channel (#16 point 5). No real SMS gateway can run here, so the HTTP gateway
//! is pointed at a recording stand-in of ours (tests/peers/sms/recorder.py): it logs each
//! send's form fields, answers as Unifonic does, and signs receipts and STOP replies back
//! with the reference Standard Webhooks library, as the gateway's callbacks would be.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;
use wasit::config::SmsBackend;
use wasit::schema::sms_messages;

use crate::helpers::{
    PASSWORD, PROBLEM_JSON, Spawned, TestApp, assert_problem, free_port, held, problem_fields,
    spawn_app_with, token, unique_city,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const APP_SID: &str = "app-sid-for-tests";

struct Recorder {
    _process: Spawned,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Recorder {
    /// Starts the stand-in on `port`, calling back to `app`.
    fn start(port: u16, app: &TestApp, mode: &str) -> Self {
        let python = std::env::var("WASIT_TEST_PYTHON").unwrap_or_else(|_| {
            panic!("run scripts/test: it installs the Standard Webhooks library and exports WASIT_TEST_PYTHON")
        });
        let log =
            std::env::temp_dir().join(format!("wasit-sms-{}.jsonl", uuid::Uuid::new_v4().simple()));
        let script = crate::helpers::manifest_dir().join("tests/peers/sms/recorder.py");
        let child = Command::new(python)
            .args([
                script.to_str().unwrap(),
                &port.to_string(),
                log.to_str().unwrap(),
                &app.address,
                SECRET,
                mode,
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the recorder did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            _process: Spawned(child),
            port,
            log,
        }
    }

    /// The sends it received, in order (form fields).
    fn sent(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Has the stand-in sign `payload` and post it to our `path` (`receipt`, `reply`);
    /// returns Wasit's status and body.
    async fn call_back(&self, path: &str, payload: &Value) -> (u16, Value) {
        let answer: Value = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/control/{path}", self.port))
            .json(payload)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            answer["status"].as_u64().unwrap() as u16,
            answer["body"].clone(),
        )
    }
}

/// An app whose texts go to a recorder in `mode` (`ok`, `refuse`), and the recorder.
async fn app_with_recorder(mode: &str) -> (TestApp, Recorder) {
    let port = free_port();
    let app = spawn_app_with(|settings| {
        settings.sms.backend = SmsBackend::Http;
        settings.sms.api_url = format!("http://127.0.0.1:{port}/rest/SMS/messages");
        settings.sms.app_sid = Some(APP_SID.into());
        settings.sms.receipt_secret = Some(SECRET.into());
    })
    .await;
    let recorder = Recorder::start(port, &app, mode);
    (app, recorder)
}

/// A verified web customer (`locale`) who opted in to texts at +966501234567.
async fn opted_in_customer(app: &TestApp, email: &str, locale: &str) -> String {
    let response = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": email, "password": PASSWORD, "full_name": "Sara Al-Harbi", "locale": locale }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    app.mark_verified(session["user"]["id"].as_str().unwrap());
    let customer = token(&session);
    let consent = app
        .patch_ok(
            "/v1/me/sms",
            &customer,
            &json!({ "opted_in": true, "phone": "050 123 4567" }),
        )
        .await;
    assert_eq!(consent["opted_in"], true, "{consent}");
    assert_eq!(consent["phone"], "+966501234567");
    assert_eq!(consent["source"], "profile");
    customer
}

/// A held booking of `customer` at a new local hotel, confirmed by an agent.
async fn confirmed_booking(app: &TestApp, customer: &str) -> Value {
    let admin = app.admin_token().await;
    let city = unique_city("sms");
    app.local_hotel(&admin, &city, "Corniche", 2, "450.00", 30)
        .await;
    let booking = held(app, customer, &city, 3).await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let id = booking["id"].as_str().unwrap();
    app.confirm_paid_at_office(&agent, id).await;
    booking
}

#[derive(Debug, Queryable)]
struct Row {
    id: uuid::Uuid,
    to_phone: String,
    body: String,
    purpose: String,
    encoding: String,
    segments: i32,
    status: String,
    provider_message_id: Option<String>,
    error: Option<String>,
}

fn messages(app: &TestApp) -> Vec<Row> {
    sms_messages::table
        .order(sms_messages::created_at)
        .select((
            sms_messages::id,
            sms_messages::to_phone,
            sms_messages::body,
            sms_messages::purpose,
            sms_messages::encoding,
            sms_messages::segments,
            sms_messages::status,
            sms_messages::provider_message_id,
            sms_messages::error,
        ))
        .load(&mut app.db.connect())
        .unwrap()
}

#[tokio::test]
async fn a_confirmation_is_texted_with_its_segments_and_its_receipt_is_applied_once() {
    let (app, recorder) = app_with_recorder("ok").await;
    let customer = opted_in_customer(&app, "texted@example.com", "ar").await;
    let booking = confirmed_booking(&app, &customer).await;
    app.run_pending_jobs().await;

    let sent = recorder.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let reference = booking["reference"].as_str().unwrap();
    let body = sent[0]["Body"].as_str().unwrap();
    assert!(
        body.contains(&format!("\u{2066}{reference}\u{2069}")),
        "{body}"
    );
    assert!(body.contains("فندق Corniche"), "{body}");
    assert_eq!(sent[0]["AppSid"], APP_SID);
    assert_eq!(sent[0]["SenderID"], "Wasit");
    assert_eq!(sent[0]["Recipient"], "966501234567");
    assert_eq!(sent[0]["content-type"], "application/x-www-form-urlencoded");
    let rows = messages(&app);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(sent[0]["CorrelationID"], row.id.to_string());
    assert_eq!(row.body, body);
    assert_eq!(
        (row.to_phone.as_str(), row.purpose.as_str()),
        ("+966501234567", "booking_confirmed")
    );
    assert_eq!(
        (row.status.as_str(), row.provider_message_id.as_deref()),
        ("sent", Some("uf-1"))
    );
    // Arabic goes as UCS-2: more than 70 UTF-16 units is two parts of 67.
    let units = body.encode_utf16().count();
    assert!((71..=134).contains(&units), "{units} units: {body}");
    assert_eq!((row.encoding.as_str(), row.segments), ("ucs2", 2));

    let (status, applied) = recorder
        .call_back(
            "receipt",
            &json!({ "message_id": "uf-1", "status": "delivered" }),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(
        (applied["status"].as_str(), applied["changed"].as_bool()),
        (Some("delivered"), Some(true))
    );
    // The same receipt again, and a late contrary one, change nothing.
    let (status, again) = recorder
        .call_back(
            "receipt",
            &json!({ "message_id": "uf-1", "status": "delivered" }),
        )
        .await;
    assert_eq!((status, again["changed"].as_bool()), (200, Some(false)));
    let (status, late) = recorder
        .call_back(
            "receipt",
            &json!({ "correlation_id": row.id, "status": "undelivered" }),
        )
        .await;
    assert_eq!((status, late["status"].as_str()), (200, Some("delivered")));
    assert_eq!(messages(&app)[0].status, "delivered");
    let (status, unknown) = recorder
        .call_back(
            "receipt",
            &json!({ "message_id": "uf-404", "status": "delivered" }),
        )
        .await;
    assert_eq!(
        (status, unknown["code"].as_str()),
        (404, Some("resource.not_found"))
    );

    // The send job run again (a lost lease, an admin's retry) sends nothing twice.
    let job = wasit::jobs::Job::SendSms { message_id: row.id };
    wasit::jobs::queue::run_again_now(&mut app.db.connect(), &format!("sms:{}", row.id), &job)
        .unwrap();
    assert_eq!(app.run_pending_jobs().await, 1);
    assert_eq!(recorder.sent().len(), 1);
}

/// Posts `body` to our receipts route with the given Standard Webhooks headers.
async fn post_receipt(app: &TestApp, headers: &[(&str, String)], body: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/v1/sms/receipts"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn unsigned_stale_or_forged_callbacks_are_refused_with_the_header_at_fault() {
    let (app, _recorder) = app_with_recorder("ok").await;
    let body = r#"{"message_id":"uf-1","status":"delivered"}"#;
    let now = chrono::Utc::now().timestamp();
    let signed = |secret: &str, at: i64| {
        let key = wasit::notify::webhooks::signing_key(secret).unwrap();
        vec![
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", at.to_string()),
            (
                "webhook-signature",
                wasit::notify::webhooks::sign(&key, "msg_1", at, body.as_bytes()),
            ),
        ]
    };
    let cases = [
        (Vec::new(), "webhook-id"),
        (signed(SECRET, now - 301), "webhook-timestamp"),
        (
            signed("whsec_c29tZW9uZSBlbHNlJ3Mga2V5", now),
            "webhook-signature",
        ),
    ];
    for (headers, field) in cases {
        let response = post_receipt(&app, &headers, body).await;
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            PROBLEM_JSON
        );
        let problem = assert_problem(response, 401, "signature.invalid").await;
        assert_eq!(problem_fields(&problem), [field], "{problem}");
    }
    // Signed, but not a receipt: the body's fault, named.
    let bad = r#"{"message_id":"uf-1","status":"read"}"#;
    let key = wasit::notify::webhooks::signing_key(SECRET).unwrap();
    let headers = [
        ("webhook-id", "msg_2".to_owned()),
        ("webhook-timestamp", now.to_string()),
        (
            "webhook-signature",
            wasit::notify::webhooks::sign(&key, "msg_2", now, bad.as_bytes()),
        ),
    ];
    let problem = assert_problem(
        post_receipt(&app, &headers, bad).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["status"], "{problem}");
}

#[tokio::test]
async fn a_stop_reply_opts_the_number_out_and_its_texts_are_skipped() {
    let (app, recorder) = app_with_recorder("ok").await;
    let customer = opted_in_customer(&app, "stopped@example.com", "en").await;
    let (status, ignored) = recorder
        .call_back(
            "reply",
            &json!({ "from": "+966501234567", "body": "thanks" }),
        )
        .await;
    assert_eq!((status, ignored["opted_out"].as_u64()), (200, Some(0)));
    let (status, stopped) = recorder
        .call_back("reply", &json!({ "from": "0501234567", "body": " إيقاف " }))
        .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(
        (stopped["stop"].as_bool(), stopped["opted_out"].as_u64()),
        (Some(true), Some(1))
    );
    let consent: Value = app
        .client
        .get(app.url("/v1/me/sms"))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (consent["opted_in"].as_bool(), consent["source"].as_str()),
        (Some(false), Some("inbound_reply"))
    );

    confirmed_booking(&app, &customer).await;
    app.run_pending_jobs().await;
    assert!(recorder.sent().is_empty(), "{:?}", recorder.sent());
    let rows = messages(&app);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].status.as_str(),
            rows[0].provider_message_id.as_deref()
        ),
        ("skipped_opted_out", None)
    );
}

#[tokio::test]
async fn a_customer_who_never_opted_in_is_not_texted_and_a_refusal_is_final() {
    let (app, recorder) = app_with_recorder("refuse").await;
    // Never asked: a phone is not consent.
    let response = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": "quiet@example.com", "password": PASSWORD, "full_name": "Sara Al-Harbi", "phone": "+966501112222" }),
        )
        .await;
    let session: Value = response.json().await.unwrap();
    app.mark_verified(session["user"]["id"].as_str().unwrap());
    confirmed_booking(&app, &token(&session)).await;
    app.run_pending_jobs().await;
    assert!(recorder.sent().is_empty());
    assert_eq!(messages(&app)[0].status, "skipped_no_consent");

    // Opted in, but the gateway refuses the message: failed at once, not retried.
    let customer = opted_in_customer(&app, "refused@example.com", "en").await;
    confirmed_booking(&app, &customer).await;
    app.run_pending_jobs().await;
    assert_eq!(recorder.sent().len(), 1);
    let refused = messages(&app)
        .into_iter()
        .find(|m| m.to_phone == "+966501234567")
        .unwrap();
    assert_eq!(refused.status, "failed");
    assert!(
        refused.error.as_deref().unwrap().contains("ER-07"),
        "{:?}",
        refused.error
    );
    let dead: i64 = wasit::schema::jobs::table
        .filter(wasit::schema::jobs::state.eq("dead"))
        .count()
        .get_result(&mut app.db.connect())
        .unwrap();
    assert_eq!(dead, 0);
}

#[tokio::test]
async fn the_file_gateway_writes_one_file_per_message() {
    let dir = std::env::temp_dir().join(format!("wasit-sms-{}", uuid::Uuid::new_v4().simple()));
    let file_dir = dir.to_str().unwrap().to_owned();
    let app = spawn_app_with(|settings| {
        settings.sms.backend = SmsBackend::File;
        settings.sms.file_dir = file_dir;
    })
    .await;
    let customer = opted_in_customer(&app, "filed@example.com", "en").await;
    let booking = confirmed_booking(&app, &customer).await;
    app.run_pending_jobs().await;
    let rows = messages(&app);
    assert_eq!(rows.len(), 1);
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{}.json", rows[0].id))).unwrap(),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(written["to"], "+966501234567");
    let body = written["body"].as_str().unwrap();
    assert!(
        body.starts_with("Wasit: booking ")
            && body.contains(booking["reference"].as_str().unwrap()),
        "{body}"
    );
    // English stays in GSM-7: one part of at most 160.
    assert!(body.chars().count() <= 160, "{body}");
    assert_eq!(
        (written["encoding"].as_str(), written["segments"].as_u64()),
        (Some("gsm7"), Some(1))
    );
    assert_eq!(
        (
            rows[0].encoding.as_str(),
            rows[0].segments,
            rows[0].status.as_str()
        ),
        ("gsm7", 1, "sent")
    );
    // Without a receipt secret the callbacks do not exist.
    assert_problem(
        app.post_json("/v1/sms/receipts", &json!({})).await,
        404,
        "resource.not_found",
    )
    .await;
}

#[tokio::test]
async fn consent_needs_a_phone_and_an_agent_can_record_it_for_a_client() {
    let app = spawn_app_with(|_| {}).await;
    let customer = token(&app.register("nophone@example.com").await);
    let response = app
        .client
        .patch(app.url("/v1/me/sms"))
        .bearer_auth(&customer)
        .json(&json!({ "opted_in": true }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["phone"]);
    let response = app
        .client
        .patch(app.url("/v1/me/sms"))
        .bearer_auth(&customer)
        .json(&json!({ "opted_in": true, "phone": "12345" }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["phone"]);

    let agent = token(&app.user_with_role(Role::Agent).await);
    let client = app
        .post_ok(
            "/v1/customers",
            &agent,
            &json!({ "full_name": "Omar Al-Qahtani", "phone": "0559876543" }),
            201,
        )
        .await;
    let id = client["id"].as_str().unwrap();
    let consent = app
        .patch_ok(
            &format!("/v1/customers/{id}/sms"),
            &agent,
            &json!({ "opted_in": true }),
        )
        .await;
    assert_eq!(
        (consent["opted_in"].as_bool(), consent["source"].as_str()),
        (Some(true), Some("agent"))
    );
    // A customer may not record another's consent.
    let response = app
        .client
        .patch(app.url(&format!("/v1/customers/{id}/sms")))
        .bearer_auth(&customer)
        .json(&json!({ "opted_in": false }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "auth.forbidden").await;
}

#[tokio::test]
async fn an_outage_is_retried_then_dead_lettered_and_an_opt_out_stops_a_queued_text() {
    let (app, recorder) = app_with_recorder("down").await;
    let customer = opted_in_customer(&app, "late@example.com", "en").await;
    let customer_id: uuid::Uuid = wasit::schema::customers::table
        .filter(wasit::schema::customers::email.eq("late@example.com"))
        .select(wasit::schema::customers::id)
        .first(&mut app.db.connect())
        .unwrap();
    let queue = |key: &str| {
        let new = wasit::notify::sms::outbox::NewSms {
            customer_id,
            to: "+966501234567",
            body: "Wasit: your payment link",
            purpose: "payment_link",
            dedup_key: key,
        };
        wasit::notify::sms::outbox::queue(&mut app.db.connect(), &new).unwrap()
    };
    let first = queue("payment_link:1").expect("queued");
    assert_eq!(queue("payment_link:1"), None, "one text per dedup key");
    let job_of = |id: uuid::Uuid| -> (i64, String, Option<String>) {
        wasit::schema::jobs::table
            .filter(wasit::schema::jobs::dedup_key.eq(format!("sms:{id}")))
            .select((
                wasit::schema::jobs::id,
                wasit::schema::jobs::state,
                wasit::schema::jobs::last_error,
            ))
            .first(&mut app.db.connect())
            .unwrap()
    };

    // The gateway is down: the send is retried later, the text still queued.
    app.run_pending_jobs().await;
    assert_eq!(recorder.sent().len(), 1);
    let (job_id, state, error) = job_of(first);
    assert_eq!(state, "queued");
    assert!(error.as_deref().unwrap().contains("503"), "{error:?}");
    assert_eq!(messages(&app)[0].status, "queued");

    // Its last attempt fails too: the text is failed and the job dead, for a person.
    diesel::sql_query(format!(
        "UPDATE jobs SET attempts = max_attempts - 1, run_at = now() WHERE id = {job_id}"
    ))
    .execute(&mut app.db.connect())
    .unwrap();
    app.run_pending_jobs().await;
    assert_eq!(job_of(first).1, "dead");
    let failed = &messages(&app)[0];
    assert_eq!(failed.status, "failed");
    assert!(
        failed.error.as_deref().unwrap().contains("503"),
        "{:?}",
        failed.error
    );

    // The gateway is back and an admin retries the dead job: the text goes, once.
    let port = recorder.port;
    drop(recorder);
    let recorder = Recorder::start(port, &app, "ok");
    let admin = app.admin_token().await;
    app.post_ok(
        &format!("/v1/admin/jobs/{job_id}/retry"),
        &admin,
        &json!({}),
        200,
    )
    .await;
    app.run_pending_jobs().await;
    assert_eq!(recorder.sent().len(), 1);
    assert_eq!(recorder.sent()[0]["CorrelationID"], first.to_string());
    let sent = &messages(&app)[0];
    assert_eq!(
        (sent.status.as_str(), sent.provider_message_id.as_deref()),
        ("sent", Some("uf-1"))
    );

    // Queued while opted in, opted out before it went: never sent.
    let second = queue("payment_link:2").expect("queued");
    app.patch_ok("/v1/me/sms", &customer, &json!({ "opted_in": false }))
        .await;
    app.run_pending_jobs().await;
    assert_eq!(recorder.sent().len(), 1);
    let skipped = messages(&app).into_iter().find(|m| m.id == second).unwrap();
    assert_eq!(skipped.status, "skipped_opted_out");
}
