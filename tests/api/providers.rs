//! Admins manage providers, units and local availability.

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{assert_problem, day, problem_fields, spawn_app};

fn hotel(city: &str) -> Value {
    json!({ "kind": "hotel", "name_ar": "فندق الريتز", "name_en": "Ritz", "city": city, "adapter": "local" })
}

#[tokio::test]
async fn an_admin_creates_a_provider_and_sees_its_secret_once() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let created = app
        .post_ok("/v1/providers", &token, &hotel("Riyadh"), 201)
        .await;
    let secret = created["webhook_secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 30,
        "{secret}"
    );
    assert_eq!(created["city"], "riyadh");
    assert_eq!(created["timezone"], "Asia/Riyadh");
    assert_eq!(created["active"], true);

    let id = created["id"].as_str().unwrap();
    let fetched: Value = app
        .get_authed(&format!("/v1/providers/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name_ar"], "فندق الريتز");
    assert!(
        fetched.get("webhook_secret").is_none(),
        "the secret is shown only once"
    );
    assert!(!fetched.to_string().contains(secret));

    let rotated = app
        .post_ok(
            &format!("/v1/providers/{id}/webhook-secret"),
            &token,
            &json!({}),
            200,
        )
        .await;
    let new_secret = rotated["webhook_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let mut conn = app.db.connect();
    let previous: Option<String> = wasit::schema::providers::table
        .select(wasit::schema::providers::previous_webhook_secret)
        .first(&mut conn)
        .unwrap();
    assert_eq!(
        previous.as_deref(),
        Some(secret),
        "the old secret is kept for the overlap"
    );
}

