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
