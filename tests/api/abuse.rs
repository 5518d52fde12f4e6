//! What a bot can do without breaking in (#14, points 3, 4 and 6): junk search keys that
//! would grow memory, holds that sit on a hotel's rooms, sign-up floods, and forged
//! X-Forwarded-For addresses.

use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_problem, book, day, held, join_all, problem_fields, spawn_app_with,
    stay_offer, token, unique_city,
};

/// The value of an unlabelled gauge in a scrape.
fn gauge(scraped: &str, name: &str) -> f64 {
    scraped
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in the scrape"))
        .parse()
        .unwrap()
}

async fn scrape(app: &TestApp, admin: &str) -> String {
    app.get_authed("/metrics", admin)
        .await
        .text()
        .await
        .unwrap()
}

/// 1,500 searches for distinct 60 KB cities kept every (empty) answer and grew the process
/// by 126 MB: the budget counted answers' bodies, not their keys.
#[tokio::test]
async fn two_thousand_junk_cities_keep_the_search_cache_within_its_budget() {
    const BUDGET: usize = 64 << 10;
    let app = spawn_app_with(|s| {
        s.search.cache_ms = 60_000;
        s.search.cache_budget_bytes = BUDGET;
    })
    .await;
    let admin = app.admin_token().await;
    let dates = format!("check_in={}&check_out={}&guests=2", day(3), day(5));

    // A city that is not a slug is refused before any lookup, naming the parameter.
    let huge = "a".repeat(60_000);
    let problem = assert_problem(
        app.search(&format!("kind=hotel&city={huge}&{dates}")).await,
        400,
        "query.invalid",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["city"]);
    assert!(
        problem.to_string().len() < 2_000,
        "the answer echoes the value"
    );

    // Slug-shaped junk passes the check and is answered (no providers there): each answer
    // may be kept, but all of them together, keys included, stay within the budget.
    let cities: Vec<String> = (0..2000)
        .map(|n| {
            let letters: String = format!("{n:04}")
                .chars()
                .map(|d| char::from(b'a' + d.to_digit(10).unwrap() as u8))
                .collect();
            format!("junk-{letters}-{}", "x".repeat(40))
        })
        .collect();
    for batch in cities.chunks(50) {
        let queries: Vec<String> = batch
            .iter()
            .map(|city| format!("kind=hotel&city={city}&{dates}"))
            .collect();
        let answers = join_all(queries.iter().map(|q| app.search(q)).collect()).await;
        assert!(answers.iter().all(|a| a.status() == 200));
    }
    let kept = gauge(&scrape(&app, &admin).await, "wasit_search_cache_bytes");
    assert!(kept > 0.0, "nothing was kept: the test shows nothing");
    assert!(kept <= BUDGET as f64, "{kept} bytes kept, budget {BUDGET}");
}

/// A customer can't sit on a hotel's rooms: at most `bookings.max_live_holds` live holds.
#[tokio::test]
async fn a_customers_sixth_live_hold_is_refused_until_one_ends() {
    let app = spawn_app_with(|s| s.bookings.max_live_holds = 5).await;
    let admin = app.admin_token().await;
    let city = unique_city("hoard");
    app.local_hotel(&admin, &city, "Hoarded", 20, "300.00", 30)
        .await;
    let customer = token(&app.register("hoarder@wasit.test").await);
    let mut holds = Vec::new();
    for n in 0..5 {
        holds.push(held(&app, &customer, &city, 2 + 3 * n).await);
    }
    let offer = stay_offer(&app, &city, 20, 22, 2).await;
    let body = json!({ "offer_id": offer["offer_id"] });
    let sixth = book(&app, &customer, "sixth", &body).await;
    let problem = assert_problem(sixth, 409, "booking.too_many_holds").await;
    assert!(problem["detail"].as_str().unwrap().contains('5'));

    // Nothing of the refused hold was written: the room is still free.
    let again = stay_offer(&app, &city, 20, 22, 2).await;
    assert_eq!(again["available"], offer["available"]);

    // Cancelling one makes room for the next.
    let id = holds[0]["id"].as_str().unwrap();
    let cancelled = app
        .client
        .post(app.url(&format!("/v1/bookings/{id}/cancel")))
        .bearer_auth(&customer)
        .header("idempotency-key", "cancel-one")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    assert_eq!(book(&app, &customer, "seventh", &body).await.status(), 201);
}

