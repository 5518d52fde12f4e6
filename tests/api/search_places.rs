//! Search that helps (#19, point 4): cities by name, specialties per city, distances to a
//! landmark, photos, sort and filters, and empty answers that say what would help.

use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{TestApp, assert_problem, day, problem_fields, spawn_app, token};

/// A tiny PNG's signature and header: the server judges photos by their first bytes.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00";
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00";

fn offers(results: &Value) -> &Vec<Value> {
    results["offers"].as_array().unwrap()
}

async fn stay(app: &TestApp, city: &str, extra: &str) -> Value {
    let response = app
        .search(&format!(
            "kind=hotel&city={city}&check_in={}&check_out={}&guests=2{extra}",
            day(10),
            day(12)
        ))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn place(app: &TestApp, admin: &str, provider_id: &str, position: Option<(f64, f64)>) {
    let (latitude, longitude) = position.unzip();
    app.patch_ok(
        &format!("/v1/providers/{provider_id}"),
        admin,
        &json!({ "latitude": latitude, "longitude": longitude }),
    )
    .await;
}

#[tokio::test]
async fn offers_carry_the_distance_to_the_landmark_and_sort_nearest_first() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (near, _) = app
        .local_hotel(&admin, "makkah", "Ajyad", 5, "900.00", 20)
        .await;
    let (far, _) = app
        .local_hotel(&admin, "makkah", "Aziziyah", 5, "300.00", 20)
        .await;
    let (unplaced, _) = app
        .local_hotel(&admin, "makkah", "Nowhere", 5, "100.00", 20)
        .await;
    place(&app, &admin, &near, Some((21.4180, 39.8260))).await;
    place(&app, &admin, &far, Some((21.4020, 39.8770))).await;
    let (riyadh, _) = app
        .local_hotel(&admin, "riyadh", "Olaya", 5, "500.00", 20)
        .await;
    place(&app, &admin, &riyadh, Some((24.6945, 46.6855))).await;

    let cheapest = stay(&app, "makkah", "").await;
    let order: Vec<&str> = offers(&cheapest)
        .iter()
        .map(|o| o["provider"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [unplaced.as_str(), far.as_str(), near.as_str()]);
    let haram = &offers(&cheapest)[2]["distance"];
    assert_eq!(haram["to"], "landmark");
    assert_eq!(haram["name_en"], "Al-Masjid al-Haram");
    assert_eq!(haram["name_ar"], "المسجد الحرام");
    assert_eq!(haram["km"], 0.5, "Ajyad is half a kilometre from the Haram");
    assert_eq!(offers(&cheapest)[1]["distance"]["km"], 5.7);
    assert!(
        offers(&cheapest)[0].get("distance").is_none(),
        "not placed: no distance"
    );

    let nearest = stay(&app, "makkah", "&sort=distance").await;
    let order: Vec<&str> = offers(&nearest)
        .iter()
        .map(|o| o["provider"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [near.as_str(), far.as_str(), unplaced.as_str()]);

    let centre = stay(&app, "riyadh", "").await;
    let distance = &offers(&centre)[0]["distance"];
    assert_eq!(distance["to"], "city_centre", "Riyadh has no landmark");
    assert_eq!(distance["name_en"], "Riyadh");
    assert_eq!(distance["km"], 2.4);
}

#[tokio::test]
async fn a_position_is_both_coordinates_within_range() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let half = json!({ "kind": "hotel", "name_ar": "ف", "name_en": "Half", "city": "jeddah", "adapter": "local", "latitude": 21.5 });
    let body = assert_problem(
        app.post_json_authed("/v1/providers", &admin, &half).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&body), ["longitude"]);
    let (hotel, _) = app
        .local_hotel(&admin, "jeddah", "Corniche", 2, "300.00", 5)
        .await;
    let response = app
        .client
        .patch(app.url(&format!("/v1/providers/{hotel}")))
        .bearer_auth(&admin)
        .json(&json!({ "latitude": 95.0, "longitude": 39.1 }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 422, "validation.failed").await;
    assert_eq!(problem_fields(&body), ["latitude"]);
    place(&app, &admin, &hotel, Some((21.568, 39.11))).await;
    let cleared = app
        .patch_ok(
            &format!("/v1/providers/{hotel}"),
            &admin,
            &json!({ "latitude": null, "longitude": null }),
        )
        .await;
    assert_eq!(cleared["latitude"], Value::Null);
    assert_eq!(cleared["longitude"], Value::Null);
}

async fn put_photo(
    app: &TestApp,
    token: &str,
    provider_id: &str,
    kind: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/v1/admin/providers/{provider_id}/photo")))
        .bearer_auth(token)
        .header("content-type", kind)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_uploads_a_photo_that_anyone_gets_with_an_etag() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (hotel, _) = app
        .local_hotel(&admin, "jeddah", "Corniche", 2, "300.00", 20)
        .await;
    assert!(
        offers(&stay(&app, "jeddah", "").await)[0]["provider"]["photo_url"].is_null(),
        "no photo yet"
    );

    let saved = put_photo(&app, &admin, &hotel, "image/png", PNG.to_vec()).await;
    assert_eq!(saved.status(), 200);
    let provider: Value = saved.json().await.unwrap();
    let url = provider["photo_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("/v1/providers/{hotel}/photo?v=")),
        "{url}"
    );
    assert_eq!(
        offers(&stay(&app, "jeddah", "").await)[0]["provider"]["photo_url"],
        url.as_str(),
        "search answers link the new photo"
    );

    let photo = app.get(&url).await;
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/png");
    assert!(
        photo.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = photo.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(photo.bytes().await.unwrap().as_ref(), PNG);
    let again = app
        .client
        .get(app.url(&url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // A new photo is a new URL, and the old ETag no longer matches.
    let replaced = put_photo(&app, &admin, &hotel, "image/jpeg", JPEG.to_vec()).await;
    assert_eq!(replaced.status(), 200);
    let newer: Value = replaced.json().await.unwrap();
    assert_ne!(newer["photo_url"], url.as_str());
    let fresh = app
        .client
        .get(app.url(&format!("/v1/providers/{hotel}/photo")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(fresh.headers()["content-type"], "image/jpeg");
}

#[tokio::test]
async fn a_photo_must_be_an_image_of_its_type_small_enough_and_sent_by_an_admin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (hotel, _) = app
        .local_hotel(&admin, "jeddah", "Corniche", 2, "300.00", 5)
        .await;
    assert_problem(
        put_photo(&app, &admin, &hotel, "image/gif", b"GIF89a....".to_vec()).await,
        415,
        "request.unsupported_media_type",
    )
    .await;
    let body = assert_problem(
        put_photo(&app, &admin, &hotel, "image/png", JPEG.to_vec()).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&body), ["photo"], "declared PNG, sent JPEG");
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    assert_problem(
        put_photo(&app, &admin, &hotel, "image/png", svg).await,
        422,
        "validation.failed",
    )
    .await;
    let mut huge = PNG.to_vec();
    huge.resize(600 * 1024, 0);
    assert_problem(
        put_photo(&app, &admin, &hotel, "image/png", huge).await,
        413,
        "request.too_large",
    )
    .await;
    let customer = token(&app.user_with_role(Role::Customer).await);
    assert_problem(
        put_photo(&app, &customer, &hotel, "image/png", PNG.to_vec()).await,
        403,
        "auth.forbidden",
    )
    .await;
    let nobody = uuid::Uuid::new_v4();
    assert_problem(
        put_photo(&app, &admin, &nobody.to_string(), "image/png", PNG.to_vec()).await,
        404,
        "resource.not_found",
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/providers/{hotel}/photo")).await,
        404,
        "resource.not_found",
    )
    .await;
}

#[tokio::test]
async fn filters_keep_what_they_say_and_bad_values_are_named() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (cheap, _) = app
        .local_hotel(&admin, "jeddah", "Cheap", 5, "200.00", 20)
        .await;
    let (dear, _) = app
        .local_hotel(&admin, "jeddah", "Dear", 5, "800.00", 20)
        .await;
    // Paid at the hotel, and refunds nothing once booked.
    app.patch_ok(
        &format!("/v1/providers/{dear}"),
        &admin,
        &json!({ "prepaid": false, "cancellation_policy": [] }),
    )
    .await;
    let ids = |results: &Value| -> Vec<String> {
        offers(results)
            .iter()
            .map(|o| o["provider"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Two nights: 400 + 25 + 3.75 and 1600 + 25 + 3.75.
    assert_eq!(
        ids(&stay(&app, "jeddah", "").await),
        [cheap.as_str(), dear.as_str()]
    );
    assert_eq!(
        ids(&stay(&app, "jeddah", "&price_max=428.75").await),
        [cheap.as_str()]
    );
    assert_eq!(
        ids(&stay(&app, "jeddah", "&price_min=428.76").await),
        [dear.as_str()]
    );
    assert_eq!(
        ids(&stay(&app, "jeddah", "&pay_at_provider=true").await),
        [dear.as_str()]
    );
    assert_eq!(
        ids(&stay(&app, "jeddah", "&free_cancellation=true").await),
        [cheap.as_str()]
    );
    let none = stay(
        &app,
        "jeddah",
        "&free_cancellation=true&pay_at_provider=true",
    )
    .await;
    assert!(offers(&none).is_empty());
    assert_eq!(none["hints"], json!(["fewer_filters"]));

    for (query, field) in [
        ("&sort=stars", "sort"),
        ("&price_min=cheap", "price_min"),
        ("&price_max=-5", "price_max"),
        ("&price_min=500&price_max=100", "price_max"),
        ("&free_cancellation=maybe", "free_cancellation"),
        ("&pay_at_provider=1", "pay_at_provider"),
    ] {
        let response = app
            .search(&format!(
                "kind=hotel&city=jeddah&check_in={}&check_out={}&guests=2{query}",
                day(10),
                day(12)
            ))
            .await;
        let body = assert_problem(response, 400, "query.invalid").await;
        assert_eq!(problem_fields(&body), [field], "{query}");
    }
}

#[tokio::test]
async fn empty_answers_say_what_would_help() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, unit) = app
        .local_hotel(&admin, "jeddah", "Corniche", 1, "300.00", 5)
        .await;
    let hints = |results: Value| {
        assert!(offers(&results).is_empty(), "{results}");
        results["hints"].clone()
    };
    let search = |query: String| {
        let app = &app;
        async move { app.search(&query).await.json::<Value>().await.unwrap() }
    };
    let hotel = |city: &str, from: i64, guests: u32| {
        format!(
            "kind=hotel&city={city}&check_in={}&check_out={}&guests={guests}",
            day(from),
            day(from + 1)
        )
    };
    assert_eq!(
        hints(search(hotel("abha", 1, 2)).await),
        json!(["other_city"])
    );
    assert_eq!(
        hints(search(hotel("jeddah", 1, 3)).await),
        json!(["fewer_guests_per_room", "other_city"]),
        "its rooms hold two"
    );
    assert_eq!(
        hints(search(hotel("jeddah", 20, 2)).await),
        json!(["other_dates", "other_city"]),
        "open for five nights only"
    );
    assert!(!unit.is_empty());

    let hospital = json!({ "kind": "hospital", "name_ar": "م", "name_en": "Red Sea", "city": "jeddah", "adapter": "local" });
    let hospital_id = app.post_ok("/v1/providers", &admin, &hospital, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clinic = json!({ "kind": "clinic_service", "name_ar": "قلب", "name_en": "Cardiology", "specialty": "cardiology", "slot_minutes": 30, "price": "100.00" });
    app.post_ok(
        &format!("/v1/providers/{hospital_id}/units"),
        &admin,
        &clinic,
        201,
    )
    .await;
    let slots = |specialty: &str| {
        format!(
            "kind=hospital&city=jeddah&from={}&to={}&specialty={specialty}",
            day(1),
            day(3)
        )
    };
    assert_eq!(
        hints(search(slots("dentistry")).await),
        json!(["no_clinic_of_specialty_in_city", "other_city"])
    );
    assert_eq!(
        hints(search(slots("cardiology")).await),
        json!(["other_dates", "other_city"]),
        "the clinic is there, with no hours open"
    );
}

#[tokio::test]
async fn the_options_name_each_city_and_list_specialties_where_clinics_are() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.local_hotel(&admin, "makkah", "Ajyad", 2, "200.00", 3)
        .await;
    for (city, specialties) in [
        ("jeddah", &["cardiology", "dentistry"][..]),
        ("al-khobar", &["pediatrics"][..]),
    ] {
        let hospital = json!({ "kind": "hospital", "name_ar": "م", "name_en": format!("{city} hospital"), "city": city, "adapter": "local" });
        let id = app.post_ok("/v1/providers", &admin, &hospital, 201).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for specialty in specialties {
            let unit = json!({ "kind": "clinic_service", "name_ar": specialty, "name_en": specialty, "specialty": specialty, "slot_minutes": 30, "price": "100.00" });
            app.post_ok(&format!("/v1/providers/{id}/units"), &admin, &unit, 201)
                .await;
        }
    }
    let options: Value = app.get("/v1/search/options").await.json().await.unwrap();
    assert_eq!(
        options["hotel"]["cities"],
        json!([{ "slug": "makkah", "name_ar": "مكة المكرمة", "name_en": "Makkah",
            "landmark_ar": "المسجد الحرام", "landmark_en": "Al-Masjid al-Haram" }])
    );
    assert_eq!(
        options["hospital"]["cities"],
        json!([
            { "slug": "al-khobar", "name_ar": "Al-Khobar", "name_en": "Al-Khobar",
              "landmark_ar": null, "landmark_en": null, "specialties": ["pediatrics"] },
            { "slug": "jeddah", "name_ar": "جدة", "name_en": "Jeddah",
              "landmark_ar": null, "landmark_en": null, "specialties": ["cardiology", "dentistry"] },
        ]),
        "a city nobody named reads as its slug; each city lists only its own clinics' specialties"
    );
    assert_eq!(
        options["hospital"]["specialties"],
        json!(["cardiology", "dentistry", "pediatrics"])
    );
}

#[tokio::test]
async fn admins_name_a_city_and_place_its_landmark() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let put = |slug: &str, token: &str, body: Value| {
        let request = app
            .client
            .put(app.url(&format!("/v1/admin/cities/{slug}")))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let (hotel, _) = app
        .local_hotel(&admin, "tabuk", "Tabuk Inn", 2, "300.00", 20)
        .await;
    place(&app, &admin, &hotel, Some((28.3835, 36.5662))).await;
    assert!(
        offers(&stay(&app, "tabuk", "").await)[0]
            .get("distance")
            .is_none(),
        "an unnamed city has no point to measure to"
    );

    let tabuk = json!({ "name_ar": "تبوك", "name_en": "Tabuk", "centre_lat": 28.3998, "centre_lon": 36.5715 });
    let saved = put("tabuk", &admin, tabuk.clone()).await;
    assert_eq!(saved.status(), 200);
    assert_eq!(
        stay(&app, "tabuk", "").await["offers"][0]["distance"],
        json!({ "km": 1.9, "to": "city_centre", "name_ar": "تبوك", "name_en": "Tabuk" })
    );
    let options: Value = app.get("/v1/search/options").await.json().await.unwrap();
    assert_eq!(options["hotel"]["cities"][0]["name_ar"], "تبوك");

    // A landmark replaces the centre as what distances are measured to.
    let mut with_landmark = tabuk.clone();
    with_landmark["landmark"] = json!({ "name_ar": "قلعة تبوك", "name_en": "Tabuk Castle", "lat": 28.3838, "lon": 36.5550 });
    assert_eq!(put("tabuk", &admin, with_landmark).await.status(), 200);
    let distance = &stay(&app, "tabuk", "").await["offers"][0]["distance"];
    assert_eq!(distance["to"], "landmark");
    assert_eq!(distance["name_en"], "Tabuk Castle");
    assert_eq!(distance["km"], 1.1);

    let mut bad = tabuk.clone();
    bad["centre_lat"] = json!(91.0);
    bad["name_en"] = json!("");
    let body = assert_problem(put("tabuk", &admin, bad).await, 422, "validation.failed").await;
    let mut fields = problem_fields(&body);
    fields.sort();
    assert_eq!(fields, ["centre_lat", "name_en"]);
    let body = assert_problem(
        put("Tabuk_1", &admin, tabuk.clone()).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&body), ["slug"]);
    let customer = token(&app.user_with_role(Role::Customer).await);
    assert_problem(put("tabuk", &customer, tabuk).await, 403, "auth.forbidden").await;
}
