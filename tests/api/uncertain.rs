//! Uncertain outcomes at outside providers (#15, point 3): the app talks to the real FHIR
//! (Medplum) and CalDAV (Radicale) servers through a proxy that, when told, forwards a write,
//! lets the server do it, and drops the connection instead of answering. Fifty holds per
//! provider, each with its answer lost at a different step or not at all; once the jobs have
//! asked the provider, every booking is consistent with it: exactly one reservation per live
//! booking, none for a dead one. Then cancels whose answers are lost, retried by their job;
//! a change whose claim lost its answer; a provider silent to the last attempt (flagged);
//! and one that cannot be reached at all (nothing was sent: a plain 503).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use diesel::RunQueryDsl;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{TestApp, assert_problem, book, spawn_app_with, token, unique_city};
use crate::payments::{CARD_OK, pay};

const ROUNDS: usize = 50;
const BOOKING_SYSTEM: &str = "urn:wasit:booking";
/// Provider calls give up after this (and the reconcile job first asks this long after).
const PROVIDER_TIMEOUT_MS: u64 = 1500;

/// What the proxy does with a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    /// Forwarded and answered.
    Pass,
    /// Forwarded (the server does it), the answer thrown away with the connection.
    LoseAnswer,
    /// Never forwarded; the connection is dropped (the server knows nothing of it).
    Swallow,
    /// Never forwarded; answered 503 (a failing server that did nothing).
    Fail,
}

/// What the next writes meet, in order (then `Pass`); reads always pass.
#[derive(Clone, Default)]
struct DropPlan {
    next: Arc<Mutex<VecDeque<Write>>>,
    dropped: Arc<AtomicUsize>,
    /// Every request, read or write, is swallowed: the provider seems down mid-call.
    down: Arc<AtomicBool>,
}

impl DropPlan {
    fn set(&self, writes: &[Write]) {
        *self.next.lock().unwrap() = writes.iter().copied().collect();
    }

    fn take_turn(&self) -> Write {
        self.next.lock().unwrap().pop_front().unwrap_or(Write::Pass)
    }
}

/// A proxy to `origin` (scheme, host and port): every request is forwarded and answered,
/// except the write the plan names, whose answer is read from the server and thrown away
/// with the client's connection. One request per connection (`connection: close`).
async fn drop_proxy(origin: &str, plan: DropPlan) -> String {
    wasit::providers::adapter::install_crypto_provider();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let origin = origin.trim_end_matches('/').to_owned();
    let upstream = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (origin, upstream, plan) = (origin.clone(), upstream.clone(), plan.clone());
            tokio::spawn(async move { forward(socket, &origin, &upstream, &plan).await });
        }
    });
    format!("http://127.0.0.1:{port}")
}

async fn forward(mut socket: TcpStream, origin: &str, upstream: &reqwest::Client, plan: &DropPlan) {
    let Some((method, target, headers, body)) = read_request(&mut socket).await else {
        return;
    };
    let write = matches!(method.as_str(), "POST" | "PUT" | "DELETE" | "PATCH");
    let action = if plan.down.load(Ordering::SeqCst) {
        Write::Swallow
    } else if write {
        plan.take_turn()
    } else {
        Write::Pass
    };
    if action == Write::Swallow {
        plan.dropped.fetch_add(1, Ordering::SeqCst);
        return;
    }
    if action == Write::Fail {
        let _ = socket
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    }
    let mut request = upstream.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{origin}{target}"),
    );
    for (name, value) in headers {
        if !matches!(
            name.to_ascii_lowercase().as_str(),
            "host" | "connection" | "content-length" | "keep-alive" | "transfer-encoding"
        ) {
            request = request.header(name, value);
        }
    }
    let Ok(response) = request.body(body).send().await else {
        return;
    };
    let status = response.status();
    let answer_headers = response.headers().clone();
    let Ok(answer) = response.bytes().await else {
        return;
    };
    if action == Write::LoseAnswer {
        // The server has done it; the client never hears.
        plan.dropped.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &answer_headers {
        if !matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        answer.len()
    ));
    let _ = socket.write_all(head.as_bytes()).await;
    let _ = socket.write_all(&answer).await;
    let _ = socket.shutdown().await;
}

