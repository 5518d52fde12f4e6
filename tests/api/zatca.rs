//! ZATCA phase 2 (#17): every invoice and credit note is a stamped UBL document whose hash,
//! signature, signed properties, QR code, totals and chain a second implementation
//! (tests/peers/zatca/check.py: Python with lxml and cryptography, sharing no code with ours)
//! recomputes, and which validates against the OASIS UBL 2.1 schemas; and reporting runs
//! against a stand-in of ZATCA's API (tests/peers/zatca/stand_in.py): no ZATCA sandbox is
//! reachable from here.

use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, free_port, held, manifest_dir, spawn_app, spawn_app_with, token};
use crate::payments::{CARD_OK, hotel, pay, pay_at_once, post_keyed};

fn python() -> String {
    std::env::var("WASIT_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("run scripts/test: it installs lxml and cryptography and exports WASIT_TEST_PYTHON")
    })
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasit-zatca-{name}-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the independent checker on `files`; its JSON report and whether it passed.
fn check(files: &[PathBuf], complete_chain: bool) -> (bool, Value) {
    let xsd = std::env::var("WASIT_TEST_UBL_XSD").unwrap_or_else(|_| {
        panic!("run scripts/test: it fetches the UBL 2.1 schemas and exports WASIT_TEST_UBL_XSD")
    });
    let mut command = Command::new(python());
    command
        .arg(manifest_dir().join("tests/peers/zatca/check.py"))
        .arg("--xsd")
        .arg(xsd);
    if complete_chain {
        command.arg("--chain-complete");
    }
    let output = command.args(files).output().expect("run check.py");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "check.py printed no JSON: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

/// Every invoice of the app, oldest first, as the admin API lists them.
async fn all_invoices(app: &TestApp, admin: &str) -> Vec<Value> {
    let mut invoices = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/invoices?limit=100&cursor={c}"),
            None => "/v1/invoices?limit=100".to_owned(),
        };
        let page: Value = app.get_authed(&path, admin).await.json().await.unwrap();
        invoices.extend(page["invoices"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    invoices.sort_by_key(|i| i["zatca"]["icv"].as_i64());
    invoices
}

/// Downloads each invoice's XML into `dir`; checks the API's QR and hash match the XML.
async fn download(app: &TestApp, admin: &str, invoices: &[Value], dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for invoice in invoices {
        let id = invoice["id"].as_str().unwrap();
        let response = app
            .get_authed(&format!("/v1/invoices/{id}/xml"), admin)
            .await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/xml")
        );
        let xml = response.text().await.unwrap();
        let qr = invoice["zatca_qr"].as_str().unwrap();
        assert!(
            xml.contains(&format!(">{qr}<")),
            "the XML carries the API's QR"
        );
        let hash = invoice["zatca"]["hash"].as_str().unwrap();
        assert!(
            xml.contains(&format!(">{hash}<")),
            "the XML carries the API's hash"
        );
        let file = dir.join(format!("{}.xml", invoice["number"].as_str().unwrap()));
        std::fs::write(&file, xml).unwrap();
        files.push(file);
    }
    files
}

fn set_full_name(app: &TestApp, email: &str, name: &str) {
    let mut conn = app.db.connect();
    diesel::sql_query(
        "UPDATE customers SET full_name = $1 WHERE user_id = (SELECT id FROM users WHERE email = $2)",
    )
    .bind::<diesel::sql_types::Text, _>(name)
    .bind::<diesel::sql_types::Text, _>(email)
    .execute(&mut conn)
    .unwrap();
}

#[tokio::test]
async fn a_rolled_back_payment_leaves_no_hole_and_no_fork_in_the_chain() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("zatca-rollback@example.com").await);
    let first = held(&app, &customer, &city, 10).await;
    assert_eq!(pay(&app, &customer, &first, CARD_OK).await.status(), 200);
    // A document issued in a transaction that then fails (a crash after the stamp, before
    // the commit) takes its counter and hash back with it.
    use wasit::billing::ledger::Account;
    use wasit::billing::money::ChargeLine;
    let lines = [ChargeLine::new(
        "service_fee",
        ("رسوم", "Fee"),
        Account::FeeRevenue,
        "10.00".parse().unwrap(),
        app.settings.pricing.vat_rate,
    )];
    let mut conn = app.db.connect();
    let rolled_back = conn.transaction::<(), _, _>(|conn| {
        let note = issue_note(conn, &app, &lines)?;
        let icv: i64 = wasit::schema::zatca_documents::table
            .find(note.id)
            .select(wasit::schema::zatca_documents::icv)
            .first(conn)?;
        assert_eq!(icv, 2, "the note had taken the next counter");
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(rolled_back.is_err());
    let second = held(&app, &customer, &city, 12).await;
    assert_eq!(pay(&app, &customer, &second, CARD_OK).await.status(), 200);
    let invoices = all_invoices(&app, &admin).await;
    let icvs: Vec<i64> = invoices
        .iter()
        .map(|i| i["zatca"]["icv"].as_i64().unwrap())
        .collect();
    assert_eq!(icvs, [1, 2]);
    assert_eq!(invoices[1]["zatca"]["pih"], invoices[0]["zatca"]["hash"]);
    let dir = scratch_dir("rollback");
    let files = download(&app, &admin, &invoices, &dir).await;
    let (passed, report) = check(&files, true);
    assert!(passed, "{report:#}");
    std::fs::remove_dir_all(dir).ok();
}

/// A credit note issued straight through the one issuing path, in `conn`'s transaction,
/// for what no flow produces today (a line of 0.00, several lines of each category), on the
/// first payment's invoice. It belongs to a refund of its own that moves no money.
fn issue_note(
    conn: &mut PgConnection,
    app: &TestApp,
    lines: &[wasit::billing::money::ChargeLine],
) -> Result<wasit::billing::invoices::InvoiceRow, diesel::result::Error> {
    use wasit::billing::invoices::{NewInvoice, Series, issue, of_payment};
    let first: PaymentIds =
        diesel::sql_query("SELECT customer_id, id FROM payments ORDER BY created_at LIMIT 1")
            .get_result(conn)?;
    let original = of_payment(conn, first.id)?;
    let gross: rust_decimal::Decimal = lines.iter().map(|l| l.gross()).sum();
    let refund: RefundId = diesel::sql_query(
        "INSERT INTO refunds (payment_id, amount, reason, status) \
         VALUES ($1, $2, 'test: a credit note of its own', 'succeeded') RETURNING id",
    )
    .bind::<diesel::sql_types::Uuid, _>(first.id)
    .bind::<diesel::sql_types::Numeric, _>(gross)
    .get_result(conn)?;
    issue(
        conn,
        &app.state.billing.issuer,
        &NewInvoice {
            series: Series::CreditNote,
            customer_id: first.customer_id,
            buyer_name: "عبدالله بن سعيد & Sons <Ltd>",
            payment_id: first.id,
            refund_id: Some(refund.id),
            original: original.as_ref(),
            reason: Some("تصحيح \"السطور\" & <lines>"),
            lines,
        },
    )
    .map_err(|e| diesel::result::Error::QueryBuilderError(format!("{e:?}").into()))
}

/// A staff refund of part of a payment; its credit note follows when the jobs run.
async fn staff_refund(app: &TestApp, staff: &str, payment_id: &str, amount: &str, reason: &str) {
    let refund = post_keyed(
        app,
        &format!("/v1/payments/{payment_id}/refunds"),
        staff,
        &json!({ "amount": amount, "reason": reason }),
    )
    .await;
    assert!(
        refund.status().is_success(),
        "{}",
        refund.text().await.unwrap()
    );
}

#[derive(QueryableByName)]
struct RefundId {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct PaymentIds {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    customer_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

#[tokio::test]
async fn every_invoice_and_credit_note_passes_the_independent_checker() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    // An Arabic buyer; a stay (the provider's price out of VAT scope, our fee at 15 %).
    let email = "zatca-buyer@example.com";
    let customer = token(&app.register(email).await);
    set_full_name(&app, email, "محمد بن عبدالله القحطاني");
    let first = held(&app, &customer, &city, 10).await;
    let paid: Value = pay(&app, &customer, &first, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["payment"]["status"], "succeeded", "{paid}");
    // A second stay, refunded in part by staff (a credit note over both categories, with
    // the staff's reason) and then cancelled (a second credit note for the rest).
    let second = held(&app, &customer, &city, 14).await;
    let paid: Value = pay(&app, &customer, &second, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    let payment_id = paid["payment"]["id"].as_str().unwrap().to_owned();
    staff_refund(
        &app,
        &admin,
        &payment_id,
        "100.01",
        "غرفة بدون إطلالة / room without the view",
    )
    .await;
    app.run_pending_jobs().await;
    let id = second["id"].as_str().unwrap();
    let cancelled = post_keyed(
        &app,
        &format!("/v1/bookings/{id}/cancel"),
        &customer,
        &json!({}),
    )
    .await;
    assert!(
        cancelled.status().is_success(),
        "{}",
        cancelled.text().await.unwrap()
    );
    app.run_pending_jobs().await;
    // A plan (one line at 15 %).
    let subscriber = token(&app.register("zatca-plan@example.com").await);
    let mut body = crate::payments::card(CARD_OK);
    body["plan"] = json!("business");
    let subscribed = post_keyed(&app, "/v1/subscriptions", &subscriber, &body).await;
    assert!(
        subscribed.status().is_success(),
        "{}",
        subscribed.text().await.unwrap()
    );
    // Several lines of each category and a line of 0.00.
    use wasit::billing::ledger::Account;
    use wasit::billing::money::ChargeLine;
    let rate = app.settings.pricing.vat_rate;
    let lines = vec![
        ChargeLine::new(
            "provider_price",
            ("ليلة أولى", "First night"),
            Account::ProviderPayable,
            "450.00".parse().unwrap(),
            0.into(),
        ),
        ChargeLine::new(
            "provider_price",
            ("ليلة ثانية", "Second night"),
            Account::ProviderPayable,
            "450.00".parse().unwrap(),
            0.into(),
        ),
        ChargeLine::new(
            "service_fee",
            ("رسوم الخدمة", "Service fee"),
            Account::FeeRevenue,
            "25.00".parse().unwrap(),
            rate,
        ),
        ChargeLine::new(
            "service_fee",
            ("خصم", "Waived fee"),
            Account::FeeRevenue,
            "0.00".parse().unwrap(),
            rate,
        ),
    ];
    let mut conn = app.db.connect();
    conn.transaction(|conn| issue_note(conn, &app, &lines))
        .unwrap();

    let invoices = all_invoices(&app, &admin).await;
    let kinds: Vec<&str> = invoices
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "credit_note").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    for invoice in &invoices {
        assert_eq!(invoice["zatca"]["report_status"], "not_required");
    }
    let dir = scratch_dir("all");
    let files = download(&app, &admin, &invoices, &dir).await;
    let (passed, report) = check(&files, true);
    assert!(passed, "{report:#}");
    assert_eq!(report["documents"], 6);
    assert_eq!(report["chain"]["first_icv"], 1);
    assert_eq!(report["chain"]["last_icv"], 6);

    // The checker is not a rubber stamp: one halala changed in a total fails it.
    let tampered = std::fs::read_to_string(&files[0]).unwrap();
    let changed = tampered.replacen(
        "<cbc:PayableAmount currencyID=\"SAR\">",
        "<cbc:PayableAmount currencyID=\"SAR\">1",
        1,
    );
    assert_ne!(tampered, changed);
    std::fs::write(&files[0], changed).unwrap();
    let (passed, report) = check(&files, true);
    assert!(!passed, "a changed total must fail: {report:#}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_hundred_concurrent_payments_chain_without_gap_or_fork() {
    // Payments queue for the chain's lock holding a connection each: on a loaded machine the
    // last may wait longer than the default 2 s for one. This test is about the chain.
    let app = spawn_app_with(|s| s.database.connect_timeout_secs = 20).await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 100).await;
    let customer = token(&app.register("zatca-hundred@example.com").await);
    pay_at_once(&app, &customer, &city, 100).await;
    let invoices = all_invoices(&app, &admin).await;
    assert_eq!(invoices.len(), 100);
    let icvs: Vec<i64> = invoices
        .iter()
        .map(|i| i["zatca"]["icv"].as_i64().unwrap())
        .collect();
    assert_eq!(icvs, (1..=100).collect::<Vec<_>>());
    let dir = scratch_dir("hundred");
    let files = download(&app, &admin, &invoices, &dir).await;
    let (passed, report) = check(&files, true);
    assert!(passed, "{report:#}");
    assert_eq!(report["documents"], 100);
    std::fs::remove_dir_all(dir).ok();
}

/// A ZATCA stand-in of this test's own (tests/peers/zatca/stand_in.py), stopped on drop.
struct StandIn {
    child: std::process::Child,
    url: String,
    dir: PathBuf,
    client: reqwest::Client,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

impl StandIn {
    async fn start() -> Self {
        wasit::providers::adapter::install_crypto_provider();
        let port = free_port();
        let dir = scratch_dir("stand-in");
        let child = Command::new(python())
            .arg(manifest_dir().join("tests/peers/zatca/stand_in.py"))
            .arg(port.to_string())
            .arg(dir.join("requests.log"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start stand_in.py");
        let stand_in = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
            client: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if stand_in.received_now().await.is_some() {
                return stand_in;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the ZATCA stand-in did not start");
    }

    async fn received_now(&self) -> Option<Vec<Value>> {
        let answer = self
            .client
            .get(format!("{}/_stand_in/received", self.url))
            .send()
            .await
            .ok()?;
        answer.json().await.ok()
    }

    async fn received(&self) -> Vec<Value> {
        self.received_now().await.expect("the stand-in answers")
    }

    /// The outcomes of the next reports (`"ok"`, `"warn"`, `"reject"`, an HTTP status).
    async fn script(&self, outcomes: &[&str]) {
        let answer = self
            .client
            .post(format!("{}/_stand_in/script", self.url))
            .json(&outcomes)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
}

/// A stamp made by a third party (Python's `cryptography`): a secp256k1 key (SEC1 PEM, as
/// ZATCA's SDK writes it) and a certificate for it, in `dir`.
fn third_party_stamp(dir: &Path) -> (PathBuf, PathBuf) {
    let (key, certificate) = (dir.join("key.pem"), dir.join("certificate.pem"));
    let script = r#"
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
ca = ec.generate_private_key(ec.SECP256K1())
key = ec.generate_private_key(ec.SECP256K1())
issuer = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "SA"), x509.NameAttribute(NameOID.COMMON_NAME, "Stand-in Issuing CA, Test")])
subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "SA"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wasit"), x509.NameAttribute(NameOID.COMMON_NAME, "wasit-egs")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365)).sign(ca, hashes.SHA256()))
open(sys.argv[1], "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
open(sys.argv[2], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
"#;
    let status = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&key)
        .arg(&certificate)
        .status()
        .unwrap();
    assert!(status.success());
    (key, certificate)
}

/// An app that reports to `stand_in` with `token` as its CSID, stamping with a third
/// party's key and certificate.
async fn reporting_app(stand_in: &StandIn, token: &str) -> TestApp {
    let (key, certificate) = third_party_stamp(&stand_in.dir);
    let (url, token) = (stand_in.url.clone(), token.to_owned());
    spawn_app_with(move |s| {
        s.zatca.enabled = true;
        s.zatca.api_base = url;
        s.zatca.csid_token = token.into();
        s.zatca.csid_secret = "wasit-test-secret".to_owned().into();
        s.zatca.private_key_path = key.display().to_string();
        s.zatca.certificate_path = certificate.display().to_string();
    })
    .await
}

/// Runs the report jobs due now, then makes the ones waiting out their backoff due.
async fn run_reports(app: &TestApp) {
    app.run_pending_jobs().await;
    let mut conn = app.db.connect();
    diesel::sql_query(
        "UPDATE jobs SET run_at = now() WHERE kind = 'report_invoice' AND state = 'queued'",
    )
    .execute(&mut conn)
    .unwrap();
}

async fn invoice(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_authed(&format!("/v1/invoices/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

async fn paid_invoice(app: &TestApp, customer: &str, city: &str, check_in: i64) -> String {
    let booking = held(app, customer, city, check_in).await;
    let paid: Value = pay(app, customer, &booking, CARD_OK)
        .await
        .json()
        .await
        .unwrap();
    paid["payment"]["invoice_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn reporting_retries_through_outages_and_reports_each_document_once() {
    let stand_in = StandIn::start().await;
    let app = reporting_app(&stand_in, "wasit-test-token").await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("zatca-report@example.com").await);
    stand_in.script(&["503", "500"]).await;
    let id = paid_invoice(&app, &customer, &city, 10).await;
    assert_eq!(
        invoice(&app, &admin, &id).await["zatca"]["report_status"],
        "pending"
    );

    run_reports(&app).await;
    let after_one = invoice(&app, &admin, &id).await;
    assert_eq!(
        after_one["zatca"]["report_status"], "pending",
        "{after_one}"
    );
    assert_eq!(after_one["zatca"]["report_attempts"], 1);
    assert!(
        after_one["zatca"]["last_error"]
            .as_str()
            .unwrap()
            .contains("503")
    );
    run_reports(&app).await;
    run_reports(&app).await;
    let reported = invoice(&app, &admin, &id).await;
    assert_eq!(reported["zatca"]["report_status"], "reported", "{reported}");
    assert_eq!(reported["zatca"]["report_attempts"], 3);
    assert!(reported["zatca"]["reported_at"].is_string());
    let received = stand_in.received().await;
    let statuses: Vec<i64> = received
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 500, 200]);
    for request in &received {
        // The stand-in recomputed the hash from the XML and found the one we sent.
        assert_eq!(request["uuid"], id.as_str());
        assert_eq!(request["invoiceHash"], reported["zatca"]["hash"]);
    }

    // A credit note is reported too; nothing is reported twice.
    let payment_id: String = {
        let mut conn = app.db.connect();
        use wasit::schema::invoices::dsl as i;
        i::invoices
            .find(Uuid::parse_str(&id).unwrap())
            .select(i::payment_id)
            .first::<Uuid>(&mut conn)
            .unwrap()
            .to_string()
    };
    staff_refund(&app, &admin, &payment_id, "50.00", "goodwill").await;
    run_reports(&app).await; // the refund, its credit note, and the note's report
    run_reports(&app).await;
    let received = stand_in.received().await;
    assert_eq!(received.len(), 4, "{received:#?}");
    assert_eq!(received[3]["status"], 200);
    assert_ne!(received[3]["uuid"], id.as_str());
    let status: Value = app
        .get_authed("/v1/admin/zatca", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["reporting"], true);
    assert_eq!(status["counts"]["reported"], 2, "{status}");
    assert_eq!(status["overdue"], json!([]));
    assert_eq!(status["rejected"], json!([]));
}

#[tokio::test]
async fn zatca_verdicts_are_kept_and_rejections_and_late_reports_listed_for_admins() {
    let stand_in = StandIn::start().await;
    let app = reporting_app(&stand_in, "wasit-test-token").await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("zatca-verdicts@example.com").await);

    stand_in.script(&["warn"]).await;
    let warned = paid_invoice(&app, &customer, &city, 10).await;
    run_reports(&app).await;
    let warned = invoice(&app, &admin, &warned).await;
    assert_eq!(
        warned["zatca"]["report_status"], "reported_with_warnings",
        "{warned}"
    );
    assert_eq!(warned["zatca"]["report_messages"][0]["code"], "BR-KSA-98");

    stand_in.script(&["reject"]).await;
    let rejected_id = paid_invoice(&app, &customer, &city, 12).await;
    run_reports(&app).await;
    run_reports(&app).await; // a rejection is a verdict: never sent again as it is
    let rejected = invoice(&app, &admin, &rejected_id).await;
    assert_eq!(rejected["zatca"]["report_status"], "rejected", "{rejected}");
    assert_eq!(rejected["zatca"]["report_messages"][0]["code"], "BR-KSA-37");
    assert_eq!(
        stand_in
            .received()
            .await
            .iter()
            .filter(|r| r["uuid"] == rejected_id.as_str())
            .count(),
        1
    );

    // ZATCA down for a day: the document is late, and listed.
    stand_in.script(&["503"; 40]).await;
    let late_id = paid_invoice(&app, &customer, &city, 14).await;
    run_reports(&app).await;
    {
        let mut conn = app.db.connect();
        diesel::sql_query(
            "UPDATE zatca_documents SET issued_at = now() - interval '21 hours' WHERE invoice_id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(&late_id).unwrap())
        .execute(&mut conn)
        .unwrap();
    }
    let status: Value = app
        .get_authed("/v1/admin/zatca", &admin)
        .await
        .json()
        .await
        .unwrap();
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|d| d["invoice_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&status["overdue"]), vec![late_id], "{status}");
    assert_eq!(ids(&status["rejected"]), vec![rejected_id.clone()]);
    assert_eq!(
        status["rejected"][0]["report_messages"][0]["code"],
        "BR-KSA-37"
    );
    assert!(
        status["overdue"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("503")
    );
    assert_eq!(status["counts"]["reported_with_warnings"], 1);
    // Only admins see it.
    let agent = token(&app.user_with_role(wasit::auth::Role::Agent).await);
    assert_eq!(
        app.get_authed("/v1/admin/zatca", &agent).await.status(),
        403
    );
    assert_eq!(
        app.get_authed("/v1/admin/zatca", &customer).await.status(),
        403
    );
}

#[tokio::test]
async fn refused_credentials_are_retried_not_taken_for_a_verdict() {
    let stand_in = StandIn::start().await;
    let app = reporting_app(&stand_in, "not-our-csid").await;
    let admin = app.admin_token().await;
    let city = hotel(&app, &admin, 5).await;
    let customer = token(&app.register("zatca-401@example.com").await);
    let id = paid_invoice(&app, &customer, &city, 10).await;
    run_reports(&app).await;
    run_reports(&app).await;
    let document = invoice(&app, &admin, &id).await;
    assert_eq!(document["zatca"]["report_status"], "pending", "{document}");
    assert_eq!(document["zatca"]["report_attempts"], 2);
    assert!(
        document["zatca"]["last_error"]
            .as_str()
            .unwrap()
            .contains("401")
    );
    let mut conn = app.db.connect();
    let queued: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM jobs WHERE kind = 'report_invoice' AND state = 'queued'",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    assert_eq!(queued, 1, "still queued for the next attempt");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
