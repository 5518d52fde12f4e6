//! The hold-expiry sweep run by two processes at once (the cluster's `kill_serve` found it):
//! each sweep gives back a hundred holds' inventory cells per transaction, in its own order,
//! so two side by side deadlocked on the cells they shared and every victim stayed held.
//! One sweep runs at a time (`bookings/system.rs`, `EXPIRY_LOCK`); the other stands aside.

use diesel::prelude::*;
use serde_json::json;

use crate::helpers::{TestApp, book, spawn_app_with, stay_offer, token};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(&mut app.db.connect())
        .unwrap()
        .n
}

fn deadlocks(app: &TestApp) -> i64 {
    let mut conn = app.db.connect();
    diesel::sql_query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(
        "SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n
}

/// 240 holds of one room type over overlapping stays, all past their expiry, swept by two
/// workers at the same moment: every hold expires, no cell keeps a room, no deadlock.
#[tokio::test]
async fn two_expiry_sweeps_side_by_side_expire_every_hold_without_a_deadlock() {
    const HOLDS: usize = 240;
    let app = spawn_app_with(|settings| {
        settings.bookings.max_live_holds = 0;
        settings.bookings.holds_per_address_per_hour = 0;
    })
    .await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Crowded", 300, "300.00", 30)
        .await;
    // Many customers, as in the cluster: one customer's holds would queue on its row.
    let mut customers = Vec::new();
    for i in 0..HOLDS / 10 {
        customers.push(token(
            &app.register(&format!("holder-{i}@example.com")).await,
        ));
    }
    // Eight stays of three nights, each overlapping the next: sweeps share cells.
    let mut offers = Vec::new();
    for start in 1..=8 {
        offers.push(stay_offer(&app, "jeddah", start, start + 3, 2).await["offer_id"].clone());
    }
    for i in 0..HOLDS {
        let body = json!({ "offer_id": offers[i % offers.len()] });
        let customer = &customers[i % customers.len()];
        let held = book(&app, customer, &format!("hold-{i}"), &body).await;
        assert_eq!(held.status(), 201, "{}", held.text().await.unwrap());
    }
    // Expired a little apart, so each sweep's batch gives its stays back in a mixed order.
    diesel::sql_query(
        "UPDATE bookings SET hold_expires_at = now() - interval '1 minute'
                                            - random() * interval '10 seconds'",
    )
    .execute(&mut app.db.connect())
    .unwrap();
    let before = deadlocks(&app);

    let (first, second) = (app.worker("sweep-a"), app.worker("sweep-b"));
    let (a, b) = tokio::join!(first.bookings.expire_due(), second.bookings.expire_due());
    let swept = a.unwrap() + b.unwrap();

    assert_eq!(
        swept, HOLDS,
        "the two sweeps expired every hold between them"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM bookings WHERE status = 'held'"
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT coalesce(sum(reserved), 0)::bigint AS n FROM inventory_cells
                  WHERE unit_id = '{unit_id}'"
            )
        ),
        0,
        "every room came back"
    );
    // The statistics are flushed when a backend goes idle; give them that moment.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(deadlocks(&app), before, "no sweep was a deadlock victim");
}
