//! A hold is one commit (#20 points 1 and 3): its Idempotency-Key is taken inside the hold's
//! own transaction, so a twin waits for that commit and replays it, and a request that dies
//! leaves no key behind; a hold for rooms already gone is answered from one read, and a room
//! given back is holdable at once.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, book, join_all, spawn_app, stay_offer, token};

/// Committed keys named `key`, as any other connection sees them.
fn keys_named(app: &TestApp, key: &str) -> i64 {
    use wasit::schema::idempotency_keys::dsl as k;
    k::idempotency_keys
        .filter(k::key.eq(key))
        .count()
        .get_result(&mut app.db.connect())
        .unwrap()
}

fn bookings_of_unit(app: &TestApp, unit_id: &str) -> i64 {
    use wasit::schema::bookings::dsl as b;
    b::bookings
        .filter(b::unit_id.eq(unit_id.parse::<uuid::Uuid>().unwrap()))
        .count()
        .get_result(&mut app.db.connect())
        .unwrap()
}

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The server's connection sleeping in the trigger below, once it is there.
async fn sleeping_backend(app: &TestApp) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<Backend> = diesel::sql_query(
            "SELECT pid FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event = 'PgSleep'",
        )
        .load(&mut app.db.connect())
        .unwrap();
        if let Some(backend) = found.first() {
            return backend.pid;
        }
        assert!(
            Instant::now() < deadline,
            "the hold never reached its INSERT"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The key is not committed before the hold is: while the hold's transaction is under way
/// no other connection sees it, and when that connection dies mid-work (its backend
/// terminated, as a crash would leave it) nothing is left under the key, so the retry runs
/// at once (not after `idempotency.lock_timeout_secs`) and holds once.
#[tokio::test]
async fn a_hold_that_dies_mid_work_leaves_no_key_and_the_retry_holds_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Hilton", 3, "450.00", 10)
        .await;
    let customer = token(&app.register("crashing@example.com").await);
    let body = json!({ "offer_id": stay_offer(&app, "jeddah", 2, 4, 2).await["offer_id"] });
    // Every booking INSERT in this test's database stalls until its connection is killed.
    let mut conn = app.db.connect();
    conn.batch_execute(
        "CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$;
         CREATE TRIGGER stall BEFORE INSERT ON bookings FOR EACH ROW EXECUTE FUNCTION stall();",
    )
    .unwrap();

    let (first, ()) = tokio::join!(book(&app, &customer, "dies-mid-work", &body), async {
        let pid = sleeping_backend(&app).await;
        assert_eq!(
            keys_named(&app, "dies-mid-work"),
            0,
            "the key is written in the hold's own transaction, not committed before it"
        );
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
            .execute(&mut app.db.connect())
            .unwrap();
    });
    assert!(first.status().is_server_error(), "{}", first.status());
    assert_eq!(
        keys_named(&app, "dies-mid-work"),
        0,
        "nothing left under the key"
    );
    assert_eq!(bookings_of_unit(&app, &unit_id), 0);

    diesel::sql_query("DROP TRIGGER stall ON bookings")
        .execute(&mut conn)
        .unwrap();
    let retry = book(&app, &customer, "dies-mid-work", &body).await;
    assert_eq!(retry.status(), 201);
    assert!(
        retry.headers().get("idempotent-replayed").is_none(),
        "it ran"
    );
    let again = book(&app, &customer, "dies-mid-work", &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(bookings_of_unit(&app, &unit_id), 1);
    assert_eq!(keys_named(&app, "dies-mid-work"), 1);
}

/// Twenty-five requests with one key at once, for the hotel's last room: one booking, and
/// every request answered 201 with it. A twin waits on the key's row for the first one's
/// commit and replays its answer: none is told `idempotency.in_progress`, and none is told
/// `booking.sold_out` for the room its own first attempt took.
#[tokio::test]
async fn many_twins_of_one_hold_make_one_booking_and_all_get_its_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Hilton", 1, "450.00", 10)
        .await;
    let customer = token(&app.register("twins@example.com").await);
    let body = json!({ "offer_id": stay_offer(&app, "jeddah", 3, 5, 2).await["offer_id"] });
    let answers = join_all(
        (0..25)
            .map(|_| book(&app, &customer, "one-key-many-twins", &body))
            .collect(),
    )
    .await;
    let mut ids = std::collections::BTreeSet::new();
    let mut replayed = 0;
    for answer in answers {
        let status = answer.status().as_u16();
        replayed += usize::from(answer.headers().contains_key("idempotent-replayed"));
        let value: Value = answer.json().await.unwrap();
        assert_eq!(status, 201, "{value}");
        ids.insert(value["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(replayed, 24, "one ran, the others replayed it");
    assert_eq!(bookings_of_unit(&app, &unit_id), 1);
}

/// The loser's shortcut never outlives the room: once the last room is given back (a
/// cancellation, an expiry) the next hold gets it. A sold-out answer wrote nothing and is not
/// kept, so even a retry under the refused request's own key runs again and holds.
#[tokio::test]
async fn a_room_given_back_is_holdable_at_once_despite_the_sold_out_shortcut() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "jeddah", "Hilton", 1, "450.00", 10)
        .await;
    let first = token(&app.register("first@example.com").await);
    let second = token(&app.register("second@example.com").await);
    let body = json!({ "offer_id": stay_offer(&app, "jeddah", 2, 3, 2).await["offer_id"] });

    let held: Value = book(&app, &first, "first-hold", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_problem(
        book(&app, &second, "second-hold", &body).await,
        409,
        "booking.sold_out",
    )
    .await;
    assert_eq!(
        keys_named(&app, "second-hold"),
        0,
        "a sold-out answer is not kept"
    );

    let id = held["id"].as_str().unwrap();
    app.post_ok(
        &format!("/v1/bookings/{id}/cancel"),
        &first,
        &json!({}),
        200,
    )
    .await;
    let taken = book(&app, &second, "second-hold", &body).await;
    assert_eq!(taken.status(), 201, "the freed room, under the refused key");
    let taken: Value = taken.json().await.unwrap();

    // An expiry gives it back too, from the job worker: the next hold sees it at once.
    assert_problem(
        book(&app, &first, "after-expiry", &body).await,
        409,
        "booking.sold_out",
    )
    .await;
    diesel::sql_query(format!(
        "UPDATE bookings SET hold_expires_at = now() - interval '1 minute' WHERE id = '{}'",
        taken["id"].as_str().unwrap()
    ))
    .execute(&mut app.db.connect())
    .unwrap();
    app.worker("sweeper").bookings.expire_due().await.unwrap();
    let after_expiry = book(&app, &first, "after-expiry", &body).await;
    assert_eq!(after_expiry.status(), 201);
    assert_eq!(bookings_of_unit(&app, &unit_id), 3);
}
