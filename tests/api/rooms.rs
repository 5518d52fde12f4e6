//! Rooms with their guests (#15, point 2): a search asks for each room's adults and
//! children, room types price by occupancy, offers show a line per room and how many are
//! left, and a booking keeps each room's guests and lead guest, which the provider is told.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    TestApp, assert_problem, book, day, problem_fields, spawn_app, token, unique_city,
};

/// A hotel of ours with one room type for up to 4, 450.00 a night for two adults, 120.00
/// for each adult more, children up to 5 free and up to 11 at 60.00; `rooms` of them, open
/// for 30 nights. Returns the city. The browser test books two of its rooms.
pub async fn family_hotel(app: &TestApp, admin: &str, rooms: i32) -> String {
    let city = unique_city("fam");
    let provider = app
        .post_ok(
            "/v1/providers",
            admin,
            &json!({ "kind": "hotel", "name_ar": "فندق العائلة", "name_en": "Family Inn", "city": city, "adapter": "local" }),
            201,
        )
        .await;
    let provider_id = provider["id"].as_str().unwrap();
    let unit = app
        .post_ok(
            &format!("/v1/providers/{provider_id}/units"),
            admin,
            &json!({ "kind": "room_type", "name_ar": "جناح عائلي", "name_en": "Family suite", "max_guests": 4,
                "rooms": rooms, "nightly_price": "450.00",
                "occupancy_rates": { "base_adults": 2, "extra_adult": "120.00",
                    "child_bands": [{ "up_to_age": 5, "nightly": "0" }, { "up_to_age": 11, "nightly": "60.00" }] } }),
            201,
        )
        .await;
    assert_eq!(unit["occupancy_rates"]["base_adults"], 2, "{unit}");
    let unit_id = unit["id"].as_str().unwrap();
    let today = crate::helpers::riyadh_today();
    app.post_ok(
        &format!("/v1/providers/{provider_id}/units/{unit_id}/availability"),
        admin,
        &json!({ "from": today, "to": today + chrono::Duration::days(30) }),
        200,
    )
    .await;
    city
}

async fn search(app: &TestApp, city: &str, rooms: &str) -> reqwest::Response {
    app.search(&format!(
        "kind=hotel&city={city}&check_in={}&check_out={}&{rooms}",
        day(10),
        day(12)
    ))
    .await
}

#[tokio::test]
async fn two_rooms_with_their_own_guests_are_priced_room_by_room_and_booked_with_lead_guests() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = family_hotel(&app, &admin, 3).await;

    let results: Value = search(&app, &city, "rooms=2&occupancy=2,3&children=1:7,1:3")
        .await
        .json()
        .await
        .unwrap();
    let offer = &results["offers"][0];
    // Room 1: two adults, a 3-year-old (free) and a 7-year-old (60.00): 510.00 a night.
    // Room 2: three adults (one extra, 120.00): 570.00 a night. Two nights each.
    assert_eq!(
        offer["rooms"],
        json!([
            { "adults": 2, "children": [3, 7], "price": "1020.00" },
            { "adults": 3, "price": "1140.00" },
        ]),
        "{offer}"
    );
    assert_eq!(
        offer["price"]["total"], "2188.75",
        "2160.00 for the rooms, our fee and its VAT"
    );
    assert_eq!(offer["quantity"], 2);
    assert_eq!(offer["guests"], 7);
    assert_eq!(offer["available"], 3, "three suites free on every night");

    // The rooms must be the offer's; each gets its lead guest.
    let wrong = book(
        &app,
        &token(&app.register("family-wrong@example.com").await),
        &Uuid::new_v4().to_string(),
        &json!({ "offer_id": offer["offer_id"], "rooms": [
            { "lead_guest": "Sara Al-Harbi", "adults": 3 },
            { "lead_guest": "Omar Al-Harbi", "adults": 2, "children": [3, 7] },
        ] }),
    )
    .await;
    let problem = assert_problem(wrong, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["rooms"]);

    let customer = token(&app.register("family@example.com").await);
    let response = book(
        &app,
        &customer,
        &Uuid::new_v4().to_string(),
        &json!({ "offer_id": offer["offer_id"], "rooms": [
            { "lead_guest": "Sara Al-Harbi", "adults": 2, "children": [7, 3] },
            { "lead_guest": "Omar Al-Harbi", "adults": 3 },
        ] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["price"]["total"], "2188.75");
    let read: Value = app
        .get_authed(
            &format!("/v1/bookings/{}", booking["id"].as_str().unwrap()),
            &customer,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        read["rooms"],
        json!([
            { "lead_guest": "Sara Al-Harbi", "adults": 2, "children": [3, 7] },
            { "lead_guest": "Omar Al-Harbi", "adults": 3 },
        ])
    );
    // Two of the three suites are taken: one left.
    let after: Value = search(&app, &city, "guests=2").await.json().await.unwrap();
    assert_eq!(after["offers"][0]["available"], 1, "{after}");
}

#[tokio::test]
async fn a_room_too_full_for_the_room_type_finds_nothing_and_bad_occupancies_are_named() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = family_hotel(&app, &admin, 3).await;
    // Five in one room is more than the suite takes, however few the others.
    let results: Value = search(&app, &city, "occupancy=1,4&children=2:9")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results["offers"], json!([]), "{results}");
    for (query, field) in [
        ("occupancy=2,x", "occupancy"),
        ("rooms=3&occupancy=2,1", "occupancy"),
        ("occupancy=2&children=2:7", "children"),
        ("occupancy=2&children=1:18", "children"),
        ("occupancy=0", "occupancy"),
    ] {
        let problem = assert_problem(search(&app, &city, query).await, 400, "query.invalid").await;
        assert_eq!(problem_fields(&problem), [field], "{query}");
    }
}

#[tokio::test]
async fn the_provider_is_told_each_room_with_its_guests() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = family_hotel(&app, &admin, 3).await;
    let provider: Value = app
        .get_authed(&format!("/v1/providers?city={city}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let provider_id = provider["providers"][0]["id"].as_str().unwrap().to_owned();
    app.patch_ok(
        &format!("/v1/providers/{provider_id}"),
        &admin,
        &json!({ "webhook_url": "http://127.0.0.1:9/hooks" }),
    )
    .await;
    let results: Value = search(&app, &city, "occupancy=2,1")
        .await
        .json()
        .await
        .unwrap();
    let customer = token(&app.register("told@example.com").await);
    let response = book(
        &app,
        &customer,
        &Uuid::new_v4().to_string(),
        &json!({ "offer_id": results["offers"][0]["offer_id"], "rooms": [
            { "lead_guest": "Sara Al-Harbi", "adults": 2 },
            { "lead_guest": "Huda Al-Harbi", "adults": 1 },
        ] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    let id = booking["id"].as_str().unwrap();
    let agent = token(&app.user_with_role(wasit::auth::Role::Agent).await);
    app.confirm_paid_at_office(&agent, id).await;
    app.run_pending_jobs().await;
    use diesel::prelude::*;
    use wasit::schema::jobs::dsl as j;
    let hooks: Vec<Value> = j::jobs
        .filter(j::kind.eq("deliver_webhook"))
        .select(j::payload)
        .load(&mut app.db.connect())
        .unwrap();
    let confirmed = hooks
        .iter()
        .find(|h| h["event_type"] == "booking.confirmed")
        .unwrap_or_else(|| panic!("{hooks:?}"));
    assert_eq!(
        confirmed["data"]["rooms"],
        json!([
            { "lead_guest": "Sara Al-Harbi", "adults": 2 },
            { "lead_guest": "Huda Al-Harbi", "adults": 1 },
        ])
    );
}
