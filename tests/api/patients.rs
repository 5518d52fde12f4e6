//! #15, point 5: a hospital booking carries its patient (name, date of birth, Saudi ID,
//! Iqama or passport number), checked at the edge, stored once, and shown only to the
//! booking's customer, staff and that provider. The FHIR side is in `fhir.rs`.

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{
    TestApp, assert_problem, book, day, patient, problem_fields, spawn_app, token, unique_city,
};

/// A local hospital with one cardiology clinic open tomorrow and the day after, 10 to 12.
/// Returns (provider id, city, offers).
async fn clinic(app: &TestApp, admin: &str) -> (String, String, Vec<Value>) {
    let city = unique_city("patients");
    let hospital = json!({ "kind": "hospital", "name_ar": "مستشفى الشفاء", "name_en": "Shifa Hospital", "city": city, "adapter": "local" });
    let provider_id = app.post_ok("/v1/providers", admin, &hospital, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unit = json!({ "kind": "clinic_service", "name_ar": "قلب", "name_en": "Cardiology", "specialty": "cardiology", "practitioner": "Dr. Huda", "slot_minutes": 30, "price": "300.00" });
    let unit_id = app
        .post_ok(
            &format!("/v1/providers/{provider_id}/units"),
            admin,
            &unit,
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let every_day = json!(["sun", "mon", "tue", "wed", "thu", "fri", "sat"]);
    app.post_ok(
        &format!("/v1/providers/{provider_id}/units/{unit_id}/availability"),
        admin,
        &json!({ "from": day(1), "to": day(2), "day_start": "10:00", "day_end": "12:00", "weekdays": every_day }),
        200,
    )
    .await;
    let results: Value = app
        .search(&format!(
            "kind=hospital&city={city}&from={}&to={}",
            day(1),
            day(2)
        ))
        .await
        .json()
        .await
        .unwrap();
    let offers = results["offers"].as_array().unwrap().clone();
    assert!(offers.len() >= 4, "{results}");
    (provider_id, city, offers)
}

fn with_patient(offer: &Value, patient: Value) -> Value {
    json!({ "offer_id": offer["offer_id"], "patient": patient })
}

async fn refused_fields(app: &TestApp, token: &str, body: &Value) -> Vec<String> {
    let response = book(app, token, &uuid::Uuid::new_v4().to_string(), body).await;
    problem_fields(&assert_problem(response, 422, "validation.failed").await)
}

#[tokio::test]
async fn a_hospital_booking_needs_a_valid_patient_and_bad_numbers_name_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, offers) = clinic(&app, &admin).await;
    let customer = token(&app.register("patient-rules@example.com").await);
    let offer = &offers[0];

    assert_eq!(
        refused_fields(&app, &customer, &json!({ "offer_id": offer["offer_id"] })).await,
        ["patient"]
    );
    let mut bad = patient();
    for (id_type, number) in [
        ("national_id", "1000000009"),  // wrong check digit
        ("national_id", "2000000006"),  // an Iqama number as a national ID
        ("iqama", "1000000008"),        // and the other way round
        ("national_id", "100000008"),   // nine digits
        ("national_id", "10000000080"), // eleven
        ("passport", "AB12"),           // too short for a passport
    ] {
        bad["id_type"] = json!(id_type);
        bad["id_number"] = json!(number);
        assert_eq!(
            refused_fields(&app, &customer, &with_patient(offer, bad.clone())).await,
            ["patient.id_number"],
            "{id_type} {number}"
        );
    }
    // Every bad part named at once; the answer never repeats the number.
    let tomorrow = day(1);
    let response = book(
        &app,
        &customer,
        "patient-all-bad",
        &with_patient(
            offer,
            json!({ "full_name": " ", "birth_date": tomorrow, "id_type": "iqama", "id_number": "2000000007" }),
        ),
    )
    .await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("2000000007"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        problem_fields(&body),
        [
            "patient.full_name",
            "patient.birth_date",
            "patient.id_number"
        ]
    );
    assert_eq!(
        refused_fields(
            &app,
            &customer,
            &with_patient(
                offer,
                json!({ "full_name": "Old", "birth_date": "1880-01-01", "id_type": "national_id", "id_number": "1000000008" })
            )
        )
        .await,
        ["patient.birth_date"]
    );
    assert_eq!(
        refused_fields(
            &app,
            &customer,
            &with_patient(
                offer,
                json!({ "full_name": "X", "birth_date": "1990-01-01", "id_type": "driving_licence", "id_number": "1000000008" })
            )
        )
        .await,
        ["patient.id_type"]
    );

    // Arabic-Indic digits and spaces are read as the number.
    let response = book(
        &app,
        &customer,
        "patient-arabic-digits",
        &with_patient(
            offer,
            json!({ "full_name": "فاطمة الحربي", "birth_date": "1990-05-17", "id_type": "national_id", "id_number": "١٠٠ ٠٠٠ ٠٠٠٨" }),
        ),
    )
    .await;
    assert_eq!(response.status(), 201);
    let held: Value = response.json().await.unwrap();
    assert_eq!(
        held["patient"],
        json!({ "full_name": "فاطمة الحربي", "birth_date": "1990-05-17", "id_type": "national_id", "id_number": "1000000008" })
    );

    // A visitor with a passport.
    let response = book(
        &app,
        &customer,
        "patient-passport",
        &with_patient(
            &offers[1],
            json!({ "full_name": "Omar Khan", "birth_date": "1979-11-02", "id_type": "passport", "id_number": "ab 123 4567", "passport_country": "pak" }),
        ),
    )
    .await;
    assert_eq!(response.status(), 201);
    let visitor: Value = response.json().await.unwrap();
    assert_eq!(visitor["patient"]["id_number"], "AB1234567");
    assert_eq!(visitor["patient"]["passport_country"], "PAK");
}

