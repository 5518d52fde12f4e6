//! #16, point 1: medical-travel packages. A clinic slot paired with a hotel stay around it,
//! priced with one fee (VAT on the fee only); held all or nothing; paid once; a saga whose
//! compensation is in the database. Failures are injected at every step (hold 1, hold 2,
//! payment declined, confirm 1 refused, confirm 2 refused) against our own clinic and hotel
//! and against the real peers (the FHIR server and Radicale), and each end state is
//! checked: nothing held, nothing charged, or both confirmed; a refusal after payment
//! refunds everything, credit notes and all.

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fhir::{Hospital, future_day, local};
use crate::helpers::{
    TestApp, assert_problem, book, day, join_all, patient, problem_fields, radicale_calendar,
    spawn_app, spawn_app_with, stay_offer, token, unique_city,
};
use crate::payments::{CARD_DECLINED, CARD_OK, card, money};

/// Which providers a package is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Providers {
    /// Our own clinic and hotel (the `local` adapter).
    Local,
    /// A FHIR hospital (the HAPI peer) and a CalDAV hotel (Radicale).
    Outside,
}

/// Where a failure is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Nothing,
    Hold1,
    Hold2,
    PaymentDeclined,
    Confirm1Refused,
    Confirm2Refused,
}

const STEPS: [Step; 6] = [
    Step::Nothing,
    Step::Hold1,
    Step::Hold2,
    Step::PaymentDeclined,
    Step::Confirm1Refused,
    Step::Confirm2Refused,
];

/// A clinic and a hotel in a city of their own; the appointment is three days ahead.
struct Fixture {
    city: String,
    clinic_id: String,
    hotel_id: String,
    hospital: Option<Hospital>,
}

async fn local_clinic(app: &TestApp, admin: &str, city: &str, slots_until: &str) -> String {
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
        &json!({ "from": day(3), "to": day(3), "day_start": "10:00", "day_end": slots_until, "weekdays": every_day }),
        200,
    )
    .await;
    provider_id
}

async fn fixture(app: &TestApp, admin: &str, providers: Providers) -> Fixture {
    let city = unique_city("pkg");
    match providers {
        Providers::Local => {
            let clinic_id = local_clinic(app, admin, &city, "11:00").await;
            let (hotel_id, _) = app
                .local_hotel(admin, &city, "Hilton", 1, "450.00", 30)
                .await;
            Fixture {
                city,
                clinic_id,
                hotel_id,
                hospital: None,
            }
        }
        Providers::Outside => {
            let hospital = Hospital::new();
            let the_day = future_day(3);
            let (schedule, _) = hospital.cardiology(&[local(the_day, 10, 0)]).await;
            let clinic = json!({ "kind": "hospital", "name_ar": "مستشفى الشفاء", "name_en": "Shifa Hospital", "city": city, "adapter": "fhir",
                "adapter_settings": { "base_url": hospital.base, "schedules": [{ "schedule_id": schedule, "code": "cardiology-ali", "price": "350.00" }] } });
            let clinic_id = app.post_ok("/v1/providers", admin, &clinic, 201).await["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let (dav, calendar) = radicale_calendar().await;
            let hotel = json!({ "kind": "hotel", "name_ar": "فندق أبها", "name_en": "Abha Hotel", "city": city, "adapter": "caldav",
                "adapter_settings": { "base_url": dav, "room_types": [{ "code": "std", "calendar_path": calendar, "name_ar": "غرفة", "name_en": "Room", "rooms": 1, "max_guests": 2, "nightly_price": "300.00" }] } });
            let hotel_id = app.post_ok("/v1/providers", admin, &hotel, 201).await["id"]
                .as_str()
                .unwrap()
                .to_owned();
            Fixture {
                city,
                clinic_id,
                hotel_id,
                hospital: Some(hospital),
            }
        }
    }
}

async fn search_packages(app: &TestApp, query: &str) -> reqwest::Response {
    app.get(&format!("/v1/search/packages?{query}")).await
}

/// The packages found in the fixture's city around day 3.
async fn packages_found(app: &TestApp, city: &str) -> Value {
    let response = search_packages(
        app,
        &format!("city={city}&from={}&to={}&guests=1", day(2), day(4)),
    )
    .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn package_body(found: &Value) -> Value {
    json!({
        "appointment": { "offer_id": found["appointment"]["offer_id"], "patient": patient() },
        "stay": { "offer_id": found["stay"]["offer_id"] },
    })
}

async fn hold_package(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/packages"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn pay_package(app: &TestApp, token: &str, id: &str, number: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/packages/{id}/pay")))
        .bearer_auth(token)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&card(number))
        .send()
        .await
        .unwrap()
}

