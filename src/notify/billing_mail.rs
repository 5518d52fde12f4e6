//! Money emails: a subscription started, renewed, its renewal declined, or ended; and each
//! invoice or credit note, with its printable page attached. Queued in the transaction that
//! causes them, rendered when sent in the customer's language, one stable Message-ID per
//! (entity, event) so a retried job never makes a second distinct mail.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use uuid::Uuid;

use super::dates::{self, ltr};
use super::email::{MailError, Mailer};
use super::templates::{self, Receipt, Rendered, sar};
use crate::billing::invoices::{self, InvoiceRow};
use crate::billing::plans;
use crate::billing::subscriptions::SubscriptionRow;
use crate::db::{PgPool, run_blocking};
use crate::domain::{Locale, OFFICE_TIMEZONE};
use crate::jobs::SubscriptionEmail;
use crate::schema::{customers, invoices as invoice_table, payments, subscriptions};

/// An office day in a sentence ("30 November 2026"), never an ISO date that reverses in Arabic.
fn day(locale: Locale, at: DateTime<Utc>) -> String {
    dates::short_day(locale, at.with_timezone(&OFFICE_TIMEZONE).date_naive())
}

struct SubscriptionFacts {
    plan: String,
    status: String,
    period_end: DateTime<Utc>,
    next_attempt: Option<DateTime<Utc>>,
    amount: Option<String>,
}

fn subscription_words(
    event: SubscriptionEmail,
    locale: Locale,
    facts: &SubscriptionFacts,
) -> (String, Vec<String>) {
    let plan = &facts.plan;
    let end = day(locale, facts.period_end);
    let next = facts
        .next_attempt
        .map(|at| day(locale, at))
        .unwrap_or_default();
    let amount = facts.amount.as_deref().map(ltr).unwrap_or_default();
    let trial = facts.status == "trialing";
    match (locale, event) {
        (Locale::Ar, SubscriptionEmail::Started) if trial => (
            format!("بدأت تجربتك المجانية لباقة {plan}"),
            vec![format!(
                "تستمر التجربة حتى {end}، ثم نجدد الاشتراك تلقائياً بالبطاقة المحفوظة."
            )],
        ),
        (Locale::Ar, SubscriptionEmail::Started) => (
            format!("اشتراكك في باقة {plan} فعّال"),
            vec![format!("اشتراكك فعّال حتى {end}، ويتجدد تلقائياً.")],
        ),
        (Locale::Ar, SubscriptionEmail::Renewed) => (
            format!("جُدّد اشتراكك في باقة {plan}"),
            vec![format!(
                "خصمنا {amount} ريال، والفترة الجديدة حتى {end}. الفاتورة في حسابك."
            )],
        ),
        (Locale::Ar, SubscriptionEmail::PaymentFailed) => (
            format!("تعذّر تجديد اشتراكك في باقة {plan}"),
            vec![
                "رُفضت البطاقة المحفوظة عند التجديد.".into(),
                format!("سنحاول مرة أخرى في {next}؛ حدّث بطاقتك لتجنب إلغاء الاشتراك."),
            ],
        ),
        (Locale::Ar, SubscriptionEmail::Canceled) => (
            format!("انتهى اشتراكك في باقة {plan}"),
            vec!["أُلغي اشتراكك، ويمكنك الاشتراك من جديد في أي وقت.".into()],
        ),
        (Locale::En, SubscriptionEmail::Started) if trial => (
            format!("Your free {plan} trial has started"),
            vec![format!(
                "The trial runs until {end}; then the subscription renews on your saved card."
            )],
        ),
        (Locale::En, SubscriptionEmail::Started) => (
            format!("Your {plan} subscription is active"),
            vec![format!(
                "It is active until {end} and renews automatically."
            )],
        ),
        (Locale::En, SubscriptionEmail::Renewed) => (
            format!("Your {plan} subscription was renewed"),
            vec![format!(
                "We charged {amount} SAR; the new period runs until {end}. The invoice is in your account."
            )],
        ),
        (Locale::En, SubscriptionEmail::PaymentFailed) => (
            format!("We could not renew your {plan} subscription"),
            vec![
                "Your saved card was declined at renewal.".into(),
                format!("We will try again on {next}; update your card to keep the subscription."),
            ],
        ),
        (Locale::En, SubscriptionEmail::Canceled) => (
            format!("Your {plan} subscription has ended"),
            vec!["Your subscription is canceled; you can subscribe again at any time.".into()],
        ),
    }
}

