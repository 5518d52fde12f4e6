//! The database restarted under load, on a PostgreSQL cluster of this test's own (so no
//! other test feels it): while it is gone the API answers 503 problem+json quickly (never
//! another 5xx, never a hang), it recovers within seconds of the restart, and queued jobs
//! all run once it is back. (Slow, failing and garbage-answering providers and SMTP going
//! down are covered in search.rs, fhir.rs, caldav.rs, webhooks.rs and email.rs.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use wasit::jobs::{Job, queue};
use wasit::startup::Application;

use crate::helpers::test_settings;

/// A throwaway cluster on a free port, removed on drop.
struct Cluster {
    bindir: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn as_owner(program: &Path) -> Command {
    // initdb and postgres refuse to run as root: run them as the postgres user then.
    if unsafe_is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(command: &mut Command) {
    let output = command.output().expect("runs");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Cluster {
    fn start() -> Self {
        let bindir = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (scripts/test installs them)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = PathBuf::from(format!(
            "/var/tmp/wasit-fault-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if unsafe_is_root() {
            run(Command::new("chown").args(["postgres:postgres"]).arg(&dir));
        }
        run(as_owner(&bindir.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster { bindir, dir, port };
        cluster.pg_ctl("start");
        cluster
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off",
            self.port
        );
        let mut command = as_owner(&self.bindir.join("pg_ctl"));
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "60", "-m", "fast", "-o", &options, action]);
        run(&mut command);
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/wasit_fault?sslmode=disable",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_owner(&self.bindir.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request's outcome: status (0: no answer), problem+json or not, seconds taken.
type Seen = (u16, bool, f64, Instant);

async fn hit(client: &reqwest::Client, url: &str) -> Seen {
    let started = Instant::now();
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let problem = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v == "application/problem+json");
            let elapsed = started.elapsed().as_secs_f64();
            if status >= 500 && status != 503 {
                eprintln!(
                    "{url}: {status} {}",
                    response.text().await.unwrap_or_default()
                );
            }
            (status, problem, elapsed, started)
        }
        Err(_) => (0, false, started.elapsed().as_secs_f64(), started),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_costs_503s_only_while_it_is_down_and_loses_no_job() {
    let cluster = Cluster::start();
    let mut settings = test_settings();
    if std::env::var_os("TEST_LOG").is_some() {
        wasit::telemetry::init(&settings.log);
    }
    settings.database.url = cluster.url().into();
    settings.database.connect_timeout_secs = 2;
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    wasit::db::create_database_if_missing(&cluster.url()).unwrap();
    {
        let mut conn = PgConnection::establish(&cluster.url()).unwrap();
        wasit::db::run_migrations(&mut conn).unwrap();
        wasit::providers::demo::seed(&mut conn, chrono::Utc::now().date_naive()).unwrap();
    }
    let app = Application::build(&settings).expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    let worker = wasit::worker::Worker::for_state(&state, &settings.jobs);
    tokio::spawn(worker.run());

    // Jobs due before, during and after the outage.
    {
        let mut conn = PgConnection::establish(&cluster.url()).unwrap();
        for i in 0..30 {
            let at = chrono::Utc::now() + chrono::Duration::milliseconds(i * 200);
            queue::enqueue(
                &mut conn,
                &Job::ExpireHolds,
                Some(&format!("fault-{i}")),
                at,
            )
            .unwrap();
        }
    }

    let day = |d: i64| (chrono::Utc::now().date_naive() + chrono::Duration::days(d)).to_string();
    let search = format!(
        "{base}/v1/search?kind=hotel&city=riyadh&check_in={}&check_out={}&guests=2",
        day(5),
        day(7)
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..6)
        .map(|i| {
            let client = client.clone();
            let stop = stop.clone();
            let url = if i % 2 == 0 {
                search.clone()
            } else {
                format!("{base}/health/ready")
            };
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seen.push(hit(&client, &url).await);
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let down = Instant::now();
    let restart = tokio::task::spawn_blocking(move || {
        cluster.pg_ctl("stop");
        std::thread::sleep(Duration::from_secs(2));
        cluster.pg_ctl("start");
        cluster
    });
    let cluster = restart.await.unwrap();
    let up = Instant::now();
    let grace = Duration::from_secs(5);
    // Keep the load on past the grace period, to see it served again.
    tokio::time::sleep(grace + Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut seen: Vec<Seen> = Vec::new();
    for task in load {
        seen.extend(task.await.unwrap());
    }
    let bad: Vec<&Seen> = seen
        .iter()
        .filter(|(status, problem, secs, at)| {
            let in_outage = *at + Duration::from_secs_f64(*secs) >= down && *at <= up + grace;
            match status {
                200 => false,
                503 => !(*problem && in_outage),
                _ => true,
            }
        })
        .collect();
    assert!(bad.is_empty(), "unexpected answers: {bad:?}");
    let slowest = seen.iter().map(|s| s.2).fold(0.0, f64::max);
    assert!(slowest < 5.0, "a request hung for {slowest:.1} s");
    let unavailable = seen.iter().filter(|s| s.0 == 503).count();
    let recovered = seen
        .iter()
        .filter(|s| s.3 >= up && s.0 == 200)
        .map(|s| s.3 - up)
        .min();
    eprintln!(
        "{} requests, {unavailable} answered 503 while the database was down for {:.1} s; \
         the first success {recovered:?} after it was back; slowest {slowest:.2} s",
        seen.len(),
        (up - down).as_secs_f64()
    );
    assert!(
        unavailable > 0,
        "the outage went unnoticed: was the database really down?"
    );
    // Back within the grace period: the last requests all succeeded.
    let late: Vec<&Seen> = seen.iter().filter(|s| s.3 > up + grace).collect();
    assert!(
        !late.is_empty() && late.iter().all(|s| s.0 == 200),
        "{late:?}"
    );

    // Every job ran, none was lost or parked dead.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = PgConnection::establish(&cluster.url()).unwrap();
    loop {
        use wasit::schema::jobs::dsl as j;
        let states: Vec<String> = j::jobs
            .filter(j::dedup_key.like("fault-%"))
            .select(j::state)
            .load(&mut conn)
            .unwrap();
        assert_eq!(states.len(), 30);
        assert!(!states.iter().any(|s| s == "dead"), "{states:?}");
        if states.iter().all(|s| s == "done") {
            break;
        }
        assert!(Instant::now() < deadline, "jobs still waiting: {states:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(conn);
    drop(cluster);
}