type Request = (String, String, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 request: method, target, headers and a `content-length` body.
async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 4096];
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 8192];
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Some((method, target, headers, body))
}

/// Scheme, host and port of a URL; and its path.
fn split_url(url: &str) -> (String, String) {
    let parsed = reqwest::Url::parse(url).unwrap();
    let origin = format!(
        "{}://{}:{}",
        parsed.scheme(),
        parsed.host_str().unwrap(),
        parsed.port_or_known_default().unwrap()
    );
    (origin, parsed.path().trim_end_matches('/').to_owned())
}

async fn spawn() -> TestApp {
    spawn_app_with(|s| {
        s.search.provider_timeout_ms = PROVIDER_TIMEOUT_MS;
    })
    .await
}

/// Lets the reconcile jobs' grace pass, then runs every job due.
async fn settle(app: &TestApp) {
    tokio::time::sleep(Duration::from_millis(PROVIDER_TIMEOUT_MS + 200)).await;
    app.run_pending_jobs().await;
}

/// Makes every queued job due now (a failed one waits for its backoff), then runs them.
async fn run_retries(app: &TestApp) {
    let mut conn = app.db.connect();
    diesel::sql_query("UPDATE jobs SET run_at = now() WHERE state = 'queued'")
        .execute(&mut conn)
        .unwrap();
    app.run_pending_jobs().await;
}

async fn booking(app: &TestApp, customer: &str, reference: &str) -> Value {
    let response = app
        .get_authed(&format!("/v1/bookings/{reference}"), customer)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn is_live(status: &str) -> bool {
    matches!(status, "held" | "pending" | "confirmed")
}

/// What the holds answered, per round: the reference and whether it came back 202.
async fn hold_rounds(
    app: &TestApp,
    customer: &str,
    plan: &DropPlan,
    plans: &[&[Write]],
    patient: Option<&Value>,
    mut offer_of: impl AsyncFnMut(usize) -> Value,
) -> Vec<(String, bool)> {
    let mut held = Vec::new();
    for round in 0..ROUNDS {
        let offer = offer_of(round).await;
        assert!(offer.is_object(), "round {round}: no offer");
        plan.set(plans[round % plans.len()]);
        let response = book(
            app,
            customer,
            &uuid::Uuid::new_v4().to_string(),
            &hold_body(&offer, patient),
        )
        .await;
        plan.set(&[]);
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert!(
            status == 201 || status == 202,
            "round {round}: {status} {body}"
        );
        if status == 202 {
            assert_eq!(body["provider_status"], "unconfirmed", "{body}");
            assert_eq!(body["next"]["action"], "await_provider", "{body}");
        } else {
            assert!(body.get("provider_status").is_none(), "{body}");
        }
        held.push((
            body["reference"].as_str().unwrap().to_owned(),
            status == 202,
        ));
    }
    held
}

/// What a hold sends: the offer, and the patient at a hospital.
fn hold_body(offer: &Value, patient: Option<&Value>) -> Value {
    let mut body = json!({ "offer_id": offer["offer_id"] });
    if let Some(patient) = patient {
        body["patient"] = patient.clone();
    }
    body
}

/// A visitor with a passport of their own (a hospital booking names its patient).
fn patient() -> Value {
    let passport = format!(
        "P{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase()
    );
    json!({ "full_name": "Omar Khan", "birth_date": "1979-11-02", "id_type": "passport",
        "id_number": passport, "passport_country": "pak" })
}

// --- FHIR ---------------------------------------------------------------------------------

struct Hospital {
    base: String,
    http: reqwest::Client,
}

impl Hospital {
    async fn create(&self, resource: Value) -> String {
        let kind = resource["resourceType"].as_str().unwrap().to_owned();
        let response = self
            .http
            .post(format!("{}/{kind}", self.base))
            .header("content-type", "application/fhir+json")
            .body(resource.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "POST {kind}");
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn slot(&self, schedule: &str, start: DateTime<Utc>) -> String {
        self.create(json!({
            "resourceType": "Slot", "schedule": {"reference": format!("Schedule/{schedule}")},
            "status": "free", "start": start.to_rfc3339(),
            "end": (start + chrono::Duration::minutes(30)).to_rfc3339(),
        }))
        .await
    }

    /// Appointments carrying the reference that are not cancelled.
    async fn booked(&self, reference: &str) -> usize {
        let bundle = self
            .get(&format!(
                "Appointment?identifier={BOOKING_SYSTEM}%7C{reference}&_count=50"
            ))
            .await;
        bundle["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["resource"]["status"] != "cancelled")
                    .count()
            })
            .unwrap_or(0)
    }

    /// Whether the Slot is busy for this booking.
    async fn slot_held_for(&self, slot: &str, reference: &str) -> bool {
        let slot = self.get(&format!("Slot/{slot}")).await;
        slot["status"] == "busy"
            && slot["identifier"].as_array().is_some_and(|ids| {
                ids.iter()
                    .any(|id| id["system"] == BOOKING_SYSTEM && id["value"] == reference)
            })
    }
}

fn riyadh(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Riyadh
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap()))
        .unwrap()
        .with_timezone(&Utc)
}

