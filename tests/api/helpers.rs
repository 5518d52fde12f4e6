//! The test harness: every test gets its own database, cloned from one migrated template,
//! and its own server on port 0. The database is dropped when the test ends (pass or panic).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::prelude::*;
use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use wasit::auth::Role;
use wasit::auth::model::NewAccount;
use wasit::auth::password::Passwords;
use wasit::auth::service::create_or_reset_user;
use wasit::config::{Environment, Settings};
use wasit::db::{self, quote_ident};
use wasit::domain::{Email, Locale};
use wasit::startup::Application;

pub const PROBLEM_JSON: &str = "application/problem+json";
pub const PASSWORD: &str = "correct horse battery";

/// A loopback port nothing listens on right now: for a server a test starts, or as the
/// address of a provider that is down.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process a test started, killed and reaped when the test ends (passing or not).
pub struct Spawned(pub std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Test settings: config/test.toml plus the process environment (scripts/test exports
/// WASIT__DATABASE__URL when it runs a private cluster) and a random JWT secret.
pub fn test_settings() -> Settings {
    // reqwest uses rustls on ring; the provider must be installed before any client is built.
    wasit::providers::adapter::install_crypto_provider();
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    vars.insert("WASIT__AUTH__JWT_SECRET".into(), random_secret());
    Settings::load_from(&manifest_dir().join("config"), Environment::Test, vars)
        .expect("test settings")
}

/// The outbound client adapters get in the tests: the test layer's settings (loopback
/// allowed), with this timeout.
pub fn outbound(timeout: Duration) -> wasit::http::outbound::Outbound {
    wasit::http::outbound::Outbound::new(&test_settings().outbound, "wasit-test", timeout)
        .expect("outbound client")
}

pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A database of our own, dropped (connections and all) when this value is.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    maintenance_url: String,
}

impl TestDatabase {
    /// A fresh, fully migrated database.
    pub fn create(settings: &Settings) -> Self {
        let (maintenance_url, _) =
            db::maintenance_url(settings.database.url.expose_secret()).expect("database.url");
        let template = ensure_template(&maintenance_url);
        let name = format!("wasit_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&maintenance_url).expect("connect to postgres");
        // Another process copying the same template at this instant makes CREATE fail; retry.
        let mut attempt = 0;
        loop {
            let created = diesel::sql_query(format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&name),
                quote_ident(&template)
            ))
            .execute(&mut conn);
            match created {
                Ok(_) => break,
                Err(e)
                    if attempt < 50 && e.to_string().contains("being accessed by other users") =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("creating test database: {e}"),
            }
        }
        Self::named(name, &maintenance_url)
    }

    /// A name only: the database does not exist yet (for `wasit migrate` tests). Still
    /// dropped at the end if something created it.
    pub fn unborn(settings: &Settings) -> Self {
        let (maintenance_url, _) =
            db::maintenance_url(settings.database.url.expose_secret()).expect("database.url");
        Self::named(
            format!("wasit_test_{}", uuid::Uuid::new_v4().simple()),
            &maintenance_url,
        )
    }

    fn named(name: String, maintenance_url: &str) -> Self {
        let url = swap_database(maintenance_url, &name);
        Self {
            name,
            url,
            maintenance_url: maintenance_url.to_owned(),
        }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }

    /// A copy of this database as it stands now, dropped with the value returned: what a
    /// replica that stopped replaying here would serve. Copying needs the database to
    /// itself, so every connection to it is ended first (an app using it reconnects).
    pub fn snapshot(&self) -> TestDatabase {
        let name = format!("wasit_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&self.maintenance_url).expect("connect to postgres");
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            self.name
        ))
        .execute(&mut conn)
        .expect("end the connections");
        diesel::sql_query(format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(&self.name)
        ))
        .execute(&mut conn)
        .expect("copy the database");
        Self::named(name, &self.maintenance_url)
    }

    /// Drops the database now (the app's pool is cut off), e.g. to test readiness.
    pub fn drop_now(&self) {
        drop_database(&self.maintenance_url, &self.name);
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.maintenance_url.clone(), self.name.clone());
        // Drop may run inside an async runtime: do the blocking work on a plain thread.
        let _ = std::thread::spawn(move || drop_database(&url, &name)).join();
    }
}