#[tokio::test]
async fn a_hotel_stay_refuses_a_patient() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("nopatient");
    app.local_hotel(&admin, &city, "Stay", 2, "400.00", 10)
        .await;
    let customer = token(&app.register("hotel-patient@example.com").await);
    let offer = crate::helpers::stay_offer(&app, &city, 1, 3, 2).await;
    assert_eq!(
        refused_fields(&app, &customer, &with_patient(&offer, patient())).await,
        ["patient"]
    );
    let response = book(
        &app,
        &customer,
        "hotel-without-patient",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let held: Value = response.json().await.unwrap();
    assert!(held.get("patient").is_none(), "{held}");
}

#[tokio::test]
async fn the_patient_is_shown_to_the_customer_staff_and_that_provider_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (provider_id, city, offers) = clinic(&app, &admin).await;
    let (other_provider, _, _) = clinic(&app, &admin).await;
    let customer = token(&app.register("patient-owner@example.com").await);
    let stranger = token(&app.register("patient-stranger@example.com").await);
    let agent = token(&app.user_with_role(Role::Agent).await);
    let desk = app.provider_desk(&admin, &provider_id).await;
    let other_desk = app.provider_desk(&admin, &other_provider).await;

    let response = book(
        &app,
        &customer,
        "patient-visible",
        &with_patient(&offers[0], patient()),
    )
    .await;
    assert_eq!(response.status(), 201);
    let held: Value = response.json().await.unwrap();
    let reference = held["reference"].as_str().unwrap();
    let path = format!("/v1/bookings/{reference}");

    for (who, token) in [
        ("customer", &customer),
        ("agent", &agent),
        ("admin", &admin),
        ("provider", &desk),
    ] {
        let response = app.get_authed(&path, token).await;
        assert_eq!(response.status(), 200, "{who}");
        let booking: Value = response.json().await.unwrap();
        assert_eq!(booking["patient"], patient(), "{who}");
        // Lists show the number masked.
        let list: Value = app
            .get_authed("/v1/bookings", token)
            .await
            .json()
            .await
            .unwrap();
        let listed = list["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["reference"] == reference)
            .unwrap_or_else(|| panic!("{who}: {list}"));
        assert_eq!(listed["patient"]["id_number"], "••••••0008", "{who}");
        assert_eq!(listed["patient"]["full_name"], "Fatima Al-Harbi", "{who}");
    }
    for (who, token) in [
        ("another customer", &stranger),
        ("another provider", &other_desk),
    ] {
        assert_eq!(app.get_authed(&path, token).await.status(), 404, "{who}");
        let list = app
            .get_authed("/v1/bookings", token)
            .await
            .text()
            .await
            .unwrap();
        assert!(
            !list.contains("1000000008") && !list.contains(reference),
            "{who}: {list}"
        );
    }
    // Never in the public search.
    let search = app
        .search(&format!(
            "kind=hospital&city={city}&from={}&to={}",
            day(1),
            day(2)
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(search.contains("Shifa Hospital"), "{search}");
    assert!(
        !search.contains("Fatima") && !search.contains("1000000008"),
        "{search}"
    );
}

#[tokio::test]
async fn the_kept_answer_holds_no_patient_and_a_replay_reads_it_back() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, offers) = clinic(&app, &admin).await;
    let customer = token(&app.register("patient-replay@example.com").await);
    let body = with_patient(&offers[0], patient());
    let first = book(&app, &customer, "patient-replay-1", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["patient"]["id_number"], "1000000008");

    let mut conn = app.db.connect();
    #[derive(QueryableByName)]
    struct Kept {
        #[diesel(sql_type = diesel::sql_types::Text)]
        body: String,
    }
    let kept: Vec<Kept> = diesel::sql_query(
        "SELECT convert_from(response_body, 'UTF8') AS body FROM idempotency_keys \
         WHERE key = 'patient-replay-1'",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(kept.len(), 1);
    assert!(!kept[0].body.contains("1000000008"), "{}", kept[0].body);
    assert!(!kept[0].body.contains("Fatima"), "{}", kept[0].body);

    let replay = book(&app, &customer, "patient-replay-1", &body).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first);

    // A payment's answer carries the booking, and so its patient: kept without it too.
    let pay = |key: &'static str| {
        app.client
            .post(app.url(&format!(
                "/v1/bookings/{}/pay",
                first["id"].as_str().unwrap()
            )))
            .bearer_auth(&customer)
            .header("idempotency-key", key)
            .json(&crate::payments::card(crate::payments::CARD_OK))
            .send()
    };
    let paid = pay("patient-pay-1").await.unwrap();
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["booking"]["patient"], patient());
    let kept: Vec<Kept> = diesel::sql_query(
        "SELECT convert_from(response_body, 'UTF8') AS body FROM idempotency_keys \
         WHERE key = 'patient-pay-1'",
    )
    .load(&mut conn)
    .unwrap();
    assert!(!kept[0].body.contains("1000000008"), "{}", kept[0].body);
    let again = pay("patient-pay-1").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["booking"]["patient"], patient());
}