/// Ten holds of one customer at once, with four already held: exactly one more is taken.
#[tokio::test]
async fn concurrent_holds_of_one_customer_never_pass_the_cap() {
    let app = spawn_app_with(|s| s.bookings.max_live_holds = 5).await;
    let admin = app.admin_token().await;
    let city = unique_city("race");
    app.local_hotel(&admin, &city, "Raced", 50, "300.00", 40)
        .await;
    let customer = token(&app.register("racer@wasit.test").await);
    for n in 0..4 {
        held(&app, &customer, &city, 2 + 3 * n).await;
    }
    let offer = stay_offer(&app, &city, 20, 22, 2).await;
    let body = json!({ "offer_id": offer["offer_id"] });
    let keys: Vec<String> = (0..10).map(|n| format!("race-{n}")).collect();
    let answers = join_all(
        keys.iter()
            .map(|k| book(&app, &customer, k, &body))
            .collect(),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );
}

/// Holds from one address are counted per hour; staff booking by phone are not.
#[tokio::test]
async fn holds_from_one_address_are_rate_limited_but_staff_are_not() {
    let app = spawn_app_with(|s| {
        s.bookings.holds_per_address_per_hour = 3;
        s.bookings.max_live_holds = 100;
    })
    .await;
    let admin = app.admin_token().await;
    let city = unique_city("rate");
    app.local_hotel(&admin, &city, "Rated", 20, "300.00", 30)
        .await;
    let customer = token(&app.register("rated@wasit.test").await);
    for n in 0..3 {
        held(&app, &customer, &city, 2 + 3 * n).await;
    }
    let offer = stay_offer(&app, &city, 20, 22, 2).await;
    let fourth = book(
        &app,
        &customer,
        "fourth",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await;
    let retry_after: u64 = fourth.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_problem(fourth, 429, "booking.rate_limited").await;

    let agent = token(&app.user_with_role(wasit::auth::Role::Agent).await);
    let client: Value = app
        .post_ok(
            "/v1/customers",
            &agent,
            &json!({ "full_name": "Abu Fahad", "phone": "0551234567" }),
            201,
        )
        .await;
    let body = json!({ "offer_id": offer["offer_id"], "customer_id": client["id"] });
    let by_phone = book(&app, &agent, "by-phone", &body).await;
    assert_eq!(by_phone.status(), 201, "{}", by_phone.text().await.unwrap());
}

/// A bot signing up 50 accounts at once from one address gets its first ten; nothing of the
/// other 40 is written, and their passwords are never hashed.
#[tokio::test]
async fn a_bot_signing_up_fifty_accounts_from_one_address_is_throttled() {
    let app = spawn_app_with(|s| s.auth.signups_per_address_per_hour = 10).await;
    let bodies: Vec<Value> = (0..50)
        .map(|n| json!({ "email": format!("bot{n}@wasit.test"), "password": PASSWORD, "full_name": "Bot" }))
        .collect();
    let answers = join_all(
        bodies
            .iter()
            .map(|body| app.post_json("/v1/auth/register", body))
            .collect(),
    )
    .await;
    let created = answers.iter().filter(|a| a.status() == 201).count();
    let throttled = answers.iter().filter(|a| a.status() == 429).count();
    assert_eq!((created, throttled), (10, 40));
    for answer in answers.into_iter().filter(|a| a.status() == 429) {
        assert_problem(answer, 429, "signup.rate_limited").await;
    }
    let mut conn = app.db.connect();
    use diesel::prelude::*;
    let users: i64 = wasit::schema::users::table
        .filter(wasit::schema::users::email.like("bot%"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(users, 10);
}

/// Behind our proxy, the caller is the right-most address the proxy appended, not the
/// left-most one the client wrote: forging it does not reset the count.
#[tokio::test]
async fn a_forged_forwarded_address_does_not_escape_the_limit() {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        s.auth.signups_per_address_per_hour = 2;
    })
    .await;
    let signup = |n: u32, forwarded: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/auth/register"))
                .header("x-forwarded-for", forwarded)
                .json(&json!({ "email": format!("fwd{n}@wasit.test"), "password": PASSWORD, "full_name": "Fwd" }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Each request forges a different left-most address; the proxy saw 203.0.113.5.
    let mut statuses = Vec::new();
    for n in 0..3 {
        statuses.push(signup(n, format!("198.51.100.{n}, 203.0.113.5")).await);
    }
    assert_eq!(statuses, [201, 201, 429]);
    // Another real client behind the same proxy is counted on its own.
    assert_eq!(signup(9, "203.0.113.6".into()).await, 201);
}