fn drop_database(maintenance_url: &str, name: &str) {
    if let Ok(mut conn) = PgConnection::establish(maintenance_url) {
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .execute(&mut conn);
    }
}

fn swap_database(maintenance_url: &str, name: &str) -> String {
    match maintenance_url.rsplit_once("/postgres") {
        Some((server, rest)) => format!("{server}/{name}{rest}"),
        None => panic!("unexpected maintenance url"),
    }
}

/// The template's name carries a hash of the migrations, so a changed migration gets a
/// fresh template and old ones are dropped.
fn template_name() -> String {
    let dir = manifest_dir().join("migrations");
    // Cargo rebuilds for a changed migration file but not for a new migration directory:
    // a binary built before one was added would build this template without it, under a
    // name that says it has it.
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().join("up.sql").exists())
        })
        .count();
    let embedded =
        diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&db::MIGRATIONS)
            .expect("the embedded migrations")
            .len();
    assert_eq!(
        embedded, on_disk,
        "the test binary embeds {embedded} migrations but migrations/ holds {on_disk}: \
         `touch src/db.rs` and build again (cargo does not notice a new migration directory)"
    );
    let mut files = Vec::new();
    collect_files(&dir, &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(
            file.strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(std::fs::read(&file).unwrap());
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("wasit_tpl_{hex}")
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

/// Creates the migrated template once per migration set, under an advisory lock so
/// parallel test processes build it once and never copy a half-built one.
fn ensure_template(maintenance_url: &str) -> String {
    const LOCK: i64 = 0x0077_6173_6974; // "wasit" in ASCII
    let template = template_name();
    let mut conn = PgConnection::establish(maintenance_url)
        .expect("cannot reach PostgreSQL for tests: run scripts/test, or set WASIT__DATABASE__URL");
    diesel::sql_query(format!("SELECT pg_advisory_lock({LOCK})"))
        .execute(&mut conn)
        .unwrap();
    let existing: Vec<String> =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'wasit\\_tpl\\_%'")
            .load::<Name>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|row| row.datname)
            .collect();
    // Templates of other migration sets are left alone: another checkout (a branch with a
    // new migration) may be cloning from one right now. scripts/test drops them at its start.
    if !existing.contains(&template) {
        let building = format!("{template}_building");
        drop_database(maintenance_url, &building);
        diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&building)))
            .execute(&mut conn)
            .unwrap();
        {
            let mut template_conn =
                PgConnection::establish(&swap_database(maintenance_url, &building)).unwrap();
            db::run_migrations(&mut template_conn).expect("migrating the template");
        }
        diesel::sql_query(format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&building),
            quote_ident(&template)
        ))
        .execute(&mut conn)
        .unwrap();
    }
    diesel::sql_query(format!("SELECT pg_advisory_unlock({LOCK})"))
        .execute(&mut conn)
        .unwrap();
    template
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// Shared by every instance started on it (`second_instance`); dropped with the last.
    pub db: std::sync::Arc<TestDatabase>,
    /// The running app's own state: workers built from it are woken by its enqueues.
    pub state: actix_web::web::Data<wasit::state::AppState>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after `customise` has adjusted its settings (limits, throttles...). It
/// listens on a free port of 127.0.0.1 unless `customise` names one.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        wasit::telemetry::init(&test_settings().log);
    }
    let mut settings = test_settings();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    customise(&mut settings);
    let seed = settings.clone();
    let db = tokio::task::spawn_blocking(move || TestDatabase::create(&seed))
        .await
        .unwrap();
    settings.database.url = db.url.clone().into();
    start_app(settings, db)
}

/// Another app on the database of `app`, with `customise` applied to its settings (a second
/// instance, or one with other settings); `app` keeps running but is no longer needed.
pub async fn respawn_with(app: TestApp, customise: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = app.settings;
    settings.server.port = 0;
    customise(&mut settings);
    start_app(settings, app.db)
}