#[tokio::test]
async fn the_patient_is_purged_long_after_the_appointment_and_the_booking_stays() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, _, offers) = clinic(&app, &admin).await;
    let customer = token(&app.register("patient-purge@example.com").await);
    let mut references = Vec::new();
    for (offer, key) in offers[..2].iter().zip(["purge-old", "purge-new"]) {
        let response = book(&app, &customer, key, &with_patient(offer, patient())).await;
        assert_eq!(response.status(), 201);
        let held: Value = response.json().await.unwrap();
        references.push(held["reference"].as_str().unwrap().to_owned());
    }
    let mut conn = app.db.connect();
    let keep = app.settings.jobs.retention.clone();
    // The first appointment ended just over the retention ago (moved back in time here).
    diesel::sql_query(format!(
        "UPDATE bookings SET starts_at = now() - interval '{days} days' - interval '2 hours', \
         ends_at = now() - interval '{days} days' - interval '1 hour' WHERE reference = '{}'",
        references[0],
        days = keep.booking_patients_days
    ))
    .execute(&mut conn)
    .unwrap();
    let purged = wasit::worker::retention::purge_expired(&mut conn, &keep).unwrap();
    assert_eq!(purged.booking_patients, 1);

    let old: Value = app
        .get_authed(&format!("/v1/bookings/{}", references[0]), &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["reference"], references[0].as_str());
    assert!(old.get("patient").is_none(), "{old}");
    let new: Value = app
        .get_authed(&format!("/v1/bookings/{}", references[1]), &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(new["patient"], patient());
}