/// A hospital on Medplum with a cardiology Schedule: the server's URL, a client for it, and
/// the Schedule's id.
async fn cardiology() -> (String, Hospital, String) {
    let fhir = std::env::var("WASIT_TEST_FHIR_URL").expect("run scripts/test: it starts Medplum");
    wasit::providers::adapter::install_crypto_provider();
    let hospital = Hospital {
        base: fhir.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
    };
    let practitioner = hospital
        .create(json!({"resourceType": "Practitioner", "name": [{"given": ["Huda"], "family": "Saleh"}]}))
        .await;
    let schedule = hospital
        .create(json!({
            "resourceType": "Schedule", "active": true,
            "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394579002", "display": "Cardiology"}]}],
            "actor": [{"reference": format!("Practitioner/{practitioner}")}],
        }))
        .await;
    (fhir, hospital, schedule)
}

/// The app with the hospital reached through the proxy; the hospital's city.
async fn hospital_app(fhir: &str, schedule: &str, plan: &DropPlan) -> (TestApp, String) {
    let (origin, path) = split_url(fhir);
    let proxy = drop_proxy(&origin, plan.clone()).await;
    let app = spawn().await;
    let admin = app.admin_token().await;
    let city = unique_city("lost");
    app.post_ok(
        "/v1/providers",
        &admin,
        &json!({ "kind": "hospital", "name_ar": "مستشفى", "name_en": "Lost Answers Hospital", "city": city, "adapter": "fhir",
            "adapter_settings": { "base_url": format!("{proxy}{path}"), "schedules": [{ "schedule_id": schedule, "price": "200.00" }] } }),
        201,
    )
    .await;
    (app, city)
}

/// The offer of the slot starting at `start` on `day` (`Null` when none).
async fn slot_offer(app: &TestApp, city: &str, day: NaiveDate, start: DateTime<Utc>) -> Value {
    let results: Value = app
        .search(&format!(
            "kind=hospital&city={city}&specialty=cardiology&from={day}&to={day}"
        ))
        .await
        .json()
        .await
        .unwrap();
    results["offers"]
        .as_array()
        .and_then(|offers| {
            offers
                .iter()
                .find(|o| {
                    o["start"]
                        .as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .is_some_and(|s| s == start)
                })
                .cloned()
        })
        .unwrap_or(Value::Null)
}