/// The customer's address, name and language (no address: no mail).
fn reader(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> QueryResult<(Option<String>, String, Locale)> {
    customers::table
        .find(customer_id)
        .select((customers::email, customers::full_name, customers::locale))
        .first(conn)
}

fn message(
    mailer: &Mailer,
    to: &str,
    message_id: String,
    rendered: Rendered,
    attachment: Option<(String, String)>,
) -> Result<Message, MailError> {
    let to: Mailbox = to.parse()?;
    let alternative = MultiPart::alternative_plain_html(rendered.text, rendered.html);
    let body = match attachment {
        Some((name, html)) => MultiPart::mixed()
            .multipart(alternative)
            .singlepart(Attachment::new(name).body(html.into_bytes(), ContentType::TEXT_HTML)),
        None => alternative,
    };
    Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(format!("<{message_id}@{}>", mailer.domain)))
        .multipart(body)
        .map_err(|e| MailError::Build(e.to_string()))
}

/// Renders and sends one subscription email as things stand now.
pub async fn send_subscription_email(
    pool: &PgPool,
    mailer: &Mailer,
    subscription_id: Uuid,
    event: SubscriptionEmail,
    payment_id: Option<Uuid>,
) -> Result<(), MailError> {
    let loaded = run_blocking(pool, move |conn| {
        let sub: SubscriptionRow = subscriptions::table
            .find(subscription_id)
            .select(SubscriptionRow::as_select())
            .first(conn)?;
        let plan = plans::find(conn, sub.plan_id)?;
        let amount: Option<rust_decimal::Decimal> = match payment_id {
            Some(id) => Some(
                payments::table
                    .find(id)
                    .select(payments::amount)
                    .first(conn)?,
            ),
            None => None,
        };
        let reader = reader(conn, sub.customer_id)?;
        Ok((sub, plan, amount, reader))
    })
    .await?;
    let (sub, plan, amount, (to, name, locale)) = loaded;
    let Some(to) = to else { return Ok(()) };
    let facts = SubscriptionFacts {
        plan: if locale == Locale::Ar {
            plan.name_ar
        } else {
            plan.name_en
        },
        status: sub.status.clone(),
        period_end: sub.current_period_end,
        next_attempt: sub.next_attempt_at,
        amount: amount.map(|a| format!("{a:.2}")),
    };
    let (subject, paragraphs) = subscription_words(event, locale, &facts);
    let en = locale == Locale::En;
    let pick = |ar: &str, english: &str| if en { english } else { ar }.to_owned();
    let mut rows = vec![
        (pick("الباقة", "Plan"), facts.plan.clone()),
        (
            pick("الفترة الحالية حتى", "Current period until"),
            dates::day(
                locale,
                facts
                    .period_end
                    .with_timezone(&OFFICE_TIMEZONE)
                    .date_naive(),
            ),
        ),
    ];
    if let Some(next) = facts.next_attempt {
        rows.push((
            pick("المحاولة التالية", "Next attempt"),
            dates::day(locale, next.with_timezone(&OFFICE_TIMEZONE).date_naive()),
        ));
    }
    let amounts = amount
        .map(|paid| vec![(pick("المبلغ المدفوع", "Amount charged"), sar(paid))])
        .unwrap_or_default();
    let rendered = templates::receipt(
        locale,
        &name,
        Receipt {
            subject,
            reference: None,
            paragraphs,
            rows,
            amounts,
            notes: None,
            link: None,
        },
    );
    let entity = payment_id.unwrap_or(subscription_id);
    let id = format!("subscription-{}.{entity}", event.as_str());
    mailer.send(message(mailer, &to, id, rendered, None)?).await
}

