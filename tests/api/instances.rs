//! Two instances of the service on one database (#18 point 3, in-process form): what a load
//! balancer spreading requests over `wasit serve` processes relies on. Each instance has its
//! own HTTP server, pool and caches; only PostgreSQL is shared.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{book, join_all, spawn_app, stay_offer, token, unique_city};

#[tokio::test]
async fn the_same_idempotency_key_sent_to_both_instances_at_once_makes_one_booking() {
    let first = spawn_app().await;
    let second = first.second_instance();
    let admin = first.admin_token().await;
    let city = unique_city("twoinst");
    first
        .local_hotel(&admin, &city, "Hilton", 30, "450.00", 30)
        .await;
    let customer = token(&first.register("two-instances@example.com").await);
    let offer = stay_offer(&first, &city, 10, 12, 2).await;
    let body = json!({ "offer_id": offer["offer_id"] });
    for _ in 0..20 {
        let key = Uuid::new_v4().to_string();
        let answers = join_all(vec![
            book(&first, &customer, &key, &body),
            book(&second, &customer, &key, &body),
        ])
        .await;
        let mut booked = Vec::new();
        for answer in answers {
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap();
            match status {
                // The winner's answer, or its replay on the other instance.
                201 => booked.push(body["id"].as_str().unwrap().to_owned()),
                // The other instance saw the key while the first was still working on it.
                409 => assert_eq!(body["code"], "idempotency.in_progress", "{body}"),
                other => panic!("{other}: {body}"),
            }
        }
        assert!(!booked.is_empty(), "neither instance booked");
        booked.dedup();
        assert_eq!(booked.len(), 1, "two bookings for one key: {booked:?}");
    }
    let mut conn = first.db.connect();
    use diesel::prelude::*;
    let bookings: i64 = wasit::schema::bookings::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(bookings, 20, "one booking per key, over 20 keys");
}