/// Fifty holds at a hospital on Medplum, each with its answer lost at a different write (the
/// Slot's hold, the Patient, the Appointment's creation) or not at all; once the reconcile jobs have
/// asked, a live booking has exactly one booked Appointment and its Slot, a dead one none.
/// A hold still unconfirmed cannot be paid. Then cancels whose first write loses its answer:
/// the job's retry finishes them, and nothing is left at the hospital.
#[tokio::test]
async fn fhir_lost_answers_end_consistent_over_fifty_rounds() {
    let (fhir, hospital, schedule) = cardiology().await;
    // Five slots a day over ten days, so a day's search lists a few.
    let first_day = Utc::now().date_naive() + Days::new(3);
    let mut slots = Vec::new();
    for round in 0..ROUNDS {
        let day = first_day + Days::new((round / 5) as u64);
        let start = riyadh(day, 9 + (round % 5) as u32, 0);
        slots.push((day, hospital.slot(&schedule, start).await, start));
    }
    let plan = DropPlan::default();
    let (app, city) = hospital_app(&fhir, &schedule, &plan).await;
    let customer = token(&app.register("lost-fhir@example.com").await);

    // A booking writes the Slot's hold, the Patient (made unless the hospital has them),
    // then the Appointment: one of them loses its answer, or the Appointment never arrives.
    let plans: &[&[Write]] = &[
        &[],
        &[Write::LoseAnswer],
        &[Write::Pass, Write::LoseAnswer],
        &[Write::Pass, Write::Pass, Write::LoseAnswer],
        &[Write::Pass, Write::Pass, Write::Swallow],
    ];
    let patient = patient();
    let held = hold_rounds(
        &app,
        &customer,
        &plan,
        plans,
        Some(&patient),
        async |round: usize| {
            let (day, _, start) = &slots[round];
            slot_offer(&app, &city, *day, *start).await
        },
    )
    .await;
    assert!(
        plan.dropped.load(Ordering::SeqCst) > 0,
        "no answer was dropped"
    );

    // A customer never pays for a hold that may not exist.
    let (unconfirmed, _) = held.iter().find(|(_, lost)| *lost).expect("a lost answer");
    let pending = booking(&app, &customer, unconfirmed).await;
    assert_eq!(pending["provider_status"], "unconfirmed", "{pending}");
    assert_problem(
        pay(&app, &customer, &pending, CARD_OK).await,
        409,
        "booking.provider_unconfirmed",
    )
    .await;

    settle(&app).await;
    let (mut kept, mut ended) = (0, 0);
    for (round, (reference, lost)) in held.iter().enumerate() {
        let view = booking(&app, &customer, reference).await;
        let status = view["status"].as_str().unwrap();
        assert!(
            view.get("provider_status").is_none(),
            "round {round}: {view}"
        );
        let at_hospital = hospital.booked(reference).await;
        let slot_held = hospital.slot_held_for(&slots[round].1, reference).await;
        if is_live(status) {
            assert_eq!(at_hospital, 1, "round {round}: live {reference}");
            assert!(slot_held, "round {round}: the slot is the booking's");
            kept += usize::from(*lost);
        } else {
            assert_eq!(at_hospital, 0, "round {round}: dead {reference} ({status})");
            assert!(!slot_held, "round {round}: the slot is given back");
            assert!(*lost, "round {round}: only a lost answer ends a hold");
            ended += 1;
        }
    }
    assert!(kept > 0, "some lost answers had booked: they are kept");
    assert!(
        ended > 0,
        "some lost answers had only held the slot: those end"
    );

    // Cancels whose first write's answer is lost: the job tries again and finishes.
    let live: Vec<&String> = held.iter().map(|(r, _)| r).take(12).collect();
    let mut cancelled = Vec::new();
    for reference in live {
        let view = booking(&app, &customer, reference).await;
        if !is_live(view["status"].as_str().unwrap()) {
            continue;
        }
        let response = app
            .post_json_authed(
                &format!("/v1/bookings/{reference}/cancel"),
                &customer,
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), 200);
        cancelled.push(reference.clone());
    }
    assert!(cancelled.len() >= 3, "{cancelled:?}");
    check_cancels(
        &app,
        &customer,
        &plan,
        &cancelled,
        async |reference: &str| hospital.booked(reference).await,
    )
    .await;
    for (round, (reference, _)) in held.iter().enumerate() {
        if cancelled.contains(reference) {
            assert!(!hospital.slot_held_for(&slots[round].1, reference).await);
        }
    }
}

