//! Every staff write leaves an audit entry; admins read them newest first, filtered and paged.

use std::collections::HashSet;

use chrono::Utc;
use reqwest::Response;
use serde_json::{Value, json};
use uuid::Uuid;
use wasit::audit::AuditEntry;
use wasit::auth::Role;
use wasit::domain::OFFICE_TIMEZONE;

use crate::helpers::{TestApp, assert_problem, problem_fields, spawn_app};

struct Staff {
    token: String,
    id: String,
}

async fn staff(app: &TestApp, role: Role) -> Staff {
    let session = app.user_with_role(role).await;
    Staff {
        token: session["access_token"].as_str().unwrap().to_owned(),
        id: session["user"]["id"].as_str().unwrap().to_owned(),
    }
}

/// A phone client entered by `staff`; returns the customer's id.
async fn enter_client(app: &TestApp, staff: &Staff, name: &str) -> String {
    let created = app
        .post_ok(
            "/v1/customers",
            &staff.token,
            &json!({ "full_name": name, "phone": "0501234567" }),
            201,
        )
        .await;
    created["id"].as_str().unwrap().to_owned()
}

async fn audit(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Response {
    app.client
        .get(app.url("/v1/audit"))
        .query(query)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn page(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Value {
    let response = audit(app, token, query).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{query:?}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The `entity_id`s of a page's entries, in order.
fn entity_ids(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn entering_a_client_writes_an_audit_entry_with_the_request_id() {
    let app = spawn_app().await;
    let agent = staff(&app, Role::Agent).await;
    let admin = staff(&app, Role::Admin).await;
    let request_id = format!("call-{}", Uuid::new_v4().simple());
    let response = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(&agent.token)
        .header("x-request-id", &request_id)
        .json(&json!({ "full_name": "Sara Al-Harbi", "phone": "0501234567" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let customer: Value = response.json().await.unwrap();
    let customer_id = customer["id"].as_str().unwrap();

    let listed = page(&app, &admin.token, &[]).await;
    let entries = listed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{listed}");
    let entry = &entries[0];
    assert_eq!(entry["actor_id"], agent.id.as_str());
    assert_eq!(entry["actor_role"], "agent");
    assert_eq!(entry["on_behalf_of"], customer_id);
    assert_eq!(entry["action"], "customer.create");
    assert_eq!(entry["entity_type"], "customer");
    assert_eq!(entry["entity_id"], customer_id);
    assert_eq!(entry["request_id"], request_id.as_str());
    assert_eq!(entry["details"]["full_name"], "Sara Al-Harbi");
    assert!(entry["id"].is_i64());
    assert!(entry["at"].is_string());
    assert_eq!(listed["next_cursor"], Value::Null);

    // Without an x-request-id the server's own id is recorded (and echoed).
    let response = app
        .post_json_authed(
            "/v1/customers",
            &admin.token,
            &json!({ "full_name": "Noura", "phone": "0501234567" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let newest = page(&app, &admin.token, &[("limit", "1")]).await;
    assert_eq!(newest["entries"][0]["request_id"], echoed.as_str());
    assert_eq!(newest["entries"][0]["actor_role"], "admin");
}

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let app = spawn_app().await;
    for role in [Role::Agent, Role::Customer, Role::Provider] {
        let caller = staff(&app, role).await;
        assert_problem(audit(&app, &caller.token, &[]).await, 403, "auth.forbidden").await;
    }
    assert_problem(app.get("/v1/audit").await, 401, "auth.missing_token").await;
}

#[tokio::test]
async fn pages_return_every_entry_exactly_once() {
    let app = spawn_app().await;
    let agent = staff(&app, Role::Agent).await;
    let admin = staff(&app, Role::Admin).await;
    let mut created = Vec::new();
    for n in 0..7 {
        created.push(enter_client(&app, &agent, &format!("Client {n}")).await);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let mut query = vec![("limit", "3")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let listed = page(&app, &admin.token, &query).await;
        sizes.push(listed["entries"].as_array().unwrap().len());
        seen.extend(entity_ids(&listed));
        if seen.len() == 3 {
            // Written between pages: newer than the first page, so on none of the next ones.
            enter_client(&app, &agent, "Late caller").await;
        }
        match listed["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, newest_first, "newest first, each once");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 7);

    let all = page(&app, &admin.token, &[]).await;
    assert_eq!(entity_ids(&all).len(), 8, "the default page holds them all");
    assert_eq!(all["next_cursor"], Value::Null);
}

/// Query-string pairs.
type Query<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test]
async fn filters_narrow_the_entries() {
    let app = spawn_app().await;
    let first = staff(&app, Role::Agent).await;
    let second = staff(&app, Role::Agent).await;
    let admin = staff(&app, Role::Admin).await;
    let sara = enter_client(&app, &first, "Sara").await;
    let noura = enter_client(&app, &first, "Noura").await;
    let khalid = enter_client(&app, &second, "Khalid").await;
    // What the bookings code will write, through the same function.
    {
        let mut conn = app.db.connect();
        wasit::audit::record(
            &mut conn,
            &AuditEntry {
                actor_id: admin.id.parse().unwrap(),
                actor_role: Role::Admin,
                on_behalf_of: Some(sara.parse().unwrap()),
                action: "booking.create",
                entity_type: "booking",
                entity_id: "WS-7K3F9Q".into(),
                request_id: None,
                details: json!({ "channel": "phone" }),
            },
        )
        .unwrap();
    }
    let today = Utc::now().with_timezone(&OFFICE_TIMEZONE).date_naive();
    let (yesterday, tomorrow) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
    let (today, yesterday, tomorrow) = (
        today.to_string(),
        yesterday.to_string(),
        tomorrow.to_string(),
    );
    let cases: Vec<(Query, Vec<&str>)> = vec![
        (vec![("actor_id", &first.id)], vec![&noura, &sara]),
        (vec![("actor_id", &second.id)], vec![&khalid]),
        (vec![("action", "booking.create")], vec!["WS-7K3F9Q"]),
        (
            vec![("entity_type", "customer")],
            vec![&khalid, &noura, &sara],
        ),
        (vec![("entity_id", &noura)], vec![&noura]),
        (vec![("on_behalf_of", &sara)], vec!["WS-7K3F9Q", &sara]),
        (
            vec![("actor_id", &first.id), ("entity_type", "booking")],
            vec![],
        ),
        (
            vec![("from", &today), ("to", &today)],
            vec!["WS-7K3F9Q", &khalid, &noura, &sara],
        ),
        (vec![("from", &tomorrow)], vec![]),
        (vec![("to", &yesterday)], vec![]),
        (vec![("action", "customer.delete")], vec![]),
    ];
    for (query, expected) in cases {
        let listed = page(&app, &admin.token, &query).await;
        assert_eq!(entity_ids(&listed), expected, "{query:?}");
    }
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let app = spawn_app().await;
    let admin = staff(&app, Role::Admin).await;
    let problem = assert_problem(
        audit(
            &app,
            &admin.token,
            &[
                ("actor_id", "agent-7"),
                ("on_behalf_of", "x"),
                ("from", "2026-13-01"),
                ("limit", "0"),
                ("cursor", "garbage!"),
            ],
        )
        .await,
        400,
        "query.invalid",
    )
    .await;
    let mut fields = problem_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        ["actor_id", "cursor", "from", "limit", "on_behalf_of"]
    );
    let too_long = "x".repeat(201);
    for (query, field) in [
        (vec![("limit", "201")], "limit"),
        (vec![("limit", "ten")], "limit"),
        (vec![("to", "yesterday")], "to"),
        (vec![("from", "2026-12-02"), ("to", "2026-12-01")], "to"),
        (vec![("entity_id", too_long.as_str())], "entity_id"),
    ] {
        let problem = assert_problem(
            audit(&app, &admin.token, &query).await,
            400,
            "query.invalid",
        )
        .await;
        assert_eq!(problem_fields(&problem), [field], "{query:?}");
    }
}
