//! Federated search over local inventory and external providers, with timeouts and garbage.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    assert_problem, canned_server, day, free_port, problem_fields, silent_server, spawn_app,
    spawn_app_with,
};

fn amounts(offer: &Value) -> Vec<String> {
    offer["price"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn hotel_search_merges_every_local_provider_in_the_city_cheapest_first() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let (hilton, _) = app
        .local_hotel(&token, "jeddah", "Hilton", 5, "450.00", 10)
        .await;
    let (rotana, _) = app
        .local_hotel(&token, "jeddah", "Rotana", 5, "300.00", 10)
        .await;
    app.local_hotel(&token, "riyadh", "Elsewhere", 5, "100.00", 10)
        .await;

    let response = app
        .search(&format!(
            "kind=hotel&city=Jeddah&check_in={}&check_out={}&guests=2",
            day(1),
            day(3)
        ))
        .await;
    assert_eq!(response.status(), 200);
    let results: Value = response.json().await.unwrap();
    let offers = results["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 2);
    assert_eq!(offers[0]["provider"]["id"], rotana.as_str());
    assert_eq!(offers[1]["provider"]["id"], hilton.as_str());
    // 2 nights x 300 + 25 fee + 15% VAT on the fee.
    assert_eq!(amounts(&offers[0]), ["600.00", "25.00", "3.75"]);
    assert_eq!(offers[0]["price"]["total"], "628.75");
    assert_eq!(offers[0]["price"]["currency"], "SAR");
    assert_eq!(offers[0]["nights"], 2);
    assert_eq!(offers[0]["quantity"], 1);
    assert_eq!(offers[0]["provider"]["name_ar"], "فندق Rotana");

    let statuses = results["providers"].as_array().unwrap();
    assert_eq!(statuses.len(), 2, "only Jeddah's providers are asked");
    assert!(
        statuses
            .iter()
            .all(|p| p["status"] == "ok" && p["offer_count"] == 1),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn rooms_guests_and_closed_nights_decide_what_is_offered() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let (provider_id, unit_id) = app
        .local_hotel(&token, "makkah", "Swissotel", 2, "500.00", 10)
        .await;
    let stay = |guests: u32, rooms: u32| {
        format!(
            "kind=hotel&city=makkah&check_in={}&check_out={}&guests={guests}&rooms={rooms}",
            day(2),
            day(4)
        )
    };
    let count = |results: &Value| results["offers"].as_array().unwrap().len();

    let results: Value = app.search(&stay(3, 1)).await.json().await.unwrap();
    assert_eq!(count(&results), 0, "3 guests do not fit one double room");
    let results: Value = app.search(&stay(3, 2)).await.json().await.unwrap();
    assert_eq!(count(&results), 1);
    assert_eq!(
        results["offers"][0]["price"]["lines"][0]["amount"], "2000.00",
        "2 rooms x 2 nights x 500"
    );
    let results: Value = app.search(&stay(6, 3)).await.json().await.unwrap();
    assert_eq!(count(&results), 0, "only 2 rooms exist");

    app.post_ok(
        &format!("/v1/providers/{provider_id}/units/{unit_id}/availability/close"),
        &token,
        &json!({ "from": day(3), "to": day(3) }),
        200,
    )
    .await;
    let results: Value = app.search(&stay(2, 1)).await.json().await.unwrap();
    assert_eq!(count(&results), 0, "one closed night closes the stay");
    let before: Value = app
        .search(&format!(
            "kind=hotel&city=makkah&check_in={}&check_out={}&guests=2",
            day(1),
            day(3)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        count(&before),
        1,
        "a stay that ends the morning of the closed night is fine"
    );
}

#[tokio::test]
async fn inactive_providers_are_not_asked() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let (provider_id, _) = app
        .local_hotel(&token, "riyadh", "Closed Inn", 2, "200.00", 5)
        .await;
    app.post_ok(
        &format!("/v1/providers/{provider_id}/deactivate"),
        &token,
        &json!({}),
        200,
    )
    .await;
    let results: Value = app
        .search(&format!(
            "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=1",
            day(1),
            day(2)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(results["offers"].as_array().unwrap().is_empty());
    assert!(results["providers"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn hospital_search_filters_by_specialty_and_window() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let hospital = json!({ "kind": "hospital", "name_ar": "مستشفى الحبيب", "name_en": "Habib Hospital", "city": "riyadh", "adapter": "local" });
    let provider_id = app.post_ok("/v1/providers", &token, &hospital, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let every_day = json!(["sun", "mon", "tue", "wed", "thu", "fri", "sat"]);
    for (specialty, price) in [("cardiology", "300.00"), ("dermatology", "200.00")] {
        let unit = json!({ "kind": "clinic_service", "name_ar": specialty, "name_en": specialty, "specialty": specialty, "practitioner": "Dr. Sami", "slot_minutes": 60, "price": price });
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
        app.post_ok(
            &format!("/v1/providers/{provider_id}/units/{unit_id}/availability"),
            &token,
            &json!({ "from": day(1), "to": day(5), "day_start": "10:00", "day_end": "12:00", "weekdays": every_day }),
            200,
        )
        .await;
    }
    let results: Value = app
        .search(&format!(
            "kind=hospital&city=riyadh&specialty=Cardiology&from={}&to={}",
            day(2),
            day(3)
        ))
        .await
        .json()
        .await
        .unwrap();
    let offers = results["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 4, "2 days x 2 hourly slots");
    assert!(
        offers
            .iter()
            .all(|o| o["specialty"] == "cardiology" && o["practitioner"] == "Dr. Sami")
    );
    assert_eq!(amounts(&offers[0]), ["300.00", "25.00", "3.75"]);
    let starts: Vec<&str> = offers
        .iter()
        .map(|o| o["start"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "same price: earliest first");
    assert!(
        starts[0].ends_with("T07:00:00Z"),
        "10:00 in Riyadh is 07:00 UTC: {}",
        starts[0]
    );

    let limited: Value = app
        .search(&format!(
            "kind=hospital&city=riyadh&from={}&to={}&limit=3",
            day(1),
            day(5)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(limited["offers"].as_array().unwrap().len(), 3);
    assert_eq!(limited["truncated"], true);
    assert_eq!(
        limited["offers"][0]["price"]["total"], "228.75",
        "dermatology is cheaper"
    );
}

#[tokio::test]
async fn an_offer_id_reads_back_and_cannot_be_altered() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.local_hotel(&token, "jeddah", "Hilton", 5, "450.00", 5)
        .await;
    let results: Value = app
        .search(&format!(
            "kind=hotel&city=jeddah&check_in={}&check_out={}&guests=2",
            day(1),
            day(2)
        ))
        .await
        .json()
        .await
        .unwrap();
    let offer_id = results["offers"][0]["offer_id"].as_str().unwrap();
    let terms: Value = app
        .get(&format!("/v1/offers/{offer_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(terms["total"], "478.75");
    assert_eq!(terms["guests"], 2);

    let (head, _) = offer_id.rsplit_once('.').unwrap();
    let tampered = format!("{head}.{}", "A".repeat(43));
    assert_problem(
        app.get(&format!("/v1/offers/{tampered}")).await,
        400,
        "offer.invalid",
    )
    .await;
    assert_problem(app.get("/v1/offers/garbage").await, 400, "offer.invalid").await;

    let signer = wasit::providers::offer::OfferSigner::new(
        secrecy::ExposeSecret::expose_secret(&app.settings.auth.jwt_secret).as_bytes(),
    );
    let mut claims = signer.verify(offer_id, chrono::Utc::now()).unwrap();
    claims.expires_at = chrono::Utc::now().timestamp() - 1;
    let stale = signer.sign(&claims);
    assert_problem(
        app.get(&format!("/v1/offers/{stale}")).await,
        410,
        "offer.expired",
    )
    .await;
}

#[tokio::test]
async fn bad_search_parameters_are_400_naming_each() {
    let app = spawn_app().await;
    let cases = [
        ("kind=castle&city=riyadh".to_owned(), vec!["kind"]),
        ("city=riyadh".to_owned(), vec!["kind"]),
        (
            format!(
                "kind=hotel&check_in={}&check_out={}&guests=2",
                day(1),
                day(2)
            ),
            vec!["city"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=2",
                day(3),
                day(2)
            ),
            vec!["check_out"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=2",
                day(-2),
                day(1)
            ),
            vec!["check_in"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=2",
                day(1),
                day(60)
            ),
            vec!["check_out"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=0",
                day(1),
                day(2)
            ),
            vec!["guests"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=100000",
                day(1),
                day(2)
            ),
            vec!["guests"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=-1",
                day(1),
                day(2)
            ),
            vec!["guests"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=2&rooms=0",
                day(1),
                day(2)
            ),
            vec!["rooms"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in=2026-13-45&check_out={}&guests=2",
                day(2)
            ),
            vec!["check_in"],
        ),
        (
            "kind=hotel&city=riyadh&check_in=tomorrow&check_out=later&guests=two".to_owned(),
            vec!["check_in", "check_out", "guests"],
        ),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=2",
                day(500),
                day(501)
            ),
            vec!["check_in"],
        ),
        (
            format!("kind=hospital&city=riyadh&from={}&to={}", day(5), day(1)),
            vec!["to"],
        ),
        (
            format!("kind=hospital&city=riyadh&from={}&to={}", day(1), day(90)),
            vec!["to"],
        ),
        ("kind=hospital&city=riyadh".to_owned(), vec!["from", "to"]),
        (
            format!(
                "kind=hotel&city=riyadh&check_in={}&check_out={}&guests=2&limit=5000",
                day(1),
                day(2)
            ),
            vec!["limit"],
        ),
    ];
    for (query, fields) in cases {
        let problem = assert_problem(app.search(&query).await, 400, "query.invalid").await;
        assert_eq!(problem_fields(&problem), fields, "{query}");
    }
}

/// A provider whose server fails: every request answers 500.
async fn failing_server() -> u16 {
    canned_server(
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .into(),
    )
    .await
}

/// A provider that answers every request with 200 and bytes that are not what it should send.
async fn garbage_server() -> u16 {
    let body = "<html>definitely not FHIR or iCalendar</html>";
    canned_server(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await
}

#[tokio::test]
async fn slow_down_failing_and_garbage_providers_never_fail_the_search() {
    let app = spawn_app_with(|s| s.search.provider_timeout_ms = 400).await;
    let token = app.admin_token().await;
    app.local_hotel(&token, "jeddah", "Hilton", 5, "450.00", 5)
        .await;
    let silent = silent_server().await;
    let garbage = garbage_server().await;
    let failing = failing_server().await;
    let down = free_port();
    for (name, port) in [
        ("Silent Hotel", silent),
        ("Garbage Hotel", garbage),
        ("Failing Hotel", failing),
        ("Down Hotel", down),
    ] {
        let body = json!({ "kind": "hotel", "name_ar": name, "name_en": name, "city": "jeddah", "adapter": "caldav",
            "adapter_settings": { "base_url": format!("http://127.0.0.1:{port}"),
                "room_types": [{ "code": "std", "calendar_path": "/hotel/std/", "name_ar": "عادية", "name_en": "Standard", "rooms": 3, "max_guests": 2, "nightly_price": "200.00" }] } });
        app.post_ok("/v1/providers", &token, &body, 201).await;
    }
    let hospital = json!({ "kind": "hospital", "name_ar": "م", "name_en": "Garbage Hospital", "city": "jeddah", "adapter": "fhir",
        "adapter_settings": { "base_url": format!("http://127.0.0.1:{garbage}/fhir"), "schedules": [{ "schedule_id": "s1", "price": "100" }] } });
    let hospital_id = app.post_ok("/v1/providers", &token, &hospital, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let started = Instant::now();
    let response = app
        .search(&format!(
            "kind=hotel&city=jeddah&check_in={}&check_out={}&guests=2",
            day(1),
            day(3)
        ))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 200);
    let results: Value = response.json().await.unwrap();
    let status_of = |name: &str| {
        results["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name_en"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(status_of("Hilton")["status"], "ok");
    assert_eq!(
        results["offers"].as_array().unwrap().len(),
        1,
        "the local offer still comes back"
    );
    let silent_status = status_of("Silent Hotel");
    assert_eq!(silent_status["status"], "timeout", "{silent_status}");
    let latency = silent_status["latency_ms"].as_u64().unwrap();
    assert!((390..1500).contains(&latency), "timed out at {latency} ms");
    assert!(
        elapsed < Duration::from_secs(3),
        "the slow provider held the search for {elapsed:?}"
    );
    for name in ["Garbage Hotel", "Failing Hotel", "Down Hotel"] {
        assert_eq!(status_of(name)["status"], "error", "{name}");
    }

    let hospitals: Value = app
        .search(&format!(
            "kind=hospital&city=jeddah&from={}&to={}",
            day(1),
            day(3)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hospitals["providers"][0]["id"], hospital_id.as_str());
    assert_eq!(hospitals["providers"][0]["status"], "error");
}

#[tokio::test]
async fn the_demo_office_answers_searches_in_every_city() {
    let app = spawn_app().await;
    let mut conn = app.db.connect();
    let today = chrono::Utc::now().date_naive();
    let seeded = wasit::providers::demo::seed(&mut conn, today).unwrap();
    assert!(
        seeded.is_some_and(|(providers, _, cells)| providers == 8 && cells > 1000),
        "{seeded:?}"
    );
    assert_eq!(
        wasit::providers::demo::seed(&mut conn, today).unwrap(),
        None,
        "seeding twice does nothing"
    );

    for city in ["riyadh", "jeddah", "makkah"] {
        let results: Value = app
            .search(&format!(
                "kind=hotel&city={city}&check_in={}&check_out={}&guests=2",
                day(7),
                day(9)
            ))
            .await
            .json()
            .await
            .unwrap();
        assert!(
            results["offers"].as_array().unwrap().len() >= 2,
            "{city}: {results}"
        );
        assert_eq!(results["providers"].as_array().unwrap().len(), 2, "{city}");
    }
    let clinics: Value = app
        .search(&format!(
            "kind=hospital&city=riyadh&specialty=cardiology&from={}&to={}",
            day(1),
            day(7)
        ))
        .await
        .json()
        .await
        .unwrap();
    let offers = clinics["offers"].as_array().unwrap();
    assert!(!offers.is_empty());
    assert!(
        offers
            .iter()
            .all(|o| o["practitioner"] == "Dr. Ahmed Al-Qahtani"
                && o["unit"]["code"] == "cardiology-al-qahtani"),
        "the demo's units have readable codes: {clinics}"
    );
}

/// Sells every night of `unit_id` behind the app's back, as another instance would.
fn sell_out_elsewhere(app: &crate::helpers::TestApp, unit_id: &str) {
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "UPDATE inventory_cells SET reserved = capacity WHERE unit_id = '{unit_id}'"
    ))
    .execute(&mut app.db.connect())
    .unwrap();
}

#[tokio::test]
async fn a_local_answer_is_reused_until_this_instance_learns_the_inventory_changed() {
    // A long cache time, so that nothing here races the clock.
    let app = spawn_app_with(|s| s.search.cache_ms = 60_000).await;
    let admin = app.admin_token().await;
    let (provider_id, unit_id) = app
        .local_hotel(&admin, "tabuk", "Tabuk Inn", 1, "200.00", 5)
        .await;
    let query = format!(
        "kind=hotel&city=tabuk&check_in={}&check_out={}&guests=2",
        day(1),
        day(2)
    );
    let offers = |answer: &Value| answer["offers"].as_array().unwrap().len();
    let first: Value = app.search(&query).await.json().await.unwrap();
    assert_eq!(offers(&first), 1);

    sell_out_elsewhere(&app, &unit_id);
    let second: Value = app.search(&query).await.json().await.unwrap();
    assert_eq!(second, first, "the kept answer, offer id and all");

    // Holding the stale offer is refused under the row lock, and retires the kept answer.
    let customer = app.register("late@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let stale = json!({ "offer_id": first["offers"][0]["offer_id"] });
    assert_problem(
        crate::helpers::book(&app, &customer, "late-1", &stale).await,
        409,
        "booking.sold_out",
    )
    .await;
    let third: Value = app.search(&query).await.json().await.unwrap();
    assert_eq!(offers(&third), 0, "{third}");

    // Inventory changed through this instance is seen by the very next search.
    app.post_ok(
        &format!("/v1/providers/{provider_id}/units/{unit_id}/availability"),
        &admin,
        &json!({ "from": day(0), "to": day(5), "rooms": 3 }),
        200,
    )
    .await;
    let fourth: Value = app.search(&query).await.json().await.unwrap();
    assert_eq!(offers(&fourth), 1, "{fourth}");
    // Three rooms now, one of them sold elsewhere: two are free, until the hold below.
    let both_free = format!(
        "kind=hotel&city=tabuk&check_in={}&check_out={}&guests=3&rooms=2",
        day(1),
        day(2)
    );
    let before: Value = app.search(&both_free).await.json().await.unwrap();
    assert_eq!(offers(&before), 1, "{before}");
    let held = crate::helpers::book(
        &app,
        &customer,
        "late-2",
        &json!({ "offer_id": fourth["offers"][0]["offer_id"] }),
    )
    .await;
    assert_eq!(held.status(), 201);
    let after: Value = app.search(&both_free).await.json().await.unwrap();
    assert_eq!(
        offers(&after),
        0,
        "the hold retired the kept answer: {after}"
    );
}

#[tokio::test]
async fn answers_that_asked_an_outside_provider_are_not_kept() {
    let app = spawn_app_with(|s| {
        s.search.cache_ms = 60_000;
        s.search.provider_timeout_ms = 400;
    })
    .await;
    let admin = app.admin_token().await;
    let (_, unit_id) = app
        .local_hotel(&admin, "hail", "Hail Inn", 1, "200.00", 5)
        .await;
    let down = json!({ "kind": "hotel", "name_ar": "مغلق", "name_en": "Down Hotel", "city": "hail", "adapter": "caldav",
        "adapter_settings": { "base_url": format!("http://127.0.0.1:{}", free_port()),
            "room_types": [{ "code": "std", "calendar_path": "/hotel/std/", "name_ar": "عادية", "name_en": "Standard", "rooms": 3, "max_guests": 2, "nightly_price": "200.00" }] } });
    app.post_ok("/v1/providers", &admin, &down, 201).await;
    let query = format!(
        "kind=hotel&city=hail&check_in={}&check_out={}&guests=2",
        day(1),
        day(2)
    );
    let first: Value = app.search(&query).await.json().await.unwrap();
    assert_eq!(first["offers"].as_array().unwrap().len(), 1, "{first}");

    sell_out_elsewhere(&app, &unit_id);
    let second: Value = app.search(&query).await.json().await.unwrap();
    assert!(second["offers"].as_array().unwrap().is_empty(), "{second}");
}

#[tokio::test]
async fn many_clients_asking_one_missing_question_cost_one_lookup() {
    let app = spawn_app_with(|s| {
        s.search.cache_ms = 60_000;
        s.metrics.token = Some("scrape-token-for-tests-only".to_owned().into());
    })
    .await;
    let admin = app.admin_token().await;
    let (provider_id, _) = app
        .local_hotel(&admin, "jazan", "Jazan Inn", 3, "200.00", 5)
        .await;
    let query = format!(
        "kind=hotel&city=jazan&check_in={}&check_out={}&guests=2",
        day(1),
        day(3)
    );
    let answers = crate::helpers::join_all((0..24).map(|_| app.search(&query)).collect()).await;
    let mut bodies = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), 200);
        bodies.push(answer.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "one answer for all");

    let metrics = app
        .get_authed("/metrics", "scrape-token-for-tests-only")
        .await
        .text()
        .await
        .unwrap();
    let lookups = metrics
        .lines()
        .find(|l| {
            l.starts_with("wasit_provider_search_duration_seconds_count")
                && l.contains(&provider_id)
        })
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no count for {provider_id} in\n{metrics}"));
    assert_eq!(lookups, "1", "24 clients at once, one inventory lookup");
}

#[tokio::test]
async fn the_search_options_list_active_cities_by_kind_and_our_specialties() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.local_hotel(&admin, "dammam", "Gulf Inn", 2, "200.00", 3)
        .await;
    app.local_hotel(&admin, "abha", "Mountain Inn", 2, "200.00", 3)
        .await;
    let (closed, _) = app
        .local_hotel(&admin, "tabuk", "Closed Inn", 2, "200.00", 3)
        .await;
    app.post_ok(
        &format!("/v1/providers/{closed}/deactivate"),
        &admin,
        &json!({}),
        200,
    )
    .await;
    let hospital = json!({ "kind": "hospital", "name_ar": "مستشفى", "name_en": "Khobar Hospital", "city": "khobar", "adapter": "local" });
    let hospital_id = app.post_ok("/v1/providers", &admin, &hospital, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for specialty in ["pediatrics", "cardiology", "pediatrics"] {
        let unit = json!({ "kind": "clinic_service", "name_ar": specialty, "name_en": specialty, "specialty": specialty, "slot_minutes": 30, "price": "100.00" });
        app.post_ok(
            &format!("/v1/providers/{hospital_id}/units"),
            &admin,
            &unit,
            201,
        )
        .await;
    }

    let response = app.get("/v1/search/options").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let options: Value = response.json().await.unwrap();
    assert_eq!(
        options,
        json!({
            "hotel": { "cities": [
                { "slug": "abha", "name_ar": "Abha", "name_en": "Abha", "landmark_ar": null, "landmark_en": null },
                { "slug": "dammam", "name_ar": "الدمام", "name_en": "Dammam", "landmark_ar": null, "landmark_en": null },
            ] },
            "hospital": {
                "cities": [{ "slug": "khobar", "name_ar": "Khobar", "name_en": "Khobar", "landmark_ar": null,
                    "landmark_en": null, "specialties": ["cardiology", "pediatrics"] }],
                "specialties": ["cardiology", "pediatrics"],
            },
        }),
        "active providers' cities by kind, without the closed one; each specialty once"
    );
}
