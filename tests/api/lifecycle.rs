//! The `wasit` binary as an operator runs it: configuration errors, migrate, create-user,
//! serve with JSON logs, and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::helpers::{
    Spawned, TestDatabase, free_port, manifest_dir, random_secret, test_settings,
};

pub(crate) fn wasit(env: &str, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasit"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WASIT_ENV", env)
        .env("WASIT_CONFIG_DIR", manifest_dir().join("config"))
        .env("WASIT__DATABASE__URL", database_url)
        .env("WASIT__AUTH__JWT_SECRET", random_secret())
        .env("WASIT__AUTH__ARGON2__MEMORY_KIB", "1024")
        .env("WASIT__AUTH__ARGON2__ITERATIONS", "1")
        // Production texts through the HTTP gateway, whose credential an operator sets.
        .env("WASIT__SMS__APP_SID", "app-sid")
        .stdin(Stdio::null());
    command
}

#[test]
fn a_bad_configuration_value_stops_start_up_naming_the_key() {
    let settings = test_settings();
    let cases = [
        ("WASIT__SERVER__PORT", "eighty", "server.port"),
        ("WASIT__AUTH__JWT_SECRET", "too-short", "auth.jwt_secret"),
        ("WASIT__LOG__FORMAT", "xml", "log.format"),
    ];
    for (var, value, key) in cases {
        let output = wasit(
            "test",
            secrecy::ExposeSecret::expose_secret(&settings.database.url),
        )
        .env(var, value)
        .arg("serve")
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(key), "{var}: {stderr}");
        assert!(
            !stderr.contains("too-short"),
            "a secret was echoed: {stderr}"
        );
    }
}

/// Issue #14, point 1: production on the sandbox gateway (any card "pays", no money moves)
/// refuses to start unless `payments.allow_sandbox` says so; an empty metrics token too.
#[test]
fn production_refuses_the_sandbox_gateway_unless_told_and_an_empty_metrics_token() {
    let settings = test_settings();
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let refused = wasit("production", &url).arg("serve").output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("payments.gateway"), "{stderr}");
    let empty_token = wasit("test", &url)
        .env("WASIT__METRICS__TOKEN", "")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(empty_token.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&empty_token.stderr);
    assert!(stderr.contains("metrics.token"), "{stderr}");
}