/// Sends an invoice or credit note with its printable page attached.
pub async fn send_invoice_email(
    pool: &PgPool,
    mailer: &Mailer,
    invoice_id: Uuid,
) -> Result<(), MailError> {
    let loaded = run_blocking(pool, move |conn| {
        let invoice: InvoiceRow = invoice_table::table
            .find(invoice_id)
            .select(InvoiceRow::as_select())
            .first(conn)?;
        let reader = reader(conn, invoice.customer_id)?;
        let view = invoices::views(conn, vec![invoice])?.remove(0);
        Ok((view, reader))
    })
    .await?;
    let (view, (to, name, locale)) = loaded;
    let Some(to) = to else { return Ok(()) };
    let credit = view.kind == "credit_note";
    let (total, vat, number) = (
        ltr(format!("{:.2}", view.total)),
        ltr(format!("{:.2}", view.vat_total)),
        view.number.clone(),
    );
    let (subject, paragraphs) = match (locale, credit) {
        (Locale::Ar, false) => (
            format!("فاتورتك {number}"),
            vec![
                format!("الإجمالي {total} ريال شاملاً ضريبة القيمة المضافة ({vat} ريال)."),
                "أرفقنا الفاتورة الضريبية المبسطة للطباعة.".into(),
            ],
        ),
        (Locale::Ar, true) => (
            format!("إشعار دائن {number}"),
            vec![
                format!("أعدنا {total} ريال، منها ضريبة القيمة المضافة {vat} ريال."),
                "أرفقنا الإشعار الدائن للطباعة.".into(),
            ],
        ),
        (Locale::En, false) => (
            format!("Your invoice {number}"),
            vec![
                format!("Total {total} SAR including VAT of {vat} SAR."),
                "Your simplified tax invoice is attached, ready to print.".into(),
            ],
        ),
        (Locale::En, true) => (
            format!("Credit note {number}"),
            vec![
                format!("We refunded {total} SAR, of which VAT {vat} SAR."),
                "The credit note is attached, ready to print.".into(),
            ],
        ),
    };
    let en = locale == Locale::En;
    let pick = |ar: &str, english: &str| if en { english } else { ar }.to_owned();
    let mut rows = vec![
        (
            if credit {
                pick("رقم الإشعار الدائن", "Credit note number")
            } else {
                pick("رقم الفاتورة", "Invoice number")
            },
            ltr(&view.number),
        ),
        (
            pick("التاريخ", "Date"),
            dates::day(
                locale,
                view.issued_at.with_timezone(&OFFICE_TIMEZONE).date_naive(),
            ),
        ),
    ];
    if let Some(original) = &view.original_invoice_number {
        rows.push((pick("عن الفاتورة", "For invoice"), ltr(original)));
    }
    let mut amounts: Vec<(String, String)> = view
        .lines
        .iter()
        .map(|line| {
            let label = if en { &line.label_en } else { &line.label_ar };
            (label.clone(), sar(line.net))
        })
        .collect();
    amounts.push((pick("ضريبة القيمة المضافة", "VAT"), sar(view.vat_total)));
    amounts.push((pick("الإجمالي", "Total"), sar(view.total)));
    let rendered = templates::receipt(
        locale,
        &name,
        Receipt {
            subject,
            reference: None,
            paragraphs,
            rows,
            amounts,
            notes: None,
            link: None,
        },
    );
    let page = invoices::html::render(&view, OFFICE_TIMEZONE);
    let id = format!("invoice.{invoice_id}");
    let attachment = Some((format!("{number}.html"), page));
    mailer
        .send(message(mailer, &to, id, rendered, attachment)?)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #14, point 9: a plan name stored before names refused control characters went
    /// into the Subject header with them (lettre encodes a line break, but passes ESC and
    /// other controls through raw).
    #[test]
    fn a_name_with_control_characters_reaches_no_header_with_them() {
        let (mailer, _) = Mailer::memory("Wasit <no-reply@wasit.test>");
        let plan = "Gold\r\nBcc: evil@example.com\u{1b}[2J\u{202E}";
        let rendered = templates::receipt(
            Locale::En,
            "Eve\rX-INJECTED: 1",
            Receipt {
                subject: format!("Your {plan} subscription has ended"),
                reference: None,
                paragraphs: vec!["Bye.".to_owned()],
                rows: Vec::new(),
                amounts: Vec::new(),
                notes: None,
                link: None,
            },
        );
        let sent = message(&mailer, "eve@example.com", "t.1".into(), rendered, None).unwrap();
        let raw = String::from_utf8_lossy(&sent.formatted()).into_owned();
        let (headers, _) = raw.split_once("\r\n\r\n").unwrap();
        assert!(
            !headers
                .chars()
                .any(|c| (c.is_control() && c != '\r' && c != '\n') || c == '\u{202E}'),
            "{headers:?}"
        );
        assert!(
            headers.contains("Subject: Your Gold Bcc: evil@example.com [2J subscription has ended"),
            "{headers}"
        );
        assert!(!headers.contains("\r\nBcc:") && !raw.contains("\r\nX-INJECTED"));
    }
}