/// A change whose claim at the hospital loses its answer: the new Slot was marked busy for
/// the booking, but the change failed (503). The job that settles the failed change gives the
/// Slot back although it never learnt a handle for it; the booking keeps its Appointment.
#[tokio::test]
async fn fhir_a_change_whose_claim_lost_its_answer_gives_the_new_slot_back() {
    let (fhir, hospital, schedule) = cardiology().await;
    let day = Utc::now().date_naive() + Days::new(4);
    let (nine, eleven) = (riyadh(day, 9, 0), riyadh(day, 11, 0));
    let (first, second) = (
        hospital.slot(&schedule, nine).await,
        hospital.slot(&schedule, eleven).await,
    );
    let plan = DropPlan::default();
    let (app, city) = hospital_app(&fhir, &schedule, &plan).await;
    let customer = token(&app.register("lost-change@example.com").await);
    let offer = slot_offer(&app, &city, day, nine).await;
    let response = book(
        &app,
        &customer,
        "lost-change-hold",
        &hold_body(&offer, Some(&patient())),
    )
    .await;
    assert_eq!(response.status(), 201);
    let reference = response.json::<Value>().await.unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_owned();

    let offer = slot_offer(&app, &city, day, eleven).await;
    plan.set(&[Write::LoseAnswer]);
    let response = crate::payments::post_keyed(
        &app,
        &format!("/v1/bookings/{reference}/change"),
        &customer,
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    plan.set(&[]);
    assert_eq!(response.status(), 503, "{}", response.text().await.unwrap());
    assert_eq!(plan.dropped.load(Ordering::SeqCst), 1);
    assert!(
        hospital.slot_held_for(&second, &reference).await,
        "the claim landed although its answer was lost"
    );

    app.run_pending_jobs().await;
    assert!(
        !hospital.slot_held_for(&second, &reference).await,
        "the failed change's slot is given back"
    );
    assert!(hospital.slot_held_for(&first, &reference).await);
    assert_eq!(hospital.booked(&reference).await, 1);
    let view = booking(&app, &customer, &reference).await;
    assert_eq!(view["status"], "held");
    assert!(DateTime::parse_from_rfc3339(view["start"].as_str().unwrap()).unwrap() == nine);
}

/// A hold whose answer was lost while the provider then stays silent: the reconcile job
/// keeps asking, and after its last attempt the booking is flagged for an agent (still
/// unconfirmed, still not payable). Once the provider is back, the agent's retry of the dead
/// job settles it.
#[tokio::test]
async fn a_provider_that_never_answers_leaves_the_hold_flagged_until_a_retry_settles_it() {
    let (fhir, hospital, schedule) = cardiology().await;
    let day = Utc::now().date_naive() + Days::new(5);
    let nine = riyadh(day, 9, 0);
    let slot = hospital.slot(&schedule, nine).await;
    let plan = DropPlan::default();
    let (app, city) = hospital_app(&fhir, &schedule, &plan).await;
    let customer = token(&app.register("lost-silent@example.com").await);
    let offer = slot_offer(&app, &city, day, nine).await;
    // The Appointment's answer is lost (after the Slot's hold and the Patient).
    plan.set(&[Write::Pass, Write::Pass, Write::LoseAnswer]);
    let response = book(
        &app,
        &customer,
        "lost-silent",
        &hold_body(&offer, Some(&patient())),
    )
    .await;
    assert_eq!(response.status(), 202);
    let held: Value = response.json().await.unwrap();
    let reference = held["reference"].as_str().unwrap();

    plan.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(PROVIDER_TIMEOUT_MS + 200)).await;
    let mut conn = app.db.connect();
    diesel::sql_query(
        "UPDATE jobs SET attempts = max_attempts - 1, run_at = now() WHERE kind = 'reconcile_provider'",
    )
    .execute(&mut conn)
    .unwrap();
    app.run_pending_jobs().await;
    let view = booking(&app, &customer, reference).await;
    assert_eq!(view["provider_status"], "unconfirmed", "{view}");
    assert!(view["flagged_at"].is_string(), "{view}");
    assert_problem(
        pay(&app, &customer, &view, CARD_OK).await,
        409,
        "booking.provider_unconfirmed",
    )
    .await;

    plan.down.store(false, Ordering::SeqCst);
    let admin = app.admin_token().await;
    let dead: Value = app
        .get_authed("/v1/admin/jobs?state=dead", &admin)
        .await
        .json()
        .await
        .unwrap();
    let job = dead["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["kind"] == "reconcile_provider"))
        .unwrap_or_else(|| panic!("{dead}"))
        .clone();
    app.post_ok(
        &format!("/v1/admin/jobs/{}/retry", job["id"]),
        &admin,
        &json!({}),
        200,
    )
    .await;
    app.run_pending_jobs().await;
    let view = booking(&app, &customer, reference).await;
    assert!(view.get("provider_status").is_none(), "{view}");
    assert_eq!(view["status"], "held");
    assert_eq!(view["next"]["action"], "pay");
    assert_eq!(hospital.booked(reference).await, 1);
    assert!(hospital.slot_held_for(&slot, reference).await);
}

/// A provider that cannot be reached at all was sent nothing: the hold answers 503 as before
/// and nothing is recorded or queued (no booking, no uncertainty to settle).
#[tokio::test]
async fn a_provider_that_cannot_be_reached_is_a_503_and_records_nothing() {
    let (fhir, hospital, schedule) = cardiology().await;
    let day = Utc::now().date_naive() + Days::new(6);
    let nine = riyadh(day, 9, 0);
    hospital.slot(&schedule, nine).await;
    let plan = DropPlan::default();
    let (app, city) = hospital_app(&fhir, &schedule, &plan).await;
    let customer = token(&app.register("lost-closed@example.com").await);
    let offer = slot_offer(&app, &city, day, nine).await;
    let admin = app.admin_token().await;
    let provider = offer["provider"]["id"].as_str().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({ "adapter_settings": { "base_url": format!("http://127.0.0.1:{closed}/fhir/R4"), "schedules": [{ "schedule_id": schedule, "price": "200.00" }] } }),
    )
    .await;
    let response = book(
        &app,
        &customer,
        "lost-closed",
        &hold_body(&offer, Some(&patient())),
    )
    .await;
    assert_eq!(response.status(), 503, "{}", response.text().await.unwrap());
    let mut conn = app.db.connect();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    for table in ["bookings", "provider_uncertainties"] {
        let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(count.n, 0, "{table}");
    }
}