#[tokio::test]
async fn providers_are_listed_filtered_updated_and_deactivated() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let riyadh = app
        .post_ok("/v1/providers", &token, &hotel("riyadh"), 201)
        .await;
    app.post_ok("/v1/providers", &token, &hotel("jeddah"), 201)
        .await;
    let id = riyadh["id"].as_str().unwrap();

    let listed: Value = app
        .get_authed("/v1/providers?city=jeddah", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["providers"].as_array().unwrap().len(), 1);
    assert_eq!(listed["providers"][0]["city"], "jeddah");

    let patch = app
        .client
        .patch(app.url(&format!("/v1/providers/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "name_en": "Ritz Riyadh", "webhook_url": "https://ritz.example/hooks" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    let updated: Value = patch.json().await.unwrap();
    assert_eq!(updated["name_en"], "Ritz Riyadh");
    assert_eq!(updated["webhook_url"], "https://ritz.example/hooks");
    assert_eq!(updated["name_ar"], "فندق الريتز", "untouched fields stay");

    let cleared: Value = app
        .client
        .patch(app.url(&format!("/v1/providers/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "webhook_url": null }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["webhook_url"], Value::Null);

    let deactivated = app
        .post_ok(
            &format!("/v1/providers/{id}/deactivate"),
            &token,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(deactivated["active"], false);
    let active: Value = app
        .get_authed("/v1/providers?active=true", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["providers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn only_admins_manage_providers() {
    let app = spawn_app().await;
    for role in [Role::Customer, Role::Agent, Role::Provider] {
        let session = app.user_with_role(role).await;
        let token = session["access_token"].as_str().unwrap();
        assert_problem(
            app.post_json_authed("/v1/providers", token, &hotel("riyadh"))
                .await,
            403,
            "auth.forbidden",
        )
        .await;
        assert_problem(
            app.get_authed("/v1/providers", token).await,
            403,
            "auth.forbidden",
        )
        .await;
    }
    assert_problem(app.get("/v1/providers").await, 401, "auth.missing_token").await;
}

#[tokio::test]
async fn bad_provider_input_names_the_field() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let fhir_hotel = json!({ "kind": "hotel", "name_ar": "ف", "name_en": "F", "city": "riyadh", "adapter": "fhir",
        "adapter_settings": { "base_url": "https://fhir.example/R4", "schedules": [{ "schedule_id": "s1", "price": "100" }] } });
    let cases = [
        (
            json!({ "kind": "hotel", "name_ar": "ف", "name_en": "F", "city": "Riyadh City!", "adapter": "local" }),
            "city",
        ),
        (
            json!({ "kind": "hotel", "name_ar": "ف", "name_en": "F", "city": "riyadh", "adapter": "local", "timezone": "Mars/Olympus" }),
            "timezone",
        ),
        (
            json!({ "kind": "hotel", "name_ar": "", "name_en": "F", "city": "riyadh", "adapter": "local" }),
            "name_ar",
        ),
        (
            json!({ "kind": "hotel", "name_ar": "ف", "name_en": "F", "city": "riyadh", "adapter": "soap" }),
            "adapter",
        ),
        (
            json!({ "kind": "castle", "name_ar": "ف", "name_en": "F", "city": "riyadh", "adapter": "local" }),
            "kind",
        ),
        (fhir_hotel, "adapter"),
        (
            json!({ "kind": "hospital", "name_ar": "م", "name_en": "H", "city": "riyadh", "adapter": "fhir",
            "adapter_settings": { "schedules": [] } }),
            "adapter_settings",
        ),
        (
            json!({ "kind": "hospital", "name_ar": "م", "name_en": "H", "city": "riyadh", "adapter": "fhir",
            "adapter_settings": { "base_url": "not a url", "schedules": [{ "schedule_id": "s", "price": "1" }] } }),
            "adapter_settings.base_url",
        ),
        (
            json!({ "kind": "hotel", "name_ar": "ف", "name_en": "F", "city": "riyadh", "adapter": "caldav",
            "adapter_settings": { "base_url": "https://dav.example", "room_types": [{ "code": "d", "calendar_path": "/d/", "name_ar": "د", "name_en": "D", "rooms": 0, "max_guests": 2, "nightly_price": "100" }] } }),
            "adapter_settings.room_types[0]",
        ),
        (
            json!({ "kind": "hotel", "name_ar": "ف", "name_en": "F", "city": "riyadh", "adapter": "local", "webhook_url": "ftp://x" }),
            "webhook_url",
        ),
    ];
    for (body, field) in cases {
        let problem = assert_problem(
            app.post_json_authed("/v1/providers", &token, &body).await,
            422,
            "validation.failed",
        )
        .await;
        let fields = problem_fields(&problem);
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{body}: expected {field}, got {fields:?}"
        );
    }
    let mut conn = app.db.connect();
    let count: i64 = wasit::schema::providers::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(count, 0, "nothing half-written");
}

#[tokio::test]
async fn adapter_credentials_are_stored_but_never_shown() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let body = json!({ "kind": "hotel", "name_ar": "ف", "name_en": "Dav Hotel", "city": "makkah", "adapter": "caldav",
        "adapter_settings": { "base_url": "https://dav.example", "username": "office", "password": "s3cret-dav-pass",
            "room_types": [{ "code": "d", "calendar_path": "/d/", "name_ar": "د", "name_en": "D", "rooms": 3, "max_guests": 2, "nightly_price": "300.00" }] } });
    let created = app.post_ok("/v1/providers", &token, &body, 201).await;
    assert_eq!(created["adapter_settings"]["password"], "[REDACTED]");
    assert_eq!(created["adapter_settings"]["username"], "office");
    let listed = app
        .get_authed("/v1/providers", &token)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("s3cret-dav-pass"));
    let mut conn = app.db.connect();
    let stored: Value = wasit::schema::providers::table
        .select(wasit::schema::providers::adapter_settings)
        .first(&mut conn)
        .unwrap();
    assert_eq!(
        stored["password"], "s3cret-dav-pass",
        "kept so the adapter can log in"
    );
}

#[tokio::test]
async fn units_fit_their_provider() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let hotel_id = app
        .post_ok("/v1/providers", &token, &hotel("riyadh"), 201)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clinic = json!({ "kind": "clinic_service", "name_ar": "قلب", "name_en": "Cardiology", "specialty": "cardiology", "slot_minutes": 30, "price": "300.00" });
    let problem = assert_problem(
        app.post_json_authed(&format!("/v1/providers/{hotel_id}/units"), &token, &clinic)
            .await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["kind"]);

    let bad_room = json!({ "kind": "room_type", "name_ar": "غ", "name_en": "R", "max_guests": 0, "rooms": 5, "nightly_price": "12.345" });
    let problem = assert_problem(
        app.post_json_authed(
            &format!("/v1/providers/{hotel_id}/units"),
            &token,
            &bad_room,
        )
        .await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["max_guests", "nightly_price"]);

    let dav = json!({ "kind": "hotel", "name_ar": "ف", "name_en": "Dav", "city": "makkah", "adapter": "caldav",
        "adapter_settings": { "base_url": "https://dav.example", "room_types": [{ "code": "d", "calendar_path": "/d/", "name_ar": "د", "name_en": "D", "rooms": 3, "max_guests": 2, "nightly_price": "300.00" }] } });
    let dav_id = app.post_ok("/v1/providers", &token, &dav, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let room = json!({ "kind": "room_type", "name_ar": "غ", "name_en": "R", "max_guests": 2, "rooms": 5, "nightly_price": "100" });
    assert_problem(
        app.post_json_authed(&format!("/v1/providers/{dav_id}/units"), &token, &room)
            .await,
        409,
        "provider.not_local",
    )
    .await;

    let missing = uuid::Uuid::new_v4();
    assert_problem(
        app.post_json_authed(&format!("/v1/providers/{missing}/units"), &token, &room)
            .await,
        404,
        "resource.not_found",
    )
    .await;
}

#[tokio::test]
async fn nights_open_close_and_never_drop_below_what_is_reserved() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let (provider_id, unit_id) = app
        .local_hotel(&token, "jeddah", "Hilton", 5, "450.00", 10)
        .await;
    let base = format!("/v1/providers/{provider_id}/units/{unit_id}/availability");
    let cells: Value = app
        .get_authed(&format!("{base}?from={}&to={}", day(0), day(9)), &token)
        .await
        .json()
        .await
        .unwrap();
    let cells = cells["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 10);
    assert!(
        cells
            .iter()
            .all(|c| c["capacity"] == 5 && c["reserved"] == 0)
    );
    // Nights start at local midnight in Riyadh: 21:00 UTC the evening before.
    assert!(
        cells[0]["starts_at"]
            .as_str()
            .unwrap()
            .ends_with("T21:00:00Z"),
        "{}",
        cells[0]
    );

    let mut conn = app.db.connect();
    diesel::sql_query("UPDATE inventory_cells SET reserved = 3")
        .execute(&mut conn)
        .unwrap();
    let shrink = app
        .post_json_authed(
            &base,
            &token,
            &json!({ "from": day(0), "to": day(2), "rooms": 2 }),
        )
        .await;
    assert_problem(shrink, 409, "inventory.below_reserved").await;

    let closed = app
        .post_ok(
            &format!("{base}/close"),
            &token,
            &json!({ "from": day(3), "to": day(4) }),
            200,
        )
        .await;
    assert_eq!(closed["cells_closed"], 2);
    let cells: Value = app
        .get_authed(&format!("{base}?from={}&to={}", day(3), day(4)), &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        cells["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["capacity"] == 3 && c["reserved"] == 3)
    );

    // The database itself refuses an overbooked cell, whatever the code does.
    let overbook =
        diesel::sql_query("UPDATE inventory_cells SET reserved = capacity + 1").execute(&mut conn);
    assert!(
        overbook
            .unwrap_err()
            .to_string()
            .contains("inventory_cells_reserved_within_capacity")
    );
}

#[tokio::test]
async fn clinic_slots_open_within_working_hours_and_never_overlap() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let hospital = json!({ "kind": "hospital", "name_ar": "مستشفى", "name_en": "Clinic", "city": "riyadh", "adapter": "local" });
    let provider_id = app.post_ok("/v1/providers", &token, &hospital, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unit = json!({ "kind": "clinic_service", "name_ar": "قلب", "name_en": "Cardiology", "specialty": "cardiology", "practitioner": "Dr. Huda", "slot_minutes": 30, "price": "300.00" });
    let unit_id = app
        .post_ok(
            &format!("/v1/providers/{provider_id}/units"),
            &token,
            &unit,
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/v1/providers/{provider_id}/units/{unit_id}/availability");
    let every_day = json!(["sun", "mon", "tue", "wed", "thu", "fri", "sat"]);
    let opened = app
        .post_ok(&base, &token, &json!({ "from": day(1), "to": day(2), "day_start": "09:00", "day_end": "12:00", "weekdays": every_day }), 200)
        .await;
    assert_eq!(opened["cells_written"], 12, "2 days x 6 half-hours");
    // Opening the same hours again is idempotent.
    app.post_ok(&base, &token, &json!({ "from": day(1), "to": day(2), "day_start": "09:00", "day_end": "12:00", "weekdays": every_day }), 200)
        .await;
    let shifted = app
        .post_json_authed(&base, &token, &json!({ "from": day(1), "to": day(1), "day_start": "09:15", "day_end": "10:15", "weekdays": every_day }))
        .await;
    assert_problem(shifted, 409, "inventory.overlap").await;

    let bad = app
        .post_json_authed(&base, &token, &json!({ "from": day(1), "to": day(0), "day_start": "9am", "weekdays": ["someday"], "rooms": 2 }))
        .await;
    let problem = assert_problem(bad, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["to", "day_start", "weekdays[0]"]);
}

/// Issue #15: offers, bookings and webhooks show a unit by a readable code, not its UUID.
#[tokio::test]
async fn units_have_readable_codes_that_offers_and_bookings_show() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let hotel_id = app
        .post_ok("/v1/providers", &token, &hotel("tabuk"), 201)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let units = format!("/v1/providers/{hotel_id}/units");
    let room = |name: &str| json!({ "kind": "room_type", "name_ar": "غرفة", "name_en": name, "max_guests": 2, "rooms": 3, "nightly_price": "200.00" });
    // Made from the English name, then made unique within the provider.
    let first = app
        .post_ok(&units, &token, &room("Deluxe Double"), 201)
        .await;
    assert_eq!(first["code"], "deluxe-double");
    let second = app
        .post_ok(&units, &token, &room("Deluxe  double!"), 201)
        .await;
    assert_eq!(second["code"], "deluxe-double-2");
    let arabic_only = app.post_ok(&units, &token, &room("جناح"), 201).await;
    assert_eq!(arabic_only["code"], "unit");
    // Or chosen; a chosen code taken already is a conflict, a bad one is named.
    let mut chosen = room("Sea view");
    chosen["code"] = json!("sea-view");
    let sea = app.post_ok(&units, &token, &chosen, 201).await;
    assert_eq!(sea["code"], "sea-view");
    assert_problem(
        app.post_json_authed(&units, &token, &chosen).await,
        409,
        "unit.code_taken",
    )
    .await;
    for bad in ["Sea View", "sea--view", "-sea", "بحر", ""] {
        chosen["code"] = json!(bad);
        let problem = assert_problem(
            app.post_json_authed(&units, &token, &chosen).await,
            422,
            "validation.failed",
        )
        .await;
        assert_eq!(problem_fields(&problem), ["code"], "{bad}");
    }
    // Another provider may use the same code.
    let other = app
        .post_ok("/v1/providers", &token, &hotel("tabuk"), 201)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    chosen["code"] = json!("sea-view");
    app.post_ok(
        &format!("/v1/providers/{other}/units"),
        &token,
        &chosen,
        201,
    )
    .await;
    // The database holds the rule too.
    let mut conn = app.db.connect();
    let refused = diesel::sql_query(format!(
        "UPDATE units SET code = 'Sea View' WHERE id = '{}'",
        sea["id"].as_str().unwrap()
    ))
    .execute(&mut conn);
    assert!(
        refused.is_err(),
        "the CHECK refuses a code that is not a slug"
    );

    // The offer and the booking show the code; the unit is still addressed by its id.
    let sea_id = sea["id"].as_str().unwrap();
    app.post_ok(
        &format!("{units}/{sea_id}/availability"),
        &token,
        &json!({ "from": day(0), "to": day(5) }),
        200,
    )
    .await;
    let results: Value = app
        .search(&format!(
            "kind=hotel&city=tabuk&check_in={}&check_out={}&guests=2",
            day(2),
            day(3)
        ))
        .await
        .json()
        .await
        .unwrap();
    let offer = &results["offers"][0];
    assert_eq!(offer["unit"]["code"], "sea-view", "{results}");
    let customer = crate::helpers::token(&app.register("codes@example.com").await);
    let booking: Value = crate::helpers::book(
        &app,
        &customer,
        "codes",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(booking["status"], "held", "{booking}");
    assert_eq!(booking["unit"]["code"], "sea-view");
    let terms: Value = app
        .get(&format!(
            "/v1/offers/{}",
            offer["offer_id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(terms["unit_code"], "sea-view");
}

/// An outside hotel's room types and an outside hospital's schedules are shown by codes the
/// office gives them, as readable as our own units' and never shared within the provider.
#[tokio::test]
async fn outside_providers_name_their_units_by_readable_codes() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let room = |code: &str| json!({ "code": code, "calendar_path": format!("/{code}/"), "name_ar": "غ", "name_en": "R", "rooms": 3, "max_guests": 2, "nightly_price": "300.00" });
    let dav = |rooms: Value| {
        json!({ "kind": "hotel", "name_ar": "ف", "name_en": "Dav", "city": "makkah", "adapter": "caldav",
            "adapter_settings": { "base_url": "https://dav.example", "room_types": rooms } })
    };
    for (rooms, field) in [
        (
            json!([room("Deluxe King")]),
            "adapter_settings.room_types[0].code",
        ),
        (
            json!([room("deluxe"), room("std"), room("deluxe")]),
            "adapter_settings.room_types[2].code",
        ),
    ] {
        let problem = assert_problem(
            app.post_json_authed("/v1/providers", &token, &dav(rooms))
                .await,
            422,
            "validation.failed",
        )
        .await;
        assert_eq!(problem_fields(&problem), [field]);
    }
    app.post_ok(
        "/v1/providers",
        &token,
        &dav(json!([room("deluxe-king"), room("std")])),
        201,
    )
    .await;

    let fhir = |code: &str| {
        json!({ "kind": "hospital", "name_ar": "م", "name_en": "Fhir", "city": "makkah", "adapter": "fhir",
            "adapter_settings": { "base_url": "https://fhir.example/R4",
                "schedules": [{ "schedule_id": "0c4f6f54-6c1a-4d2e-9a1b-3f1e2d7c8b9a", "code": code, "price": "100" }] } })
    };
    let problem = assert_problem(
        app.post_json_authed("/v1/providers", &token, &fhir("Cardiology Ali"))
            .await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        ["adapter_settings.schedules[0].code"]
    );
    let saved = app
        .post_ok("/v1/providers", &token, &fhir("cardiology-ali"), 201)
        .await;
    assert_eq!(
        saved["adapter_settings"]["schedules"][0]["code"],
        "cardiology-ali"
    );
}

/// Units made at once from one name never get one code: the provider's row lock orders
/// them, and each takes the next free suffix.
#[tokio::test]
async fn units_made_at_once_from_one_name_get_distinct_codes() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let hotel_id = app
        .post_ok("/v1/providers", &token, &hotel("hail"), 201)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let units = format!("/v1/providers/{hotel_id}/units");
    let room = json!({ "kind": "room_type", "name_ar": "غرفة", "name_en": "Twin Room", "max_guests": 2, "rooms": 3, "nightly_price": "200.00" });
    let answers = crate::helpers::join_all(
        (0..6)
            .map(|_| app.post_json_authed(&units, &token, &room))
            .collect(),
    )
    .await;
    let mut codes = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), 201);
        let unit: Value = answer.json().await.unwrap();
        codes.push(unit["code"].as_str().unwrap().to_owned());
    }
    codes.sort();
    assert_eq!(
        codes,
        [
            "twin-room",
            "twin-room-2",
            "twin-room-3",
            "twin-room-4",
            "twin-room-5",
            "twin-room-6"
        ]
    );
}

/// Issue #19, point 2: providers have an address and a hotel its check-in and check-out
/// times, which admins set on create and patch (a hospital's appointments have their own).
#[tokio::test]
async fn admins_give_providers_an_address_and_hotels_their_times() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut body = hotel("abha");
    body["address_ar"] = json!("طريق الملك فهد، أبها");
    body["address_en"] = json!("King Fahd Road, Abha");
    body["check_in_time"] = json!("15:00");
    let created = app.post_ok("/v1/providers", &token, &body, 201).await;
    assert_eq!(created["address_en"], "King Fahd Road, Abha");
    assert_eq!(created["check_in_time"], "15:00");
    assert_eq!(created["check_out_time"], Value::Null);
    let path = format!("/v1/providers/{}", created["id"].as_str().unwrap());
    let patched = app
        .patch_ok(
            &path,
            &token,
            &json!({ "check_out_time": "12:00", "check_in_time": null, "address_ar": "" }),
        )
        .await;
    assert_eq!(patched["check_out_time"], "12:00");
    assert_eq!(patched["check_in_time"], Value::Null);
    assert_eq!(patched["address_ar"], "");
    assert_eq!(patched["address_en"], "King Fahd Road, Abha");

    let bad = app
        .post_json_authed("/v1/providers", &token, &json!({ "kind": "hospital", "name_ar": "م", "name_en": "H", "city": "abha", "adapter": "local", "check_in_time": "15:00", "address_en": "Line\nbreak" }))
        .await;
    let problem = assert_problem(bad, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["address_en", "check_in_time"]);
    let request = app
        .client
        .patch(format!("{}{path}", app.address))
        .bearer_auth(&token)
        .json(&json!({ "check_out_time": "3pm" }));
    let problem = assert_problem(request.send().await.unwrap(), 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["check_out_time"]);
}
