//! Searches read from a replica (`database.replica_url`, #18 point 2); holds check on the
//! primary. The replica here is a real PostgreSQL database: a copy of the primary taken at
//! one moment, i.e. a replica that stopped replaying there (`TestDatabase::snapshot`);
//! streaming replication itself runs in `scripts/cluster`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    assert_problem, book, day, respawn_with, spawn_app, spawn_app_with, stay_offer, token,
    unique_city,
};

/// Waits until the app has measured its replica (its watcher ticks every second).
async fn replica_measured(app: &crate::helpers::TestApp) {
    for _ in 0..50 {
        if app.state.searcher.read.on_replica() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the replica was never measured as usable");
}

#[tokio::test]
async fn a_stale_available_from_the_replica_costs_a_409_at_hold_time_never_an_overbooking() {
    let first = spawn_app().await;
    let admin = first.admin_token().await;
    let city = unique_city("replica");
    first
        .local_hotel(&admin, &city, "Hilton", 1, "450.00", 30)
        .await;
    // The replica stops here: one room free.
    let replica = first.db.snapshot();
    let replica_url = replica.url.clone();
    let app = respawn_with(first, move |s| {
        s.database.replica_url = replica_url.into();
        s.database.replica_max_lag_ms = 1000;
    })
    .await;
    replica_measured(&app).await;

    let customer = token(&app.register("replica@example.com").await);
    let offer = stay_offer(&app, &city, 10, 12, 1).await;
    let held = book(
        &app,
        &customer,
        &Uuid::new_v4().to_string(),
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(held.status(), 201);

    // The primary has no room left; the replica still offers it...
    let again = stay_offer(&app, &city, 10, 12, 1).await;
    assert!(
        again["offer_id"].is_string(),
        "the replica answers as it stood: {again}"
    );
    // ...and the hold, on the primary, refuses it.
    assert_problem(
        book(
            &app,
            &customer,
            &Uuid::new_v4().to_string(),
            &json!({ "offer_id": again["offer_id"] }),
        )
        .await,
        409,
        "booking.sold_out",
    )
    .await;
    let mut conn = app.db.connect();
    use diesel::prelude::*;
    let held: i64 = wasit::schema::bookings::table
        .filter(wasit::schema::bookings::status.eq("held"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(held, 1, "one room, one hold");
    drop(replica);
}

#[tokio::test]
async fn an_unreachable_replica_is_skipped_and_reported() {
    let app = spawn_app_with(|s| {
        s.database.replica_url = "postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=1"
            .to_owned()
            .into();
        s.metrics.token = Some("scrape-token-for-tests-only".to_owned().into());
    })
    .await;
    let admin = app.admin_token().await;
    let city = unique_city("noreplica");
    app.local_hotel(&admin, &city, "Hilton", 2, "450.00", 30)
        .await;
    let results: Value = app
        .search(&format!(
            "kind=hotel&city={city}&check_in={}&check_out={}&guests=1",
            day(10),
            day(11)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        results["offers"].as_array().map(Vec::len),
        Some(1),
        "{results}"
    );
    // The watcher has tried the replica by now (its first tick is at start-up).
    let mut reported = String::new();
    for _ in 0..50 {
        reported = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth("scrape-token-for-tests-only")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if reported.contains("wasit_replica_lag_seconds -1") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "no -1 lag reported: {}",
        reported
            .lines()
            .filter(|l| l.contains("replica"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
