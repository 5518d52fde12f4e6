//! Issue #14's first reproductions, each now answered as a client can act on: control
//! characters in a query, unbounded metric labels, gauges that vanish at zero, an empty
//! PATCH and a reference to a provider that does not exist.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, day, problem_fields, spawn_app};

/// `city=%00abc` reached PostgreSQL and answered 500.
#[tokio::test]
async fn a_nul_in_a_query_string_is_a_400_naming_the_parameter() {
    let app = spawn_app().await;
    let query = format!(
        "kind=hotel&city=%00abc&check_in={}&check_out={}&guests=2",
        day(3),
        day(5)
    );
    let problem = assert_problem(app.search(&query).await, 400, "query.invalid").await;
    assert_eq!(problem_fields(&problem), ["city"]);
}

/// `curl -X ANYWORD /health/live` added a permanent series per method word.
#[tokio::test]
async fn unknown_methods_add_no_metric_series() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let method = reqwest::Method::from_bytes(b"ANYWORD").unwrap();
    let answered = app
        .client
        .request(method, app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert!(answered.status().is_client_error());
    let scraped = app
        .get_authed("/metrics", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!scraped.contains("ANYWORD"), "{scraped}");
    assert!(scraped.contains("method=\"other\""), "{scraped}");
}

/// `wasit_jobs_dead`, `wasit_jobs_queued` and `wasit_jobs_oldest_due_seconds` vanished at zero.
#[tokio::test]
async fn job_gauges_report_zero_for_every_kind() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let scraped = app
        .get_authed("/metrics", &admin)
        .await
        .text()
        .await
        .unwrap();
    for kind in wasit::jobs::Job::KINDS {
        for gauge in ["wasit_jobs_dead", "wasit_jobs_queued"] {
            let line = format!("{gauge}{{kind=\"{kind}\"}} 0");
            assert!(scraped.contains(&line), "missing `{line}`");
        }
        let oldest = format!("wasit_jobs_oldest_due_seconds{{kind=\"{kind}\"}} 0");
        assert!(scraped.contains(&oldest), "missing `{oldest}`");
    }
    assert!(
        scraped.contains("wasit_bookings{status=\"no_show\"} 0"),
        "{scraped}"
    );
}

/// `PATCH /v1/providers/{id}` with `{}` answered 500 ("There are no changes to save").
#[tokio::test]
async fn patching_a_provider_with_nothing_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider, _) = app
        .local_hotel(
            &admin,
            &crate::helpers::unique_city("patch"),
            "Same",
            1,
            "100.00",
            3,
        )
        .await;
    let before: Value = app
        .get_authed(&format!("/v1/providers/{provider}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let after = app
        .patch_ok(&format!("/v1/providers/{provider}"), &admin, &json!({}))
        .await;
    assert_eq!(after, before);
}

/// A provider login naming a provider that does not exist answered 500 (a foreign key).
#[tokio::test]
async fn a_provider_login_for_a_missing_provider_is_422_naming_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({ "email": "ghost@provider.example", "password": crate::helpers::PASSWORD,
        "full_name": "Ghost", "role": "provider", "provider_id": uuid::Uuid::new_v4() });
    let problem = assert_problem(
        app.post_json_authed("/v1/admin/users", &admin, &body).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["provider_id"]);
}

/// Issue #14, point 8: every pooled connection carries `statement_timeout`, `lock_timeout`
/// and `idle_in_transaction_session_timeout` from `database.*_ms`, and a statement the
/// guard cancels answers 503, not 500.
#[tokio::test]
async fn pooled_connections_carry_the_database_guards() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let app = crate::helpers::spawn_app_with(|s| s.database.statement_timeout_ms = 1500).await;
    let settings = wasit::db::run_blocking(&app.state.pool, |conn| {
        let mut values = Vec::new();
        for name in [
            "statement_timeout",
            "lock_timeout",
            "idle_in_transaction_session_timeout",
        ] {
            let setting: Setting =
                diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
                    .get_result(conn)?;
            values.push(setting.value);
        }
        Ok(values)
    })
    .await
    .unwrap();
    assert_eq!(settings, ["1500ms", "10s", "1min"]);
    let cancelled = wasit::db::run_blocking(&app.state.pool, |conn| {
        diesel::sql_query("SELECT pg_sleep(3)").execute(conn)?;
        Ok(())
    })
    .await;
    assert!(
        matches!(cancelled, Err(wasit::error::ApiError::Unavailable(_))),
        "{cancelled:?}"
    );
}

