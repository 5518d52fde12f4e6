//! The printable invoice: one bilingual HTML page (Arabic right-to-left beside English),
//! with the ZATCA QR code drawn inline as SVG, and print styles for A4.

use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::zatca::qr_svg;
use super::{InvoiceView, Subject};
use crate::http::escape_html as escape;

fn sar(amount: Decimal) -> String {
    format!("{amount:.2}")
}

fn percent(rate: Decimal) -> String {
    format!("{}%", (rate * Decimal::ONE_HUNDRED).normalize())
}

/// One table row per charged line, each label in both languages.
fn line_rows(invoice: &InvoiceView) -> String {
    let mut rows = String::new();
    for line in &invoice.lines {
        rows.push_str(&format!(
            "<tr><td><span lang=\"ar\" dir=\"rtl\">{}</span><br><span lang=\"en\" dir=\"ltr\">{}</span></td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            escape(&line.label_ar),
            escape(&line.label_en),
            sar(line.net),
            percent(line.vat_rate),
            sar(line.vat),
            sar(line.gross()),
        ));
    }
    rows
}

/// A credit note names the invoice it corrects; an invoice, nothing.
fn original_note(invoice: &InvoiceView) -> String {
    invoice
        .original_invoice_number
        .as_deref()
        .map(|number| {
            format!(
                "<p>الفاتورة الأصلية / Original invoice: <span dir=\"ltr\">{}</span></p>",
                escape(number)
            )
        })
        .unwrap_or_default()
}

/// What was bought, as it stood at issue: the booking (reference, provider, dates in the
/// provider's zone) or the plan. A credit note carries its invoice's subject too.
fn subject_note(invoice: &InvoiceView, office: Tz) -> String {
    match &invoice.subject {
        Some(Subject::Booking {
            reference,
            provider_kind,
            provider_name_ar,
            provider_name_en,
            unit_name_ar,
            unit_name_en,
            starts_at,
            ends_at,
            timezone,
        }) => {
            let zone: Tz = timezone.parse().unwrap_or(office);
            let day = |at: &chrono::DateTime<chrono::Utc>| {
                at.with_timezone(&zone).format("%Y-%m-%d").to_string()
            };
            let dates = if provider_kind == "hotel" {
                format!(
                    "الوصول / Check-in: <span dir=\"ltr\">{}</span> · المغادرة / Check-out: <span dir=\"ltr\">{}</span>",
                    day(starts_at),
                    day(ends_at)
                )
            } else {
                format!(
                    "الموعد / Appointment: <span dir=\"ltr\">{}</span>",
                    starts_at.with_timezone(&zone).format("%Y-%m-%d %H:%M")
                )
            };
            format!(
                "<section class=\"subject\"><p>رقم الحجز / Booking reference: <strong dir=\"ltr\">{}</strong></p>\
                 <p><span lang=\"ar\">{} — {}</span><br><span class=\"en\" lang=\"en\">{} — {}</span></p><p>{dates}</p></section>",
                escape(reference),
                escape(provider_name_ar),
                escape(unit_name_ar),
                escape(provider_name_en),
                escape(unit_name_en),
            )
        }
        Some(Subject::Subscription {
            plan_name_ar,
            plan_name_en,
            period_start,
        }) => {
            let from = period_start
                .map(|at| {
                    format!(
                        " · من / From: <span dir=\"ltr\">{}</span>",
                        at.with_timezone(&office).format("%Y-%m-%d")
                    )
                })
                .unwrap_or_default();
            format!(
                "<section class=\"subject\"><p>الاشتراك / Plan: <span lang=\"ar\">{}</span> <span class=\"en\" lang=\"en\">/ {}</span>{from}</p></section>",
                escape(plan_name_ar),
                escape(plan_name_en),
            )
        }
        None => String::new(),
    }
}