impl TestApp {
    /// A second instance of the service on the same database, with the same settings (so
    /// the same JWT secret): what a load balancer spreads requests over.
    pub fn second_instance(&self) -> TestApp {
        let mut settings = self.settings.clone();
        settings.server.port = 0;
        start_app(settings, self.db.clone())
    }
}

fn start_app(settings: Settings, db: impl Into<std::sync::Arc<TestDatabase>>) -> TestApp {
    let db = db.into();
    let app = Application::build(&settings).expect("build app");
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        settings,
        db,
        state,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_authed(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json_authed(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Signs a customer up and returns the session body, their email already verified:
    /// most tests are about what a customer does, not about verifying (tests/api/accounts.rs
    /// signs up with [`TestApp::sign_up`] and opens the emailed link).
    pub async fn register(&self, email: &str) -> Value {
        let session = self.sign_up(email).await;
        self.mark_verified(session["user"]["id"].as_str().unwrap());
        session
    }

    /// Signs a customer up as the site does: unverified, with a verification mail queued.
    pub async fn sign_up(&self, email: &str) -> Value {
        let response = self
            .post_json(
                "/v1/auth/register",
                &json!({ "email": email, "password": PASSWORD, "full_name": "Sara Al-Harbi" }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Verifies an account's email as opening its link would, uses its links up and drops
    /// their queued mail, so the account looks as if it had signed up verified.
    pub fn mark_verified(&self, user_id: &str) {
        let mut conn = self.db.connect();
        for statement in [
            format!(
                "DELETE FROM jobs WHERE state = 'queued' AND dedup_key IN \
                 (SELECT 'account-mail:' || id FROM account_tokens WHERE user_id = '{user_id}')"
            ),
            format!(
                "UPDATE account_tokens SET used_at = now() WHERE user_id = '{user_id}' AND used_at IS NULL"
            ),
            format!("UPDATE users SET email_verified_at = now() WHERE id = '{user_id}'"),
        ] {
            diesel::sql_query(statement).execute(&mut conn).unwrap();
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/v1/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// An account of any role made directly, as `wasit create-user` would; returns a session.
    pub async fn user_with_role(&self, role: Role) -> Value {
        let email = format!("{}-{}@wasit.test", role, uuid::Uuid::new_v4().simple());
        let account = NewAccount {
            email: Email::parse(&email).unwrap(),
            password: PASSWORD.into(),
            full_name: format!("Test {role}"),
            phone: None,
            locale: Locale::En,
            role,
            provider_id: None,
        };
        let passwords = Passwords::new(&self.settings.auth.argon2).unwrap();
        let mut conn = self.db.connect();
        create_or_reset_user(&mut conn, &passwords, &account, false).unwrap();
        let response = self.login(&email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

/// Asserts an RFC 9457 problem with this status and code, and returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "status, answer: {text}");
    assert_eq!(content_type, PROBLEM_JSON, "content type");
    let body: Value = serde_json::from_str(&text).expect("problem body is JSON");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status, "status member in {body}");
    assert_eq!(
        body["type"],
        format!("urn:wasit:problem:{code}"),
        "type in {body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "title in {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "detail in {body}"
    );
    body
}

/// The `field`s a validation problem names.
pub fn problem_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Fixtures for provider and search tests, made through the admin API as an office would.
impl TestApp {
    pub async fn admin_token(&self) -> String {
        self.user_with_role(Role::Admin).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// POSTs as `token` and asserts the status, returning the body.
    pub async fn post_ok(&self, path: &str, token: &str, body: &Value, status: u16) -> Value {
        let response = self.post_json_authed(path, token, body).await;
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Staff confirm booking `id` as paid at the office (no card): it goes to the provider.
    pub async fn confirm_paid_at_office(&self, staff: &str, id: &str) -> Value {
        self.post_ok(
            &format!("/v1/bookings/{id}/confirm"),
            staff,
            &json!({ "reason": "paid at the office" }),
            200,
        )
        .await
    }

    /// A local hotel with one room type (`rooms` rooms, 2 guests each, `price` a night),
    /// open for the next `days` nights. Returns (provider id, unit id).
    pub async fn local_hotel(
        &self,
        token: &str,
        city: &str,
        name: &str,
        rooms: i32,
        price: &str,
        days: i64,
    ) -> (String, String) {
        let provider = self
            .post_ok(
                "/v1/providers",
                token,
                &json!({ "kind": "hotel", "name_ar": format!("فندق {name}"), "name_en": name, "city": city, "adapter": "local" }),
                201,
            )
            .await;
        let provider_id = provider["id"].as_str().unwrap().to_owned();
        let unit = self
            .post_ok(
                &format!("/v1/providers/{provider_id}/units"),
                token,
                &json!({ "kind": "room_type", "name_ar": "غرفة ديلوكس", "name_en": "Deluxe room", "max_guests": 2, "rooms": rooms, "nightly_price": price }),
                201,
            )
            .await;
        let unit_id = unit["id"].as_str().unwrap().to_owned();
        let today = riyadh_today();
        self.post_ok(
            &format!("/v1/providers/{provider_id}/units/{unit_id}/availability"),
            token,
            &json!({ "from": today, "to": today + chrono::Duration::days(days) }),
            200,
        )
        .await;
        (provider_id, unit_id)
    }

    pub async fn search(&self, query: &str) -> Response {
        self.get(&format!("/v1/search?{query}")).await
    }
}

/// A date `days` from today in Riyadh (the test providers' time zone), as the API writes it.
/// From 21:00 UTC Riyadh is already on the next day, and a night that began at its midnight
/// has started: tomorrow by the UTC calendar would be an offer in the past.
pub fn day(days: i64) -> String {
    (riyadh_today() + chrono::Duration::days(days)).to_string()
}

pub fn riyadh_today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Riyadh)
        .date_naive()
}

/// Polls every future together, so requests really are in flight at once (no extra crate
/// for a join).
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

impl TestApp {
    /// A job worker on this app's database, named `name` (tests drive jobs explicitly).
    pub fn worker(&self, name: &str) -> wasit::worker::Worker {
        let mut worker = wasit::worker::Worker::for_state(&self.state, &self.settings.jobs);
        worker.id = name.to_owned();
        worker
    }

    /// Runs every due job to the end, as the workers would.
    pub async fn run_pending_jobs(&self) -> usize {
        self.worker("test-worker").drain().await.expect("jobs run")
    }
}

/// The access token of a session body (sign-up, sign-in, refresh).
pub fn token(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_owned()
}

/// A held booking of the first hotel offer in `city`, two nights from `check_in` days ahead.
pub async fn held(app: &TestApp, customer: &str, city: &str, check_in: i64) -> Value {
    let offer = stay_offer(app, city, check_in, check_in + 2, 2).await;
    let response = book(
        app,
        customer,
        &uuid::Uuid::new_v4().to_string(),
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// A hospital appointment's patient, valid (`1000000008` carries its check digit).
pub fn patient() -> Value {
    json!({ "full_name": "Fatima Al-Harbi", "birth_date": "1990-05-17", "id_type": "national_id", "id_number": "1000000008" })
}

/// POSTs a booking as `token` under the Idempotency-Key `key`.
pub async fn book(app: &TestApp, token: &str, key: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/v1/bookings"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The first hotel offer in `city` for nights `check_in..check_out` days from today
/// (`Value::Null` when there is none).
pub async fn stay_offer(
    app: &TestApp,
    city: &str,
    check_in: i64,
    check_out: i64,
    guests: u32,
) -> Value {
    let results: Value = app
        .search(&format!(
            "kind=hotel&city={city}&check_in={}&check_out={}&guests={guests}",
            day(check_in),
            day(check_out)
        ))
        .await
        .json()
        .await
        .unwrap();
    results["offers"][0].clone()
}

/// A city slug no other test uses (letters only, as slugs require), so searches see only
/// this test's providers.
pub fn unique_city(prefix: &str) -> String {
    let letters: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .filter(char::is_ascii_lowercase)
        .take(8)
        .collect();
    format!("{prefix}{letters}")
}

/// A provider that accepts connections and never answers: no real server can be made to
/// hang on demand, so this stands in for one.
pub async fn silent_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

/// A provider server that reads each request and answers it with `answer`, then closes.
pub async fn canned_server(answer: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await;
                let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, answer.as_bytes()).await;
            });
        }
    });
    port
}

impl TestApp {
    /// PATCHes as `token` and asserts 200, returning the body.
    pub async fn patch_ok(&self, path: &str, token: &str, body: &Value) -> Value {
        let response = self
            .client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(got, 200, "PATCH {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A provider login ("the front desk") for `provider`, made by `admin`; its access token.
    pub async fn provider_desk(&self, admin: &str, provider: &str) -> String {
        let email = format!("desk-{}@provider.example", uuid::Uuid::new_v4().simple());
        self.post_ok(
            "/v1/admin/users",
            admin,
            &json!({ "email": email, "password": PASSWORD, "full_name": "Front desk", "role": "provider", "provider_id": provider }),
            201,
        )
        .await;
        token(
            &self
                .login(&email, PASSWORD)
                .await
                .json::<Value>()
                .await
                .unwrap(),
        )
    }
}

/// A new, empty calendar collection on the CalDAV test server (Radicale, started by
/// scripts/test). Returns the server's base URL and the calendar's path (`/…/std/`).
pub async fn radicale_calendar() -> (String, String) {
    let dav = std::env::var("WASIT_TEST_CALDAV_URL")
        .expect("run scripts/test: it starts the CalDAV test server")
        .trim_end_matches('/')
        .to_owned();
    let root = format!("/{}", uuid::Uuid::new_v4().simple());
    let calendar = format!("{root}/std/");
    wasit::providers::adapter::install_crypto_provider();
    let http = reqwest::Client::new();
    for (method, path) in [
        ("MKCOL", format!("{root}/")),
        ("MKCALENDAR", calendar.clone()),
    ] {
        let status = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{dav}{path}"),
            )
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201, "{method} {path}");
    }
    (dav, calendar)
}

// ---- #16 points 3 and 4: client consent and pay links (tests/api/consent.rs, pay_links.rs) ----

/// An office where an agent books for phone clients: the agent's token, a client (with a
/// phone, an email and SMS consent recorded by the agent) and a local hotel in a city of its
/// own at 300.00 a night.
pub async fn phone_client(app: &TestApp) -> (String, Value, String) {
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let email = format!("client-{}@example.com", uuid::Uuid::new_v4().simple());
    let client = app
        .post_ok(
            "/v1/customers",
            &agent,
            &json!({ "full_name": "Omar Al-Qahtani", "phone": "0559876543", "email": email, "locale": "en" }),
            201,
        )
        .await;
    let id = client["id"].as_str().unwrap();
    app.patch_ok(
        &format!("/v1/customers/{id}/sms"),
        &agent,
        &json!({ "opted_in": true }),
    )
    .await;
    let city = unique_city("link");
    app.local_hotel(&admin, &city, "Corniche", 20, "300.00", 30)
        .await;
    (agent, client, city)
}

/// The agent holds `nights` nights in `city` for `client`, from 3 days ahead: the booking.
pub async fn hold_for(
    app: &TestApp,
    agent: &str,
    client: &Value,
    city: &str,
    nights: i64,
) -> Value {
    let offer = stay_offer(app, city, 3, 3 + nights, 2).await;
    let response = book(
        app,
        agent,
        &uuid::Uuid::new_v4().to_string(),
        &json!({ "offer_id": offer["offer_id"], "customer_id": client["id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// The token of the newest link of `purpose` (`consent_link`, `pay_link`) texted about
/// `booking`, after the jobs that send links have run: read from the recorded text, as the
/// client would read it on their phone.
pub async fn texted_token(app: &TestApp, purpose: &str, booking: &Value) -> String {
    use wasit::schema::sms_messages;
    app.run_pending_jobs().await;
    let reference = booking["reference"].as_str().unwrap();
    let mut conn = app.db.connect();
    let bodies: Vec<String> = sms_messages::table
        .filter(sms_messages::purpose.eq(purpose))
        .order(sms_messages::created_at.desc())
        .select(sms_messages::body)
        .load(&mut conn)
        .unwrap();
    let body = bodies
        .into_iter()
        .find(|b| b.contains(reference))
        .unwrap_or_else(|| panic!("no {purpose} text for {reference}"));
    body.rsplit('/').next().unwrap().to_owned()
}