async fn get_package(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app.get_authed(&format!("/v1/packages/{id}"), token).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A provider's front desk refuses one of its bookings.
async fn refuse(app: &TestApp, admin: &str, provider_id: &str, reference: &str) {
    let desk = app.provider_desk(admin, provider_id).await;
    app.post_ok(
        &format!("/v1/provider/bookings/{reference}/ack"),
        &desk,
        &json!({ "decision": "refuse", "reason": "no longer available" }),
        200,
    )
    .await;
}

/// Money of a package: (captured, refunds succeeded, refunds in all, credit notes).
fn package_money(app: &TestApp, package_id: &str) -> (Decimal, Decimal, i64, i64) {
    use wasit::schema::{invoices, payments, refunds};
    let mut conn = app.db.connect();
    let id: Uuid = package_id.parse().unwrap();
    let captured: Vec<Decimal> = payments::table
        .filter(payments::package_id.eq(id))
        .filter(payments::status.eq("succeeded"))
        .select(payments::amount)
        .load(&mut conn)
        .unwrap();
    let refunded: Vec<(Decimal, String)> = refunds::table
        .inner_join(payments::table)
        .filter(payments::package_id.eq(id))
        .select((refunds::amount, refunds::status))
        .load(&mut conn)
        .unwrap();
    let credit_notes: i64 = invoices::table
        .inner_join(refunds::table.on(invoices::refund_id.eq(refunds::id.nullable())))
        .inner_join(payments::table.on(refunds::payment_id.eq(payments::id)))
        .filter(payments::package_id.eq(id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    (
        captured.iter().sum(),
        refunded
            .iter()
            .filter(|(_, status)| status == "succeeded")
            .map(|(amount, _)| *amount)
            .sum(),
        i64::try_from(refunded.len()).unwrap(),
        credit_notes,
    )
}

/// Bookings of this customer still holding inventory (held, pending or confirmed).
async fn live_bookings(app: &TestApp, token: &str) -> Vec<Value> {
    let list: Value = app
        .get_authed("/v1/bookings", token)
        .await
        .json()
        .await
        .unwrap();
    list["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| matches!(b["status"].as_str(), Some("held" | "pending" | "confirmed")))
        .cloned()
        .collect()
}

/// Runs one cell of the failure matrix on a fresh pair of providers and returns the end
/// state as the lead's note records it, after checking it.
async fn run_cell(app: &TestApp, admin: &str, providers: Providers, step: Step) -> String {
    let fixture = fixture(app, admin, providers).await;
    let customer = token(
        &app.register(&format!("pkg-{}@example.com", Uuid::new_v4().simple()))
            .await,
    );
    let found = packages_found(app, &fixture.city).await;
    let first = found["packages"][0].clone();
    assert!(first.is_object(), "{providers:?} {step:?}: {found}");
    let body = package_body(&first);
    let rival = token(
        &app.register(&format!("rival-{}@example.com", Uuid::new_v4().simple()))
            .await,
    );

    match step {
        Step::Hold1 => {
            // Someone else takes the clinic slot first: the package's first hold fails.
            let taken = book(
                app,
                &rival,
                &Uuid::new_v4().to_string(),
                &json!({ "offer_id": first["appointment"]["offer_id"], "patient": patient() }),
            )
            .await;
            assert_eq!(taken.status(), 201);
            let refused = hold_package(app, &customer, "hold-1", &body).await;
            assert_problem(refused, 409, "booking.sold_out").await;
            app.run_pending_jobs().await;
            assert!(live_bookings(app, &customer).await.is_empty());
            return "409 sold out; nothing held, nothing charged".into();
        }
        Step::Hold2 => {
            // Someone else takes the last room first: the appointment held first is given back.
            let room = stay_offer(app, &fixture.city, 2, 4, 1).await;
            let taken = book(
                app,
                &rival,
                &Uuid::new_v4().to_string(),
                &json!({ "offer_id": room["offer_id"] }),
            )
            .await;
            assert_eq!(taken.status(), 201);
            let refused = hold_package(app, &customer, "hold-2", &body).await;
            let problem = assert_problem(refused, 409, "booking.sold_out").await;
            assert!(problem.is_object());
            app.run_pending_jobs().await;
            assert!(live_bookings(app, &customer).await.is_empty());
            let list: Value = app
                .get_authed("/v1/bookings", &customer)
                .await
                .json()
                .await
                .unwrap();
            let appointment = &list["bookings"][0];
            assert_eq!(appointment["status"], "cancelled", "{list}");
            if let Some(hospital) = &fixture.hospital {
                let reference = appointment["reference"].as_str().unwrap();
                assert_eq!(hospital.bookings(reference).await[0]["status"], "cancelled");
            }
            return "409 sold out; appointment released (cancelled), nothing charged".into();
        }
        _ => {}
    }

    let held = hold_package(app, &customer, &Uuid::new_v4().to_string(), &body).await;
    assert_eq!(held.status(), 201);
    let package: Value = held.json().await.unwrap();
    assert_eq!(package["status"], "held", "{package}");
    let id = package["id"].as_str().unwrap().to_owned();

    if step == Step::PaymentDeclined {
        let declined = pay_package(app, &customer, &id, CARD_DECLINED).await;
        assert_problem(declined, 402, "payment.declined").await;
        assert_eq!(package_money(app, &id).0, Decimal::ZERO, "nothing captured");
        assert_eq!(get_package(app, &customer, &id).await["status"], "held");
        // The client gives up: the package is cancelled, both holds released.
        let cancelled = app
            .post_ok(
                &format!("/v1/packages/{id}/cancel"),
                &customer,
                &json!({}),
                200,
            )
            .await;
        assert_eq!(cancelled["status"], "cancelled");
        app.run_pending_jobs().await;
        assert!(live_bookings(app, &customer).await.is_empty());
        return "402 declined; held until cancelled, then nothing held, nothing charged".into();
    }

    let paid = pay_package(app, &customer, &id, CARD_OK).await;
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["payment"]["purpose"], "package");
    assert_eq!(paid["payment"]["amount"], package["due_now"]);
    assert_eq!(paid["package"]["status"], "pending", "{paid}");
    let appointment = package["appointment"]["reference"].as_str().unwrap();
    let stay = package["stay"]["reference"].as_str().unwrap();
    match step {
        Step::Confirm1Refused => refuse(app, admin, &fixture.clinic_id, appointment).await,
        Step::Confirm2Refused => refuse(app, admin, &fixture.hotel_id, stay).await,
        _ => {}
    }
    app.run_pending_jobs().await;
    let end = get_package(app, &customer, &id).await;
    let (captured, refunded, refunds, credit_notes) = package_money(app, &id);
    assert_eq!(captured, money(&package["due_now"]));
    if step == Step::Nothing {
        assert_eq!(end["status"], "confirmed", "{end}");
        assert_eq!(end["appointment"]["status"], "confirmed");
        assert_eq!(end["stay"]["status"], "confirmed");
        assert_eq!(refunds, 0);
        return "both confirmed; charged once".into();
    }
    assert_eq!(end["status"], "failed", "{end}");
    let statuses = [
        end["appointment"]["status"].as_str().unwrap(),
        end["stay"]["status"].as_str().unwrap(),
    ];
    assert!(
        statuses.contains(&"failed") && statuses.contains(&"cancelled"),
        "{statuses:?}"
    );
    assert_eq!(refunded, captured, "everything refunded: {end}");
    assert_eq!(credit_notes, refunds, "a credit note for every refund");
    assert!(live_bookings(app, &customer).await.is_empty());
    let steps: Vec<&str> = end["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert!(steps.contains(&"cancel_other"), "{steps:?}");
    if let Some(hospital) = &fixture.hospital {
        assert_eq!(
            hospital.bookings(appointment).await[0]["status"],
            "cancelled"
        );
    }
    format!(
        "refused; other part cancelled, {captured} SAR refunded in full ({refunds} credit notes)"
    )
}

async fn failure_matrix(providers: Providers) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut matrix = Vec::new();
    for step in STEPS {
        let end = run_cell(&app, &admin, providers, step).await;
        matrix.push(format!("{providers:?} × {step:?} → {end}"));
    }
    // The lead's note quotes this matrix.
    eprintln!("package failure matrix:\n{}", matrix.join("\n"));
}

#[tokio::test]
async fn package_failure_matrix_with_our_own_clinic_and_hotel() {
    failure_matrix(Providers::Local).await;
}

#[tokio::test]
async fn package_failure_matrix_with_fhir_and_radicale() {
    failure_matrix(Providers::Outside).await;
}

#[tokio::test]
async fn package_search_pairs_each_slot_with_stays_around_it_and_charges_one_fee() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fixture = fixture(&app, &admin, Providers::Local).await;
    let found = packages_found(&app, &fixture.city).await;
    let packages = found["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2, "two slots, one room each: {found}");
    for package in packages {
        // Arrive the day before, leave the day after.
        assert_eq!(package["check_in"], day(2));
        assert_eq!(package["check_out"], day(4));
        assert_eq!(package["nights"], 2);
        let lines: Vec<(&str, Decimal)> = package["price"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["code"].as_str().unwrap(), money(&l["amount"])))
            .collect();
        // 300.00 at the clinic, 2 × 450.00 at the hotel, ONE fee of 25.00, VAT on the fee.
        assert_eq!(
            lines,
            [
                ("provider_price", "1200.00".parse().unwrap()),
                ("service_fee", "25.00".parse().unwrap()),
                ("vat", "3.75".parse().unwrap()),
            ]
        );
        assert_eq!(package["price"]["total"], "1228.75");
        assert_eq!(package["stay"]["price"]["total"], "900.00");
        assert_eq!(package["appointment"]["price"]["total"], "328.75");
    }
    // The stay's id is signed without a fee: alone, at full fees, it is priced again.
    let customer = token(&app.register("alone@example.com").await);
    let alone = book(
        &app,
        &customer,
        "stay-alone",
        &json!({ "offer_id": packages[0]["stay"]["offer_id"] }),
    )
    .await;
    assert_problem(alone, 409, "booking.offer_changed").await;
}

#[tokio::test]
async fn package_search_names_each_bad_parameter() {
    let app = spawn_app().await;
    let response = search_packages(
        &app,
        &format!(
            "from={}&to={}&guests=0&nights_before=99&nights_after=x",
            day(1),
            day(2)
        ),
    )
    .await;
    let problem = assert_problem(response, 400, "query.invalid").await;
    let mut fields = problem_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["city", "guests", "nights_after", "nights_before"]);
    let none = search_packages(
        &app,
        &format!(
            "city=riyadh&from={}&to={}&nights_before=0&nights_after=0",
            day(1),
            day(2)
        ),
    )
    .await;
    let problem = assert_problem(none, 400, "query.invalid").await;
    assert_eq!(problem_fields(&problem), ["nights_after"]);
}

#[tokio::test]
async fn a_package_hold_replays_under_its_key_and_holds_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fixture = fixture(&app, &admin, Providers::Local).await;
    let customer = token(&app.register("replay@example.com").await);
    let found = packages_found(&app, &fixture.city).await;
    let body = package_body(&found["packages"][0]);
    let first = hold_package(&app, &customer, "package-1", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert!(first["reference"].as_str().unwrap().starts_with("WP-"));
    assert_eq!(first["appointment"]["status"], "held");
    assert_eq!(first["stay"]["status"], "held");
    assert_eq!(first["stay"]["price"]["total"], "900.00");
    assert_eq!(first["price"]["total"], "1228.75");
    let again = hold_package(&app, &customer, "package-1", &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let count: i64 = wasit::schema::packages::table
        .count()
        .get_result(&mut app.db.connect())
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(live_bookings(&app, &customer).await.len(), 2);
    // Read back by reference, and listed for its customer only.
    let reference = first["reference"].as_str().unwrap().to_lowercase();
    assert_eq!(
        get_package(&app, &customer, &reference).await["id"],
        first["id"]
    );
    let listed: Value = app
        .get_authed("/v1/packages", &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["packages"].as_array().unwrap().len(), 1);
    let other = token(&app.register("other@example.com").await);
    let hidden = app
        .get_authed(
            &format!("/v1/packages/{}", first["id"].as_str().unwrap()),
            &other,
        )
        .await;
    assert_eq!(hidden.status(), 404);
    let listed: Value = app
        .get_authed("/v1/packages", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["packages"], json!([]));
}

#[tokio::test]
async fn two_package_holds_racing_for_the_last_room_make_one_package() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // Two clinic slots, one room.
    let fixture = fixture(&app, &admin, Providers::Local).await;
    let found = packages_found(&app, &fixture.city).await;
    let packages = found["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2, "{found}");
    let mut customers = Vec::new();
    for i in 0..2 {
        customers.push(token(&app.register(&format!("racer{i}@example.com")).await));
    }
    let bodies: Vec<Value> = packages.iter().map(package_body).collect();
    let holds = customers
        .iter()
        .zip(&bodies)
        .map(|(customer, body)| hold_package(&app, customer, "race", body))
        .collect();
    let mut statuses = Vec::new();
    for response in join_all(holds).await {
        statuses.push(response.status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    app.run_pending_jobs().await;
    let mut live = Vec::new();
    for customer in &customers {
        live.push(live_bookings(&app, customer).await.len());
    }
    live.sort_unstable();
    assert_eq!(live, [0, 2], "the loser's appointment was given back");
    let mut conn = app.db.connect();
    let open: i64 = wasit::schema::packages::table
        .filter(wasit::schema::packages::phase.eq("open"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let released: i64 = wasit::schema::packages::table
        .filter(wasit::schema::packages::phase.eq("released"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((open, released), (1, 1));
}

#[tokio::test]
async fn an_office_that_flags_refusals_has_an_agent_offer_an_alternative_then_refunds_all() {
    let app = spawn_app_with(|settings| {
        settings.packages.on_part_refused = wasit::config::OnPartRefused::FlagAgent;
    })
    .await;
    let admin = app.admin_token().await;
    let fixture = fixture(&app, &admin, Providers::Local).await;
    let customer = token(&app.register("flag@example.com").await);
    let found = packages_found(&app, &fixture.city).await;
    let held = hold_package(
        &app,
        &customer,
        "flag",
        &package_body(&found["packages"][0]),
    )
    .await;
    assert_eq!(held.status(), 201);
    let package: Value = held.json().await.unwrap();
    let id = package["id"].as_str().unwrap();
    assert_eq!(
        pay_package(&app, &customer, id, CARD_OK).await.status(),
        200
    );
    let stay = package["stay"]["reference"].as_str().unwrap();
    refuse(&app, &admin, &fixture.hotel_id, stay).await;
    app.run_pending_jobs().await;
    let flagged: Value = app
        .get_authed("/v1/packages?flagged=true", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(flagged["packages"][0]["id"], package["id"], "{flagged}");
    let now = get_package(&app, &customer, id).await;
    assert_eq!(now["status"], "partly_cancelled");
    assert_eq!(now["appointment"]["status"], "confirmed");
    // Only the refused stay's share has gone back so far.
    let (captured, refunded, _, _) = package_money(&app, id);
    assert_eq!(refunded, "900.00".parse::<Decimal>().unwrap());
    // No alternative suits the client: the agent cancels, and everything goes back.
    let agent = app.user_with_role(wasit::auth::Role::Agent).await;
    let cancelled = app
        .post_ok(
            &format!("/v1/packages/{id}/cancel"),
            &token(&agent),
            &json!({ "reason": "no other hotel suits the client" }),
            200,
        )
        .await;
    assert_eq!(cancelled["status"], "failed");
    app.run_pending_jobs().await;
    let (_, refunded, _, _) = package_money(&app, id);
    assert_eq!(refunded, captured);
}

#[tokio::test]
async fn a_package_paid_after_a_part_ended_goes_nowhere_and_is_refunded_in_full() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fixture = fixture(&app, &admin, Providers::Local).await;
    let customer = token(&app.register("late@example.com").await);
    let found = packages_found(&app, &fixture.city).await;
    let held = hold_package(
        &app,
        &customer,
        "late",
        &package_body(&found["packages"][0]),
    )
    .await;
    assert_eq!(held.status(), 201);
    let package: Value = held.json().await.unwrap();
    let id = package["id"].as_str().unwrap();
    // The card needs 3-D Secure: both holds wait for the bank.
    let pending = pay_package(&app, &customer, id, crate::payments::CARD_3DS).await;
    assert_eq!(pending.status(), 202);
    let pending: Value = pending.json().await.unwrap();
    for part in ["appointment", "stay"] {
        assert!(
            pending["package"][part]["hold_expires_at"].as_str()
                > package[part]["hold_expires_at"].as_str(),
            "the {part}'s hold was not extended"
        );
    }
    // Meanwhile the stay is cancelled on its own; then the bank approves.
    let stay = package["stay"]["id"].as_str().unwrap();
    app.post_ok(
        &format!("/v1/bookings/{stay}/cancel"),
        &customer,
        &json!({}),
        200,
    )
    .await;
    let action = pending["payment"]["action_url"].as_str().unwrap();
    let answer = crate::payments::answer_3ds(&app, action, "approve").await;
    assert_eq!(answer.status(), 303);
    app.run_pending_jobs().await;
    // Neither part went to its provider, and the whole payment came back.
    let end = get_package(&app, &customer, id).await;
    assert_eq!(end["appointment"]["status"], "cancelled", "{end}");
    assert_eq!(end["status"], "cancelled");
    let (captured, refunded, refunds, credit_notes) = package_money(&app, id);
    assert_eq!(captured, money(&package["due_now"]));
    assert_eq!(refunded, captured);
    assert_eq!((refunds, credit_notes), (1, 1));
}

#[tokio::test]
async fn a_refund_the_gateway_refuses_for_good_gives_its_share_back() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fixture = fixture(&app, &admin, Providers::Local).await;
    let customer = token(&app.register("refused@example.com").await);
    let found = packages_found(&app, &fixture.city).await;
    let held = hold_package(
        &app,
        &customer,
        "refused",
        &package_body(&found["packages"][0]),
    )
    .await;
    let package: Value = held.json().await.unwrap();
    let id = package["id"].as_str().unwrap();
    assert_eq!(
        pay_package(&app, &customer, id, CARD_OK).await.status(),
        200
    );
    app.run_pending_jobs().await;
    // The charge is no longer the sandbox's: the gateway refuses its refunds for good.
    {
        use wasit::schema::payments;
        let package_id: Uuid = id.parse().unwrap();
        diesel::update(payments::table.filter(payments::package_id.eq(package_id)))
            .set(payments::gateway_ref.eq("pi_elsewhere"))
            .execute(&mut app.db.connect())
            .unwrap();
    }
    let cancelled = app
        .post_ok(
            &format!("/v1/packages/{id}/cancel"),
            &customer,
            &json!({}),
            200,
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    app.run_pending_jobs().await;
    let (captured, refunded, refunds, credit_notes) = package_money(&app, id);
    assert_eq!(refunded, Decimal::ZERO);
    assert_eq!((refunds, credit_notes), (2, 0));
    // Each share is whole again, so the office can settle it through the one refund path.
    let shares: Vec<(Decimal, Decimal)> = wasit::schema::payment_allotments::table
        .select((
            wasit::schema::payment_allotments::amount,
            wasit::schema::payment_allotments::refunded,
        ))
        .load(&mut app.db.connect())
        .unwrap();
    assert_eq!(shares.iter().map(|s| s.0).sum::<Decimal>(), captured);
    assert!(shares.iter().all(|s| s.1.is_zero()), "{shares:?}");
    let stay = package["stay"]["id"].as_str().unwrap();
    let quote: Value = app
        .get_authed(&format!("/v1/bookings/{stay}/cancellation"), &customer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(quote["paid"], "900.00");
}