/// Point 8: `login_throttles`, expired refresh tokens, finished jobs and webhook deliveries
/// grew for ever. The sweep deletes what has passed its retention and nothing else.
#[tokio::test]
async fn the_retention_sweep_deletes_only_what_has_passed_its_use() {
    use diesel::prelude::*;
    let app = crate::helpers::spawn_app().await;
    let admin = app.admin_token().await;
    let (provider_id, _) = app
        .local_hotel(&admin, "retention", "Kept", 1, "100.00", 1)
        .await;
    let session = app.register("kept@wasit.test").await;
    let user_id = session["user"]["id"].as_str().unwrap().to_owned();
    let mut conn = app.db.connect();
    let run = |conn: &mut PgConnection, sql: String| {
        diesel::sql_query(sql).execute(conn).unwrap();
    };
    // One stale and one fresh row per table.
    for (age, tag) in [("48 hours", "old"), ("1 minute", "new")] {
        run(
            &mut conn,
            format!(
                "INSERT INTO idempotency_keys (caller, key, request_hash, created_at, locked_at) \
             VALUES ('c', '{tag}', '\\x00', now() - interval '{age}', now() - interval '{age}')"
            ),
        );
        run(
            &mut conn,
            format!(
                "INSERT INTO login_throttles (subject, failures, last_failure_at) \
             VALUES ('address:{tag}', 1, now() - interval '{age}')"
            ),
        );
        run(
            &mut conn,
            format!(
                "INSERT INTO rate_counts (key, window_started_at, count) \
             VALUES ('signup:{tag}', now() - interval '{age}', 1)"
            ),
        );
    }
    // Locked out for another hour: kept however old its last failure.
    run(
        &mut conn,
        "INSERT INTO login_throttles (subject, failures, last_failure_at, blocked_until) \
         VALUES ('address:locked', 9, now() - interval '48 hours', now() + interval '1 hour')"
            .into(),
    );
    for (expires, tag) in [
        ("now() - interval '8 days'", 1),
        ("now() + interval '1 day'", 2),
    ] {
        run(
            &mut conn,
            format!(
                "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at, session_started_at) \
             VALUES (gen_random_uuid(), '{user_id}', gen_random_uuid(), sha256('{tag}'), now() - interval '40 days', {expires}, now() - interval '40 days')"
            ),
        );
    }
    for (expires, tag) in [
        ("now() - interval '8 days'", 3),
        ("now() + interval '1 hour'", 4),
    ] {
        run(
            &mut conn,
            format!(
                "INSERT INTO account_tokens (id, user_id, purpose, email, token_hash, expires_at) \
             VALUES (gen_random_uuid(), '{user_id}', 'verify_email', 'kept@wasit.test', sha256('{tag}'), {expires})"
            ),
        );
    }
    for (finished, state) in [("31 days", "done"), ("1 day", "done"), ("60 days", "dead")] {
        run(
            &mut conn,
            format!(
                "INSERT INTO jobs (kind, payload, state, run_at, attempts, max_attempts, finished_at) \
             VALUES ('send_reminders', '{{\"kind\":\"send_reminders\"}}', '{state}', now(), 1, 3, now() - interval '{finished}')"
            ),
        );
    }
    for age in ["91 days", "1 day"] {
        run(
            &mut conn,
            format!(
                "INSERT INTO webhook_deliveries (provider_id, message_id, event_type, payload, attempt, latency_ms, at) \
             VALUES ('{provider_id}', 'msg_{}', 'booking.confirmed', '{{}}', 1, 5, now() - interval '{age}')",
                age.replace(' ', "")
            ),
        );
    }
    // Texts: an old one sent, an old one still queued (kept: it is yet to go), a new one.
    for (age, status) in [
        ("91 days", "sent"),
        ("91 days", "queued"),
        ("1 day", "sent"),
    ] {
        run(
            &mut conn,
            format!(
                "WITH c AS (INSERT INTO customers (full_name, phone) VALUES ('Texted', '+966501234567') RETURNING id) \
             INSERT INTO sms_messages (id, customer_id, to_phone, body, purpose, encoding, segments, status, dedup_key, status_at) \
             SELECT gen_random_uuid(), c.id, '+966501234567', 'hi', 'test', 'gsm7', 1, '{status}', gen_random_uuid()::text, now() - interval '{age}' FROM c"
            ),
        );
    }
    let keep = app.settings.jobs.retention.clone();
    let purged = wasit::worker::retention::purge_expired(&mut conn, &keep).unwrap();
    assert_eq!(
        purged,
        wasit::worker::retention::Purged {
            idempotency_keys: 1,
            login_throttles: 1,
            rate_counts: 1,
            refresh_tokens: 1,
            account_tokens: 1,
            jobs: 1,
            webhook_deliveries: 1,
            sms_messages: 1,
            booking_patients: 0,
        }
    );
    let count = |conn: &mut PgConnection, table: &str| -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<N>(conn)
            .unwrap()
            .n
    };
    assert_eq!(
        count(
            &mut conn,
            "login_throttles WHERE subject = 'address:locked'"
        ),
        1
    );
    assert_eq!(count(&mut conn, "jobs WHERE state = 'dead'"), 1);
    assert_eq!(count(&mut conn, "sms_messages"), 2);
    assert_eq!(count(&mut conn, "rate_counts WHERE key = 'signup:new'"), 1);

    // The sweep is a scheduled job like the others: queued and run by a worker.
    let queued = wasit::jobs::queue::enqueue(
        &mut conn,
        &wasit::jobs::Job::PurgeExpired,
        None,
        chrono::Utc::now(),
    )
    .unwrap();
    assert!(queued);
    assert!(app.run_pending_jobs().await >= 1);
}

