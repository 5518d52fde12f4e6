//! Issue #14, point 9: names and free text refuse control characters and bidirectional
//! overrides with a 422 naming the field, and writing nothing; a name stored before the rule
//! reaches no invoice with its control characters (iCalendar: `caldav.rs`, email headers:
//! `notify::billing_mail`).

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{
    TestApp, assert_problem, book, held, problem_fields, spawn_app, stay_offer, token, unique_city,
};
use crate::payments::{CARD_OK, hotel, pay, post_keyed};

/// POSTs as `token` and expects 422 naming exactly `field`.
async fn refused(app: &TestApp, path: &str, token: &str, body: &Value, field: &str) {
    let problem = assert_problem(
        app.post_json_authed(path, token, body).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), [field], "{path} {body}");
}

fn count(app: &TestApp, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result::<Count>(&mut app.db.connect())
        .unwrap()
        .n
}

#[tokio::test]
async fn peoples_names_refuse_control_characters_and_bidi_overrides() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let users = count(&app, "users");

    let client = |name: &str| json!({ "full_name": name, "phone": "+966500000001" });
    for name in ["Eve\rX-INJECTED:1", "Eve\u{1b}[2J", "Eve\u{202E}gnp.exe"] {
        refused(&app, "/v1/customers", &admin, &client(name), "full_name").await;
    }
    assert_eq!(count(&app, "customers"), 0, "nothing half-written");
    // Arabic's own direction marks are text, not overrides.
    app.post_ok("/v1/customers", &admin, &client("سارة\u{200F} الحربي"), 201)
        .await;

    let person = |name: &str| json!({ "email": "eve@example.com", "password": crate::helpers::PASSWORD, "full_name": name });
    for (path, body) in [
        ("/v1/auth/register", person("Eve\u{2066}isolated\u{2069}")),
        ("/v1/auth/register", person("Eve\nBcc: x@example.com")),
        ("/v1/admin/users", {
            let mut staff = person("Desk\tOne");
            staff["role"] = json!("agent");
            staff
        }),
    ] {
        refused(&app, path, &admin, &body, "full_name").await;
    }
    assert_eq!(count(&app, "users"), users, "nothing half-written");
}

#[tokio::test]
async fn provider_unit_and_plan_names_refuse_control_characters_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = unique_city("names");
    let hotel_named = |name_en: &str| json!({ "kind": "hotel", "name_ar": "فندق", "name_en": name_en, "city": city, "adapter": "local" });
    refused(
        &app,
        "/v1/providers",
        &admin,
        &hotel_named("Hilton\nX"),
        "name_en",
    )
    .await;
    let caldav = json!({ "kind": "hotel", "name_ar": "فندق", "name_en": "Hilton", "city": city,
        "adapter": "caldav", "adapter_settings": { "base_url": "http://127.0.0.1:9", "room_types": [
            { "code": "std", "calendar_path": "/std/", "name_ar": "غرفة", "name_en": "Standard\rX-INJECTED:1",
              "rooms": 1, "max_guests": 2, "nightly_price": "100.00" }] } });
    refused(
        &app,
        "/v1/providers",
        &admin,
        &caldav,
        "adapter_settings.room_types[0].name_en",
    )
    .await;
    assert_eq!(count(&app, "providers"), 0, "nothing half-written");

    let (provider, _) = app
        .local_hotel(&admin, &city, "Hilton", 1, "100.00", 2)
        .await;
    let unit = json!({ "kind": "room_type", "name_ar": "غرفة\u{202D}", "name_en": "Twin", "max_guests": 2, "rooms": 1, "nightly_price": "100.00" });
    refused(
        &app,
        &format!("/v1/providers/{provider}/units"),
        &admin,
        &unit,
        "name_ar",
    )
    .await;
    let patched = app
        .client
        .patch(app.url(&format!("/v1/providers/{provider}")))
        .bearer_auth(&admin)
        .json(&json!({ "name_ar": "فندق\u{7}" }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(patched, 422, "validation.failed").await;
    assert_eq!(problem_fields(&problem), ["name_ar"]);

    let plan = json!({ "code": "gold", "name_ar": "ذهبي", "name_en": "Gold\r\nBcc: x@example.com", "price": "99.00", "interval": "month" });
    refused(&app, "/v1/admin/plans", &admin, &plan, "name_en").await;
}

#[tokio::test]
async fn contact_names_and_reasons_refuse_controls_and_reasons_keep_line_breaks() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("reasons@example.com").await);

    let offer = stay_offer(&app, &city, 10, 12, 2).await;
    let body = json!({ "offer_id": offer["offer_id"], "contact": { "name": "Eve\rX-INJECTED:1", "phone": "+966500000001" } });
    let problem = assert_problem(
        book(&app, &customer, "contact-cr", &body).await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["contact.name"]);
    assert_eq!(count(&app, "bookings"), 0, "nothing half-written");

    let booking = held(&app, &customer, &city, 10).await;
    let cancel = format!("/v1/bookings/{}/cancel", booking["id"].as_str().unwrap());
    for reason in ["changed my mind\u{7}", "rlo\u{202E}", "bare\rreturn"] {
        refused(
            &app,
            &cancel,
            &customer,
            &json!({ "reason": reason }),
            "reason",
        )
        .await;
    }
    let cancelled = app
        .post_ok(
            &cancel,
            &customer,
            &json!({ "reason": "first line\nsecond line" }),
            200,
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled");
}

/// A customer's name written before the rule (straight into the table, as the API now
/// refuses it) goes on the invoice as one clean line; a refund's reason is free text.
#[tokio::test]
async fn an_invoice_names_its_buyer_without_control_characters() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("invoice-name@example.com").await);
    let booking = held(&app, &customer, &city, 10).await;
    {
        use wasit::schema::customers::dsl as c;
        diesel::update(c::customers)
            .set(c::full_name.eq("Eve\r\nX-INJECTED: 1\u{1b}[2J\u{202E}"))
            .execute(&mut app.db.connect())
            .unwrap();
    }
    let paid: Value = pay(&app, &customer, &booking, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    let invoice_id = paid["payment"]["invoice_id"].as_str().unwrap();
    let invoice: Value = app
        .get_authed(&format!("/v1/invoices/{invoice_id}"), &customer)
        .await
        .json()
        .await
        .unwrap();
    let buyer = invoice["buyer_name"].as_str().unwrap();
    assert!(
        buyer.starts_with("Eve") && !buyer.chars().any(|c| c.is_control() || c == '\u{202E}'),
        "{buyer:?}"
    );

    let refund = format!(
        "/v1/payments/{}/refunds",
        paid["payment"]["id"].as_str().unwrap()
    );
    let problem = assert_problem(
        post_keyed(
            &app,
            &refund,
            &agent,
            &json!({ "amount": "1.00", "reason": "goodwill\u{202E}" }),
        )
        .await,
        422,
        "validation.failed",
    )
    .await;
    assert_eq!(problem_fields(&problem), ["reason"]);
    assert_eq!(count(&app, "refunds"), 0, "nothing half-written");
}