/// A hospital whose server fails (503) on the Appointment after the Slot was held for us:
/// the hold answers 503, nothing is recorded, and the Slot is given back at once (no booking
/// would ever release it).
#[tokio::test]
async fn a_provider_failing_partway_gets_its_first_steps_back() {
    let (fhir, hospital, schedule) = cardiology().await;
    let day = Utc::now().date_naive() + Days::new(7);
    let nine = riyadh(day, 9, 0);
    let slot = hospital.slot(&schedule, nine).await;
    let plan = DropPlan::default();
    let (app, city) = hospital_app(&fhir, &schedule, &plan).await;
    let customer = token(&app.register("lost-failing@example.com").await);
    let offer = slot_offer(&app, &city, day, nine).await;
    plan.set(&[Write::Pass, Write::Pass, Write::Fail]);
    let response = book(
        &app,
        &customer,
        "lost-failing",
        &hold_body(&offer, Some(&patient())),
    )
    .await;
    plan.set(&[]);
    assert_eq!(response.status(), 503, "{}", response.text().await.unwrap());
    let slot = hospital.get(&format!("Slot/{slot}")).await;
    assert_eq!(slot["status"], "free", "{slot}");
}

/// The cancel jobs run with their first writes' answers lost (one by one): each such
/// booking reads unconfirmed until the retry, after which the provider holds nothing.
async fn check_cancels(
    app: &TestApp,
    customer: &str,
    plan: &DropPlan,
    cancelled: &[String],
    mut reservations: impl AsyncFnMut(&str) -> usize,
) {
    let before = plan.dropped.load(Ordering::SeqCst);
    // The first write of the batch loses its answer: one cancel job.
    plan.set(&[Write::LoseAnswer]);
    app.run_pending_jobs().await;
    plan.set(&[]);
    assert_eq!(plan.dropped.load(Ordering::SeqCst), before + 1);
    let mut unconfirmed = 0;
    for reference in cancelled {
        let view = booking(app, customer, reference).await;
        assert_eq!(view["status"], "cancelled");
        if view["provider_status"] == "unconfirmed" {
            unconfirmed += 1;
        }
    }
    assert_eq!(
        unconfirmed, 1,
        "the cancel that lost its answer waits for its retry"
    );
    run_retries(app).await;
    for reference in cancelled {
        let view = booking(app, customer, reference).await;
        assert!(view.get("provider_status").is_none(), "{view}");
        assert_eq!(
            reservations(reference).await,
            0,
            "{reference} is gone at the provider"
        );
    }
}