/// A malformed id in a path answered 422, which no operation documents: it names no
/// resource, so it is a 404 like an id that does not exist.
#[tokio::test]
async fn a_malformed_id_in_a_path_is_not_found() {
    let app = crate::helpers::spawn_app().await;
    let admin = app.admin_token().await;
    for path in [
        "/v1/providers/null%2Cnull/webhook-deliveries",
        "/v1/providers/not-a-uuid",
        "/v1/customers/123",
    ] {
        let answer = app.get_authed(path, &admin).await;
        assert_problem(answer, 404, "resource.not_found").await;
    }
    let retry = app
        .post_json_authed("/v1/admin/jobs/not-a-number/retry", &admin, &json!({}))
        .await;
    assert_problem(retry, 404, "resource.not_found").await;
}

/// Point 3: a control character in a path parameter is refused before any handler, naming
/// the parameter, as it is in a query string.
#[tokio::test]
async fn a_control_character_in_a_path_is_a_400_naming_the_parameter() {
    let app = crate::helpers::spawn_app().await;
    let admin = app.admin_token().await;
    for (path, parameter) in [
        ("/v1/bookings/WS-%00ABCD", "booking"),
        ("/v1/offers/abc%0Ddef", "offer_id"),
        ("/v1/bookings/%1B%5B31m/cancellation", "booking"),
    ] {
        let answer = app.get_authed(path, &admin).await;
        let problem = assert_problem(answer, 400, "path.invalid").await;
        assert_eq!(problem_fields(&problem), [parameter], "{path}");
    }
}
