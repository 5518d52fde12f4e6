//! Booking emails through a real SMTP server (maildev, started by scripts/test): recipient,
//! subject, language, the plain-text part, the calendar attachment, stable Message-IDs, and
//! mail that waits while SMTP is down.

use diesel::prelude::*;
use serde_json::{Value, json};
use wasit::auth::Role;

use crate::helpers::{PASSWORD, TestApp, spawn_app, token};

fn maildev() -> String {
    std::env::var("WASIT_TEST_MAILDEV_URL").unwrap_or_else(|_| {
        panic!("start the SMTP test server: run scripts/test (tests/peers/smtp/start.sh), which exports WASIT_TEST_MAILDEV_URL")
    })
}

/// Every message maildev holds for `to`, oldest first.
pub(crate) async fn inbox(app: &TestApp, to: &str) -> Vec<Value> {
    let all: Vec<Value> = app
        .client
        .get(format!("{}/api/email", maildev()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all.into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|to_list| to_list.iter().any(|a| a["address"] == to))
        })
        .collect()
}

/// A customer (unique address) books one night in a fresh local hotel; returns (email, booking).
async fn book(app: &TestApp, admin: &str, locale: &str) -> (String, String, Value) {
    let email = format!("guest-{}@example.com", uuid::Uuid::new_v4().simple());
    let session: Value = app
        .post_json("/v1/auth/register", &json!({ "email": email, "password": PASSWORD, "full_name": "Sara Al-Harbi", "locale": locale }))
        .await
        .json()
        .await
        .unwrap();
    // Booking mail waits for a verified email (tests/api/accounts.rs); these tests read it.
    app.mark_verified(session["user"]["id"].as_str().unwrap());
    let customer = token(&session);
    let city = crate::helpers::unique_city("m");
    app.local_hotel(admin, &city, "Corniche", 5, "300.00", 5)
        .await;
    let offer = crate::helpers::stay_offer(app, &city, 2, 4, 2).await;
    let booking: Value = crate::helpers::book(
        app,
        &customer,
        "mail",
        &json!({ "offer_id": offer["offer_id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    (email, customer, booking)
}

#[tokio::test]
async fn an_arabic_customer_gets_rtl_mail_and_a_calendar_entry_on_confirmation() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let (email, _, booking) = book(&app, &admin, "ar").await;
    let reference = booking["reference"].as_str().unwrap();
    app.run_pending_jobs().await;

    let held = inbox(&app, &email).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["subject"], format!("حجزك {reference} محجوز مؤقتاً"));
    assert!(held[0]["html"].as_str().unwrap().contains("dir=\"rtl\""));
    assert!(
        held[0]["text"].as_str().unwrap().contains("628.75 SAR"),
        "{}",
        held[0]["text"]
    );
    // A receipt (#19, point 2): the provider, the room and the two amounts as labelled
    // rows, numbers isolated (U+2066 … U+2069 in text, <bdi dir="ltr"> in HTML).
    let (text, html) = (
        held[0]["text"].as_str().unwrap(),
        held[0]["html"].as_str().unwrap(),
    );
    for part in [
        format!("رقم الحجز: \u{2066}{reference}\u{2069}"),
        "مقدم الخدمة: فندق Corniche".to_owned(),
        "الغرفة: غرفة ديلوكس".to_owned(),
        "تدفعه الآن: \u{2066}628.75 SAR\u{2069}".to_owned(),
        "تدفعه لدى مقدم الخدمة: \u{2066}0.00 SAR\u{2069}".to_owned(),
        "شروط الإلغاء".to_owned(),
    ] {
        assert!(text.contains(&part), "{part}: {text}");
    }
    assert!(html.contains("<bdi dir=\"ltr\">628.75 SAR</bdi>"), "{html}");
    let check_in = text.lines().find(|l| l.starts_with("الوصول: ")).unwrap();
    assert!(
        !check_in.contains("00:00"),
        "a stay shows days, not midnight: {check_in}"
    );

    // The hotel gets an address and its times: the confirmation shows them.
    let provider = booking["provider"]["id"].as_str().unwrap();
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({ "address_ar": "طريق الكورنيش، جدة", "address_en": "Corniche Road, Jeddah", "check_in_time": "15:00", "check_out_time": "12:00" }),
    )
    .await;

    app.post_ok(
        &format!("/v1/bookings/{}/confirm", booking["id"].as_str().unwrap()),
        &agent,
        &json!({ "reason": "paid at the office" }),
        200,
    )
    .await;
    app.run_pending_jobs().await;
    let mails = inbox(&app, &email).await;
    assert_eq!(mails.len(), 2);
    let confirmed = &mails[1];
    assert_eq!(confirmed["subject"], format!("تم تأكيد حجزك {reference}"));
    let text = confirmed["text"].as_str().unwrap();
    for part in [
        "العنوان: طريق الكورنيش، جدة",
        "، من الساعة \u{2066}15:00\u{2069}",
        "، حتى الساعة \u{2066}12:00\u{2069}",
        "دفعته عبر وسيط: \u{2066}628.75 SAR\u{2069}",
        " هـ)",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let attachment = &confirmed["attachments"][0];
    assert_eq!(attachment["filename"], format!("{reference}.ics"));
    assert_eq!(attachment["contentType"], "text/calendar");
    assert_eq!(
        confirmed["headers"]["message-id"],
        format!(
            "<confirmed.{}@wasit.local>",
            booking["id"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn an_english_customer_gets_english_mail_and_a_cancellation_shows_the_refund() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (email, customer, booking) = book(&app, &admin, "en").await;
    let reference = booking["reference"].as_str().unwrap();
    let provider = booking["provider"]["id"].as_str().unwrap();
    app.patch_ok(
        &format!("/v1/providers/{provider}"),
        &admin,
        &json!({ "address_en": "Corniche Road, Jeddah", "check_in_time": "14:00", "check_out_time": "11:30" }),
    )
    .await;
    app.run_pending_jobs().await;
    let held = &inbox(&app, &email).await[0];
    let text = held["text"].as_str().unwrap();
    for part in [
        format!("Booking reference: {reference}"),
        "Address: Corniche Road, Jeddah".to_owned(),
        "Room: Deluxe room".to_owned(),
        ", from 14:00".to_owned(),
        ", until 11:30".to_owned(),
        " AH)".to_owned(),
        "Pay now: 628.75 SAR".to_owned(),
        "Pay at the provider: 0.00 SAR".to_owned(),
        "Cancellation terms".to_owned(),
    ] {
        assert!(text.contains(&part), "{part}: {text}");
    }
    assert!(!text.contains('\u{2066}'), "English text needs no isolates");
    // The calendar link: the same entry, at the address, for the booking's owner only.
    let ics = app
        .get_authed(
            &format!("/v1/bookings/{reference}/calendar.ics?lang=en"),
            &customer,
        )
        .await;
    assert_eq!(ics.status(), 200);
    assert!(
        ics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = ics.text().await.unwrap();
    assert!(ics.contains("LOCATION:Corniche Road\\, Jeddah"), "{ics}");
    assert!(
        ics.contains("STATUS:TENTATIVE") && ics.contains(&format!("UID:{reference}@wasit")),
        "{ics}"
    );
    let stranger = token(
        &app.sign_up(&format!(
            "other-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await,
    );
    let hidden = app
        .get_authed(&format!("/v1/bookings/{reference}/calendar.ics"), &stranger)
        .await;
    assert_eq!(hidden.status(), 404);
    app.post_ok(
        &format!("/v1/bookings/{reference}/cancel"),
        &customer,
        &json!({}),
        200,
    )
    .await;
    app.run_pending_jobs().await;
    let mails = inbox(&app, &email).await;
    let subjects: Vec<&str> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            format!("Your booking {reference} is on hold"),
            format!("Your booking {reference} is cancelled")
        ]
    );
    assert!(mails[1]["html"].as_str().unwrap().contains("dir=\"ltr\""));
    assert!(
        mails[1]["text"]
            .as_str()
            .unwrap()
            .contains("Refund: 0.00 SAR"),
        "{}",
        mails[1]["text"]
    );
}

#[tokio::test]
async fn a_retried_email_keeps_its_message_id_and_mail_waits_while_smtp_is_down() {
    let down = spawn_app_with_dead_smtp().await;
    let admin = down.admin_token().await;
    let (email, _, booking) = book(&down, &admin, "en").await;
    down.run_pending_jobs().await;
    assert!(inbox(&down, &email).await.is_empty());
    let mut conn = down.db.connect();
    let (state, error): (String, Option<String>) = wasit::schema::jobs::table
        .filter(wasit::schema::jobs::kind.eq("send_booking_email"))
        .select((wasit::schema::jobs::state, wasit::schema::jobs::last_error))
        .first(&mut conn)
        .unwrap();
    assert_eq!(state, "queued", "the mail waits for SMTP");
    assert!(error.unwrap().contains("SMTP"));

    // SMTP is back: a worker with the real server sends it, and a retry sends the same id.
    diesel::sql_query("UPDATE jobs SET run_at = now()")
        .execute(&mut conn)
        .unwrap();
    let mut settings = down.settings.clone();
    settings.email = crate::helpers::test_settings().email;
    let pool = wasit::db::build_pool(&settings.database);
    let state = wasit::state::AppState::new(&settings, pool).unwrap();
    let worker = wasit::worker::Worker::for_state(&state, &settings.jobs);
    worker.drain().await.unwrap();
    diesel::sql_query(
        "INSERT INTO jobs (kind, payload) SELECT kind, payload FROM jobs WHERE kind = 'send_booking_email'",
    )
    .execute(&mut conn)
    .unwrap();
    worker.drain().await.unwrap();
    let mails = inbox(&down, &email).await;
    assert_eq!(mails.len(), 2);
    let expected = format!("<held.{}@wasit.local>", booking["id"].as_str().unwrap());
    assert!(
        mails
            .iter()
            .all(|m| m["headers"]["message-id"] == expected.as_str()),
        "{mails:?}"
    );
}

async fn spawn_app_with_dead_smtp() -> TestApp {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    crate::helpers::spawn_app_with(move |s| s.email.smtp_port = closed).await
}

#[tokio::test]
async fn a_reminder_goes_out_once_a_day_ahead() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let agent = token(&app.user_with_role(Role::Agent).await);
    let (email, _, booking) = book(&app, &admin, "ar").await;
    let id = booking["id"].as_str().unwrap();
    app.confirm_paid_at_office(&agent, id).await;
    app.run_pending_jobs().await;
    let pool = wasit::db::build_pool(&app.settings.database);
    // Two days ahead: no reminder yet.
    wasit::worker::schedule::enqueue_tick(&pool, wasit::jobs::Job::SendReminders)
        .await
        .unwrap();
    app.run_pending_jobs().await;
    assert_eq!(
        inbox(&app, &email).await.len(),
        2,
        "held and confirmed only"
    );

    let mut conn = app.db.connect();
    diesel::sql_query(format!(
        "UPDATE bookings SET starts_at = now() + interval '20 hours', ends_at = now() + interval '44 hours' WHERE id = '{id}'"
    ))
    .execute(&mut conn)
    .unwrap();
    for _ in 0..2 {
        // Sweeps are deduplicated per minute; clear the tick to sweep again at once.
        diesel::sql_query("DELETE FROM jobs WHERE kind = 'send_reminders'")
            .execute(&mut conn)
            .unwrap();
        wasit::worker::schedule::enqueue_tick(&pool, wasit::jobs::Job::SendReminders)
            .await
            .unwrap();
        app.run_pending_jobs().await;
    }
    let mails = inbox(&app, &email).await;
    assert_eq!(mails.len(), 3, "one reminder, however often the sweep runs");
    assert!(mails[2]["subject"].as_str().unwrap().starts_with("تذكير"));
}

#[tokio::test]
async fn subscription_and_invoice_mail_arrive_in_the_customers_language() {
    use crate::payments::{CARD_RENEWAL_FAILS, card, post_keyed};
    let app = spawn_app().await;
    let email = format!("subscriber-{}@example.com", uuid::Uuid::new_v4().simple());
    let session: Value = app
        .post_json("/v1/auth/register", &json!({ "email": email, "password": PASSWORD, "full_name": "Omar Haddad", "locale": "en" }))
        .await
        .json()
        .await
        .unwrap();
    let customer = token(&session);
    let mut body = card(CARD_RENEWAL_FAILS);
    body["plan"] = json!("business");
    let sub: Value = post_keyed(&app, "/v1/subscriptions", &customer, &body)
        .await
        .json()
        .await
        .unwrap();
    app.run_pending_jobs().await;
    let mail = inbox(&app, &email).await;
    let subjects: Vec<&str> = mail
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&"Your Business subscription is active"),
        "{subjects:?}"
    );
    let invoice = mail
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Your invoice INV-")
        })
        .unwrap_or_else(|| panic!("no invoice mail: {subjects:?}"));
    assert!(
        invoice["text"]
            .as_str()
            .unwrap()
            .contains("Total 2185.00 SAR including VAT of 285.00 SAR")
    );
    // A receipt (#19, point 2): labelled rows and the amounts, line by line.
    let text = invoice["text"].as_str().unwrap();
    for part in [
        "Invoice number: INV-",
        "Date: ",
        "VAT: 285.00 SAR",
        "Total: 2185.00 SAR",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let active = mail
        .iter()
        .find(|m| m["subject"] == "Your Business subscription is active")
        .unwrap();
    let text = active["text"].as_str().unwrap();
    assert!(
        text.contains("Plan: Business")
            && text.contains("Current period until: ")
            && text.contains(" AH)"),
        "{text}"
    );
    let attachment = &invoice["attachments"][0];
    assert_eq!(attachment["contentType"], "text/html");
    assert_eq!(
        attachment["filename"],
        format!(
            "{}.html",
            invoice["subject"]
                .as_str()
                .unwrap()
                .trim_start_matches("Your invoice ")
        )
    );

    // The renewal is declined: the customer hears when the next try is.
    let end: chrono::DateTime<chrono::Utc> =
        sub["current_period_end"].as_str().unwrap().parse().unwrap();
    app.worker("renewals")
        .billing
        .renew_due(end + chrono::Duration::seconds(1))
        .await
        .unwrap();
    app.run_pending_jobs().await;
    let mail = inbox(&app, &email).await;
    let failed = mail
        .iter()
        .find(|m| m["subject"] == "We could not renew your Business subscription")
        .expect("payment failed mail");
    let next_day = (end + chrono::Duration::days(1))
        .with_timezone(&chrono_tz::Asia::Riyadh)
        .format("%-d %B %Y")
        .to_string();
    assert!(
        failed["text"].as_str().unwrap().contains(&next_day),
        "{}",
        failed["text"]
    );
    // Retried jobs never send a second copy: one of each.
    app.run_pending_jobs().await;
    assert_eq!(inbox(&app, &email).await.len(), mail.len());
}

/// #19, point 2: money mail in Arabic is a right-to-left receipt whose numbers keep their order.
#[tokio::test]
async fn arabic_invoice_and_subscription_mail_are_receipts_with_isolated_numbers() {
    use crate::payments::{CARD_RENEWAL_FAILS, card, post_keyed};
    let app = spawn_app().await;
    let email = format!("subscriber-{}@example.com", uuid::Uuid::new_v4().simple());
    let session: Value = app
        .post_json("/v1/auth/register", &json!({ "email": email, "password": PASSWORD, "full_name": "عمر حداد", "locale": "ar" }))
        .await
        .json()
        .await
        .unwrap();
    let mut body = card(CARD_RENEWAL_FAILS);
    body["plan"] = json!("business");
    post_keyed(&app, "/v1/subscriptions", &token(&session), &body).await;
    app.run_pending_jobs().await;
    let mail = inbox(&app, &email).await;
    let invoice = mail
        .iter()
        .find(|m| m["subject"].as_str().unwrap().starts_with("فاتورتك INV-"))
        .expect("an Arabic invoice mail");
    let (text, html) = (
        invoice["text"].as_str().unwrap(),
        invoice["html"].as_str().unwrap(),
    );
    for part in [
        "رقم الفاتورة: \u{2066}INV-",
        "ضريبة القيمة المضافة: \u{2066}285.00 SAR\u{2069}",
        "الإجمالي: \u{2066}2185.00 SAR\u{2069}",
        " هـ)",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    assert!(
        html.contains("dir=\"rtl\"") && html.contains("<bdi dir=\"ltr\">2185.00 SAR</bdi>"),
        "{html}"
    );
    let active = mail
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("فعّال"))
        .expect("an Arabic subscription mail");
    let text = active["text"].as_str().unwrap();
    assert!(
        text.contains("الباقة: ") && text.contains("الفترة الحالية حتى: "),
        "{text}"
    );
    // Dates are words, not ISO dates that reverse inside Arabic.
    assert!(!text.contains("-20"), "{text}");
}