#[test]
fn migrate_creates_the_database_and_is_idempotent_and_create_user_makes_an_admin() {
    let settings = test_settings();
    let database = TestDatabase::unborn(&settings);
    for _ in 0..2 {
        let output = wasit("test", &database.url)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut create = wasit("test", &database.url)
        .args([
            "create-user",
            "--role",
            "admin",
            "--email",
            "Boss@Office.sa",
            "--name",
            "Boss",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long admin password\n")
        .unwrap();
    let output = create.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin boss@office.sa"));

    let mut conn = database.connect();
    let (role, hash): (String, String) = wasit::schema::users::table
        .select((
            wasit::schema::users::role,
            wasit::schema::users::password_hash,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!(role, "admin");
    assert!(hash.starts_with("$argon2id$"));

    // Again without --reset-password: refused; with it: the password is replaced.
    let again = wasit("test", &database.url)
        .args([
            "create-user",
            "--role",
            "admin",
            "--email",
            "boss@office.sa",
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let reset = wasit("test", &database.url)
        .args([
            "create-user",
            "--role",
            "agent",
            "--email",
            "boss@office.sa",
            "--reset-password",
        ])
        .output()
        .unwrap();
    assert!(reset.status.success());
    let stdout = String::from_utf8_lossy(&reset.stdout);
    assert!(stdout.contains("updated agent boss@office.sa"), "{stdout}");
    assert!(
        stdout.contains("password: "),
        "a generated password is printed once: {stdout}"
    );
}

#[test]
fn serve_refuses_an_unmigrated_database() {
    let settings = test_settings();
    let database = TestDatabase::unborn(&settings);
    wasit::db::create_database_if_missing(&database.url).unwrap();
    let output = wasit("test", &database.url)
        .env("WASIT__SERVER__PORT", free_port().to_string())
        .arg("serve")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("wasit migrate"));
}

#[test]
fn serve_logs_json_in_production_and_stops_gracefully_on_sigterm() {
    let settings = test_settings();
    let database = TestDatabase::create(&settings);
    let port = free_port();
    let mut server = Spawned(
        wasit("production", &database.url)
            // No real gateway here: production runs on the sandbox only when told to.
            .env("WASIT__PAYMENTS__ALLOW_SANDBOX", "true")
            .env("WASIT__SERVER__HOST", "127.0.0.1")
            .env("WASIT__SERVER__PORT", port.to_string())
            .env("WASIT__SERVER__WORKERS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .arg("serve")
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready_url = format!("http://127.0.0.1:{port}/health/ready");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    loop {
        let status = runtime.block_on(async {
            reqwest::get(&ready_url)
                .await
                .map(|r| r.status().as_u16())
                .ok()
        });
        if status == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "server never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");

    let lines: Vec<serde_json::Value> = BufReader::new(server.0.stdout.take().unwrap())
        .lines()
        .map(|line| {
            let line = line.unwrap();
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"))
        })
        .collect();
    let finished = lines
        .iter()
        .find(|l| l["message"] == "request finished")
        .expect("a request log line");
    assert_eq!(finished["status"], 200);
    assert!(finished["span"]["request_id"].is_string(), "{finished}");
    assert!(lines.iter().any(|l| l["message"] == "wasit stopped"));
    let secret_leaked = lines.iter().any(|l| l.to_string().contains("JWT_SECRET"));
    assert!(!secret_leaked);
}

#[test]
fn every_migration_reverts_and_reapplies() {
    use diesel_migrations::MigrationHarness;
    let settings = test_settings();
    let database = TestDatabase::create(&settings);
    let mut conn = database.connect();
    let reverted = conn
        .revert_all_migrations(wasit::db::MIGRATIONS)
        .expect("down.sql runs")
        .len();
    assert!(reverted >= 2);
    let tables: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    assert_eq!(tables, 0, "down.sql leaves nothing behind");
    let applied = wasit::db::run_migrations(&mut conn).unwrap();
    assert_eq!(applied.len(), reverted);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[test]
fn the_worker_command_runs_jobs_until_sigterm() {
    let settings = test_settings();
    let database = TestDatabase::create(&settings);
    {
        let mut conn = database.connect();
        // A dead-on-arrival job proves the worker is claiming work.
        diesel::sql_query(
            "INSERT INTO jobs (kind, payload) VALUES ('expire_holds', '{\"kind\": \"nonsense\"}')",
        )
        .execute(&mut conn)
        .unwrap();
    }
    let mut worker = Spawned(
        wasit("production", &database.url)
            // No real gateway here: production runs on the sandbox only when told to.
            .env("WASIT__PAYMENTS__ALLOW_SANDBOX", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .arg("worker")
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut conn = database.connect();
    loop {
        let dead: i64 = wasit::schema::jobs::table
            .filter(wasit::schema::jobs::state.eq("dead"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        if dead == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never claimed the job"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = worker.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

/// SIGKILL a worker while its jobs are in flight (webhooks to an endpoint that never
/// answers), start another: every job is still accounted for (done, waiting for a retry, or
/// dead with its error), none silently gone or stuck as running.
#[test]
fn a_worker_killed_mid_job_loses_nothing() {
    // An endpoint that accepts and never answers, so deliveries hang until their timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let settings = test_settings();
    let database = TestDatabase::create(&settings);
    let mut conn = database.connect();
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
    }
    let provider: Id = diesel::sql_query(format!(
        "INSERT INTO providers (kind, name_ar, name_en, city, adapter, webhook_url, webhook_secret)
         VALUES ('hotel', 'ف', 'Silent', 'kill-city', 'local', 'http://127.0.0.1:{port}/hooks',
                 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw') RETURNING id"
    ))
    .get_result(&mut conn)
    .unwrap();
    for n in 0..5 {
        diesel::sql_query(format!(
            "INSERT INTO jobs (kind, payload, max_attempts) VALUES ('deliver_webhook', '{{\"kind\": \"deliver_webhook\", \
             \"provider_id\": \"{}\", \"message_id\": \"msg_kill{n}\", \"event_type\": \"booking.confirmed\", \
             \"timestamp\": \"2026-11-28T12:00:00Z\", \"data\": {{}}}}', 8)",
            provider.id
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let start_worker = || {
        Spawned(
            wasit("test", &database.url)
                .env("WASIT__JOBS__LEASE_SECS", "3")
                .env("WASIT__JOBS__JOB_TIMEOUT_SECS", "2")
                .env("WASIT__JOBS__POLL_MS", "100")
                .env("WASIT__JOBS__WORKERS", "2")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .arg("worker")
                .spawn()
                .unwrap(),
        )
    };
    // Only the deliveries: the worker's schedule may add sweep ticks of its own.
    let count_state = |conn: &mut PgConnection, state: &str| -> i64 {
        wasit::schema::jobs::table
            .filter(wasit::schema::jobs::kind.eq("deliver_webhook"))
            .filter(wasit::schema::jobs::state.eq(state))
            .count()
            .get_result(conn)
            .unwrap()
    };
    let mut doomed = start_worker();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count_state(&mut conn, "running") == 0 {
        assert!(
            Instant::now() < deadline,
            "the first worker never took a job"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    doomed.0.kill().unwrap(); // SIGKILL: no cleanup, leases left behind
    doomed.0.wait().unwrap();
    assert!(
        count_state(&mut conn, "running") > 0,
        "jobs were in flight when it died"
    );

    let _successor = start_worker();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running = count_state(&mut conn, "running");
        let settled: i64 = wasit::schema::jobs::table
            .filter(wasit::schema::jobs::kind.eq("deliver_webhook"))
            .filter(wasit::schema::jobs::attempts.ge(2))
            .count()
            .get_result(&mut conn)
            .unwrap();
        if running == 0 && settled > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs stayed stuck after the crash"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (queued, done, dead) = (
        count_state(&mut conn, "queued"),
        count_state(&mut conn, "done"),
        count_state(&mut conn, "dead"),
    );
    assert_eq!(queued + done + dead, 5, "every job accounted for");
    let unexplained: i64 = wasit::schema::jobs::table
        .filter(wasit::schema::jobs::kind.eq("deliver_webhook"))
        .filter(wasit::schema::jobs::state.eq("queued"))
        .filter(wasit::schema::jobs::last_error.is_null())
        .filter(wasit::schema::jobs::attempts.gt(0))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(unexplained, 0, "a retried job says why");
}

/// Defect 9 of issue #13: the claim, the work and the saved answer were three commits, so a
/// crash left keys answering `idempotency.in_progress` for a day and holds nobody could learn
/// of. Now a hold's answer commits with the hold, and a claim left without an answer past
/// `idempotency.lock_timeout_secs` is taken over by the retry. 80 holds with distinct keys,
/// the server SIGKILLed a quarter of a second in, restarted, every key retried: each one
/// replays or runs once, and the holds in the database are exactly the ones answered.
#[test]
fn a_crash_strands_no_idempotency_key_and_orphans_no_hold() {
    use std::collections::{BTreeMap, BTreeSet};
    use wasit::domain::{Email, Locale, Role};

    let settings = test_settings();
    let database = TestDatabase::create(&settings);
    let port = free_port();
    let secret = random_secret();
    let start = || {
        Spawned(
            wasit("test", &database.url)
                .env("WASIT__AUTH__JWT_SECRET", &secret)
                .env("WASIT__SERVER__HOST", "127.0.0.1")
                .env("WASIT__SERVER__PORT", port.to_string())
                .env("WASIT__IDEMPOTENCY__LOCK_TIMEOUT_SECS", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .arg("serve")
                .spawn()
                .unwrap(),
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ready = |client: &reqwest::Client| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = runtime.block_on(async {
                client
                    .get(format!("{base}/health/ready"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .ok()
            });
            if status == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "server never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let mut server = start();
    ready(&client);
    // An admin, a hotel with room for every hold, a customer and one offer to hold 80 times.
    let email = format!("admin-{}@wasit.test", uuid::Uuid::new_v4().simple());
    {
        let mut conn = database.connect();
        let passwords = wasit::auth::password::Passwords::new(&settings.auth.argon2).unwrap();
        let account = wasit::auth::model::NewAccount {
            email: Email::parse(&email).unwrap(),
            password: crate::helpers::PASSWORD.into(),
            full_name: "Admin".into(),
            phone: None,
            locale: Locale::En,
            role: Role::Admin,
            provider_id: None,
        };
        wasit::auth::service::create_or_reset_user(&mut conn, &passwords, &account, false).unwrap();
    }
    let (customer, offer) = runtime.block_on(async {
        let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
            let path = path.to_owned();
            let mut request = client.post(format!("{base}{path}")).json(&body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap();
                assert!(status.is_success(), "{path}: {body}");
                body
            }
        };
        let admin = post(
            "/v1/auth/login",
            None,
            serde_json::json!({ "email": email, "password": crate::helpers::PASSWORD }),
        )
        .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let provider = post("/v1/providers", Some(&admin), serde_json::json!({ "kind": "hotel",
            "name_ar": "فندق", "name_en": "Crash Inn", "city": "crashcity", "adapter": "local" }))
        .await;
        let provider = provider["id"].as_str().unwrap();
        let unit = post(&format!("/v1/providers/{provider}/units"), Some(&admin), serde_json::json!({
            "kind": "room_type", "name_ar": "غرفة", "name_en": "Room", "max_guests": 2,
            "rooms": 200, "nightly_price": "100.00" }))
        .await;
        let today = crate::helpers::riyadh_today();
        post(
            &format!("/v1/providers/{provider}/units/{}/availability", unit["id"].as_str().unwrap()),
            Some(&admin),
            serde_json::json!({ "from": today, "to": today + chrono::Duration::days(30) }),
        )
        .await;
        let customer = post("/v1/auth/register", None, serde_json::json!({
            "email": "crash@example.com", "password": crate::helpers::PASSWORD, "full_name": "Crash Test" }))
        .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let results: serde_json::Value = client
            .get(format!(
                "{base}/v1/search?kind=hotel&city=crashcity&check_in={}&check_out={}&guests=1",
                crate::helpers::day(5),
                crate::helpers::day(6)
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (customer, results["offers"][0]["offer_id"].as_str().unwrap().to_owned())
    });

    let keys: Vec<String> = (0..80).map(|n| format!("crash-{n:02}")).collect();
    // A key and its answer: (status, booking id if one was made), or none if the server died.
    type Answer = (String, Option<(u16, Option<String>)>);
    let burst = |keys: &[String]| -> Vec<Answer> {
        runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for key in keys {
                let request = client
                    .post(format!("{base}/v1/bookings"))
                    .bearer_auth(&customer)
                    .header("idempotency-key", key)
                    .json(&serde_json::json!({ "offer_id": offer, "guests": 1 }))
                    .timeout(Duration::from_secs(20));
                let key = key.clone();
                tasks.spawn(async move {
                    let answer = match request.send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let body: serde_json::Value = response.json().await.unwrap_or_default();
                            Some((status, body["id"].as_str().map(str::to_owned)))
                        }
                        Err(_) => None, // the server died under it
                    };
                    (key, answer)
                });
            }
            let mut answers = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                answers.push(joined.unwrap());
            }
            answers
        })
    };
    let killer = {
        let pid = server.0.id();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(250));
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
        })
    };
    let first = burst(&keys);
    killer.join().unwrap();
    let _ = server.0.wait();
    let answered_first: BTreeMap<String, String> = first
        .iter()
        .filter_map(|(key, answer)| match answer {
            Some((201, Some(id))) => Some((key.clone(), id.clone())),
            _ => None,
        })
        .collect();

    server = start();
    ready(&client);
    // Past the lock timeout every claim whose request died can be taken over.
    std::thread::sleep(Duration::from_millis(1500));
    let retried = burst(&keys);
    let mut answered: BTreeMap<String, String> = BTreeMap::new();
    for (key, answer) in &retried {
        match answer {
            Some((201, Some(id))) => {
                answered.insert(key.clone(), id.clone());
            }
            other => panic!("{key} answered {other:?} after the restart"),
        }
    }
    for (key, id) in &answered_first {
        assert_eq!(answered.get(key), Some(id), "{key} changed its answer");
    }
    let in_database: BTreeSet<String> = {
        let mut conn = database.connect();
        wasit::schema::bookings::table
            .select(wasit::schema::bookings::id)
            .load::<uuid::Uuid>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|id| id.to_string())
            .collect()
    };
    let answered_ids: BTreeSet<String> = answered.values().cloned().collect();
    assert_eq!(answered_ids.len(), 80, "one hold per key");
    assert_eq!(
        in_database,
        answered_ids,
        "the database holds exactly the answered holds ({} answered before the crash)",
        answered_first.len()
    );
    drop(server);
}