// --- CalDAV -------------------------------------------------------------------------------

/// Fifty one-night holds at a hotel on Radicale (one room, a different night each), each
/// with its answer lost at a different write (the event's PUT, or the roll-back's DELETE) or
/// not at all; once the reconcile jobs have asked, a live booking has exactly its event, a
/// dead one none. Then cancels whose first DELETE loses its answer.
#[tokio::test]
async fn caldav_lost_answers_end_consistent_over_fifty_rounds() {
    let (dav, calendar) = crate::helpers::radicale_calendar().await;
    let http = reqwest::Client::new();
    let plan = DropPlan::default();
    let proxy = drop_proxy(&dav, plan.clone()).await;
    let app = spawn().await;
    let admin = app.admin_token().await;
    let city = unique_city("lostdav");
    app.post_ok(
        "/v1/providers",
        &admin,
        &json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Lost Answers Hotel", "city": city, "adapter": "caldav",
            "adapter_settings": { "base_url": proxy, "room_types": [{ "code": "std", "calendar_path": calendar, "name_ar": "غرفة", "name_en": "Room", "rooms": 1, "max_guests": 2, "nightly_price": "300.00" }] } }),
        201,
    )
    .await;
    let customer = token(&app.register("lost-dav@example.com").await);
    let events = |reference: String| {
        let (http, url) = (http.clone(), format!("{dav}{calendar}"));
        async move {
            let feed = http.get(url).send().await.unwrap().text().await.unwrap();
            feed.matches(&format!("UID:{reference}-")).count()
        }
    };

    // The event's PUT loses its answer (and the roll-back deletes it, or its DELETE never
    // arrives and the event stays), or the PUT never arrives.
    let plans: &[&[Write]] = &[
        &[],
        &[Write::LoseAnswer],
        &[Write::LoseAnswer, Write::Swallow],
        &[Write::Swallow],
    ];
    let held = hold_rounds(&app, &customer, &plan, plans, None, async |round: usize| {
        let check_in = crate::helpers::day(3 + round as i64);
        let check_out = crate::helpers::day(4 + round as i64);
        let results: Value = app
            .search(&format!(
                "kind=hotel&city={city}&check_in={check_in}&check_out={check_out}&guests=1"
            ))
            .await
            .json()
            .await
            .unwrap();
        results["offers"][0].clone()
    })
    .await;
    assert!(
        plan.dropped.load(Ordering::SeqCst) > 0,
        "no answer was dropped"
    );

    settle(&app).await;
    let (mut kept, mut ended) = (0, 0);
    for (round, (reference, lost)) in held.iter().enumerate() {
        let view = booking(&app, &customer, reference).await;
        let status = view["status"].as_str().unwrap();
        assert!(
            view.get("provider_status").is_none(),
            "round {round}: {view}"
        );
        let at_hotel = events(reference.clone()).await;
        if is_live(status) {
            assert_eq!(at_hotel, 1, "round {round}: live {reference}");
            kept += usize::from(*lost);
        } else {
            assert_eq!(at_hotel, 0, "round {round}: dead {reference} ({status})");
            assert!(*lost, "round {round}: only a lost answer ends a hold");
            ended += 1;
        }
    }
    assert!(
        kept > 0,
        "an event left by a failed roll-back is found and kept"
    );
    assert!(ended > 0, "a booking whose event never landed ends");

    let mut cancelled = Vec::new();
    for (reference, _) in held.iter().take(12) {
        let view = booking(&app, &customer, reference).await;
        if !is_live(view["status"].as_str().unwrap()) {
            continue;
        }
        let response = app
            .post_json_authed(
                &format!("/v1/bookings/{reference}/cancel"),
                &customer,
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), 200);
        cancelled.push(reference.clone());
    }
    assert!(cancelled.len() >= 3, "{cancelled:?}");
    check_cancels(
        &app,
        &customer,
        &plan,
        &cancelled,
        async |reference: &str| events(reference.to_owned()).await,
    )
    .await;
}