pub fn render(invoice: &InvoiceView, timezone: Tz) -> String {
    let (title_ar, title_en, number_ar, number_en) = match invoice.kind {
        "credit_note" => (
            "إشعار دائن",
            "Credit note",
            "رقم الإشعار",
            "Credit note number",
        ),
        _ => (
            "فاتورة ضريبية مبسطة",
            "Simplified tax invoice",
            "رقم الفاتورة",
            "Invoice number",
        ),
    };
    let issued = invoice
        .issued_at
        .with_timezone(&timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let seller = &invoice.seller;
    let rows = line_rows(invoice);
    let original = original_note(invoice);
    let subject = subject_note(invoice, timezone);
    format!(
        r#"<!doctype html>
<html lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title_ar} {number} / {title_en}</title>
<style>
  body {{ font-family: system-ui, "Noto Naskh Arabic", "Segoe UI", Tahoma, sans-serif; margin: 2rem; color: #111; }}
  header {{ display: flex; justify-content: space-between; gap: 2rem; align-items: flex-start; }}
  h1 {{ font-size: 1.4rem; margin: 0 0 .5rem; }}
  table {{ width: 100%; border-collapse: collapse; margin: 1.5rem 0; }}
  th, td {{ border-bottom: 1px solid #ccc; padding: .5rem; text-align: start; vertical-align: top; }}
  .num {{ text-align: end; font-variant-numeric: tabular-nums; direction: ltr; }}
  .en {{ direction: ltr; text-align: left; }}
  .totals th, .totals td {{ font-weight: 600; }}
  .subject {{ border: 1px solid #ccc; border-radius: 4px; padding: 0 .75rem; margin: 1rem 0; }}
  .qr svg {{ width: 160px; height: 160px; }}
  @media print {{ body {{ margin: 1cm; }} @page {{ size: A4; }} }}
</style>
</head>
<body>
<header>
  <div>
    <h1>{title_ar} <span class="en">/ {title_en}</span></h1>
    <p>{number_ar} / {number_en}: <strong dir="ltr">{number}</strong></p>
    <p>التاريخ / Date: <span dir="ltr">{issued}</span></p>
    {original}
    {subject}
    <p><strong>{seller_ar}</strong><br><span class="en">{seller_en}</span><br>{address_ar}<br><span class="en">{address_en}</span></p>
    <p>الرقم الضريبي / VAT number: <span dir="ltr">{vat_number}</span><br>السجل التجاري / CR: <span dir="ltr">{cr}</span></p>
    <p>العميل / Customer: {buyer}</p>
  </div>
  <div class="qr" role="img" aria-label="ZATCA QR">{qr}</div>
</header>
<table>
  <thead><tr><th>البند / Item</th><th class="num">المبلغ / Amount</th><th class="num">الضريبة % / VAT %</th><th class="num">الضريبة / VAT</th><th class="num">الإجمالي / Total (SAR)</th></tr></thead>
  <tbody>
{rows}  </tbody>
  <tfoot>
    <tr class="totals"><th scope="row" colspan="4">الإجمالي غير شامل الضريبة / Total excluding VAT</th><td class="num">{subtotal}</td></tr>
    <tr class="totals"><th scope="row" colspan="4">مجموع ضريبة القيمة المضافة / Total VAT</th><td class="num">{vat_total}</td></tr>
    <tr class="totals"><th scope="row" colspan="4">الإجمالي شامل الضريبة / Total including VAT</th><td class="num">{total} SAR</td></tr>
  </tfoot>
</table>
</body>
</html>
"#,
        number = escape(&invoice.number),
        seller_ar = escape(&seller.name_ar),
        seller_en = escape(&seller.name_en),
        address_ar = escape(&seller.address_ar),
        address_en = escape(&seller.address_en),
        vat_number = escape(&seller.vat_number),
        cr = escape(&seller.commercial_registration),
        buyer = escape(&invoice.buyer_name),
        qr = qr_svg(&invoice.zatca_qr),
        subtotal = sar(invoice.subtotal),
        vat_total = sar(invoice.vat_total),
        total = sar(invoice.total),
    )
}
