//! The customer site and the agent console, driven in headless Chromium by
//! `tests/e2e/run.mjs` (playwright-core) against a real app with the demo providers and job
//! workers running. scripts/test installs Chromium and the Node package (scripts/lib.sh).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use wasit::auth::Role;

use crate::helpers::{PASSWORD, TestApp, free_port, held, manifest_dir, spawn_app_with, token};

/// The whole run (four scenarios) takes about a minute; this only stops a hung browser.
const E2E_TIMEOUT: Duration = Duration::from_secs(300);

/// The app on a port known before it is built: the sandbox bank's 3-D Secure page sends the
/// browser back to `payments.return_url`, which must be this app.
async fn spawn_app_on_known_port() -> TestApp {
    let port = free_port();
    let app = spawn_app_with(|settings| {
        settings.server.port = port;
        settings.payments.return_url = format!("http://127.0.0.1:{port}/");
        // The links in verification and reset mail open this app's site.
        settings.email.site_url = format!("http://127.0.0.1:{port}/");
    })
    .await;
    assert_eq!(app.port, port);
    app
}

/// Runs `node tests/e2e/run.mjs <base>`, returning (success, everything it printed).
fn run_e2e(
    base: &str,
    agent_email: &str,
    pending_reference: &str,
    few_rooms_city: &str,
) -> (bool, String) {
    let root = manifest_dir();
    assert!(
        root.join("tests/e2e/node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/test (it runs `npm ci --prefix tests/e2e`)"
    );
    let chromium =
        std::env::var("WASIT_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no browser at {chromium}: run scripts/test (it installs chromium)"
    );
    let mut child = Command::new("node")
        .arg("tests/e2e/run.mjs")
        .arg(base)
        .current_dir(&root)
        .env("WASIT_TEST_CHROMIUM", &chromium)
        .env("WASIT_E2E_AGENT_EMAIL", agent_email)
        .env("WASIT_E2E_AGENT_PASSWORD", PASSWORD)
        .env("WASIT_E2E_SILENT_PROVIDER", "فندق لا يرد")
        .env("WASIT_E2E_PENDING_REFERENCE", pending_reference)
        .env("WASIT_E2E_FEW_ROOMS_CITY", few_rooms_city)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/test installs Node.js)");
    // Read both pipes on threads so a chatty run cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for node") {
            break Some(status);
        }
        if started.elapsed() > E2E_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        Some(status) => (status.success(), output),
        None => (
            false,
            format!("{output}\n(killed after {}s)", E2E_TIMEOUT.as_secs()),
        ),
    }
}

/// A customer's Makkah stay, paid, whose confirmation job is put off: it stays `pending`
/// until someone retries it. Returns its reference.
async fn slow_confirmation(app: &TestApp) -> String {
    let session = app
        .register(&format!(
            "slow-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await;
    let token = token(&session);
    let booking = held(app, &token, "makkah", 10).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    let paid = crate::payments::pay(app, &token, &booking, crate::payments::CARD_OK).await;
    assert_eq!(paid.status(), 200, "{}", paid.text().await.unwrap());
    let url = app.db.url.clone();
    let put_off = tokio::task::spawn_blocking(move || {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::PgConnection::establish(&url).unwrap();
        diesel::sql_query(format!(
            "UPDATE jobs SET run_at = now() + interval '1 day' WHERE dedup_key = 'confirm:{id}'"
        ))
        .execute(&mut conn)
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(put_off, 1, "the confirmation job");
    booking["reference"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_and_the_console_work_in_a_real_browser() {
    let app = spawn_app_on_known_port().await;
    let url = app.db.url.clone();
    let seeded = tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = diesel::PgConnection::establish(&url).unwrap();
        wasit::providers::demo::seed(&mut conn, chrono::Utc::now().date_naive())
    })
    .await
    .unwrap()
    .expect("demo data");
    assert!(seeded.is_some(), "the test database already had providers");

    // One more Riyadh hotel, behind a server that never answers: the site must say that
    // it timed out and still show everyone else's offers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a silent port");
    let admin = app.admin_token().await;
    let provider = json!({ "kind": "hotel", "name_ar": "فندق لا يرد", "name_en": "Silent Hotel", "city": "riyadh", "adapter": "caldav",
        "adapter_settings": { "base_url": format!("http://{}", silent.local_addr().unwrap()),
            "room_types": [{ "code": "std", "calendar_path": "/hotel/std/", "name_ar": "غرفة", "name_en": "Room", "rooms": 3, "max_guests": 2, "nightly_price": "300.00" }] } });
    app.post_ok("/v1/providers", &admin, &provider, 201).await;

    // A hotel of two family suites priced by occupancy: two rooms booked there show their
    // own prices, and "2 left" before.
    let few_rooms_city = crate::rooms::family_hotel(&app, &admin, 2).await;

    // A paid booking whose provider is slow to confirm (its confirmation job is put off a
    // day), for the agent to find among the pending ones and retry.
    let pending_reference = slow_confirmation(&app).await;

    let agent = app.user_with_role(Role::Agent).await;
    let agent_email = agent["user"]["email"].as_str().unwrap().to_owned();

    // Bookings are confirmed by a job: workers run beside the app, as in `wasit serve`.
    let worker = app.worker("e2e");
    wasit::worker::spawn_workers(&worker, 2, &app.db.url);

    let base = app.address.clone();
    let (ok, output) = tokio::task::spawn_blocking(move || {
        run_e2e(&base, &agent_email, &pending_reference, &few_rooms_city)
    })
    .await
    .unwrap();
    drop(silent);
    assert!(ok, "the browser tests failed:\n{output}");
    // Shown with --no-capture: the scenarios, their timings and the screenshots taken.
    println!("{output}");
}
