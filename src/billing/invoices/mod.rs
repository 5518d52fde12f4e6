//! Simplified tax invoices (one per payment) and credit notes (one per refund): numbered
//! without gaps per series and year, with the seller as configured at the time of issue,
//! VAT per line, and ZATCA's phase-2 document: XML, hash chain, stamp and QR code (`zatca`).

pub mod html;
pub mod zatca;

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::money::{ChargeLine, totals};
use crate::config::{InvoiceSettings, ZatcaSettings};
use crate::domain::OFFICE_TIMEZONE;
use crate::domain::text::one_line;
use crate::error::ApiError;
use crate::schema::{
    bookings, invoice_sequences, invoices, payments, plans, providers, subscriptions,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// A simplified tax invoice.
    Invoice,
    /// A credit note, for a refund.
    CreditNote,
}

impl Series {
    fn code(self) -> &'static str {
        match self {
            Self::Invoice => "INV",
            Self::CreditNote => "CRN",
        }
    }
}

/// The seller block printed on the invoice and kept with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seller {
    pub name_ar: String,
    pub name_en: String,
    pub vat_number: String,
    pub commercial_registration: String,
    pub address_ar: String,
    pub address_en: String,
    /// The national address, as ZATCA's XML carries it (empty on invoices issued before).
    #[serde(default)]
    pub street: String,
    #[serde(default)]
    pub building_number: String,
    #[serde(default)]
    pub district: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub postal_code: String,
}

impl From<&InvoiceSettings> for Seller {
    fn from(settings: &InvoiceSettings) -> Self {
        Self {
            name_ar: settings.seller_name_ar.clone(),
            name_en: settings.seller_name_en.clone(),
            vat_number: settings.vat_number.clone(),
            commercial_registration: settings.commercial_registration.clone(),
            address_ar: settings.address_ar.clone(),
            address_en: settings.address_en.clone(),
            street: settings.street.clone(),
            building_number: settings.building_number.clone(),
            district: settings.district.clone(),
            city: settings.city.clone(),
            postal_code: settings.postal_code.clone(),
        }
    }
}

/// Who issues invoices: the seller, the stamp it signs them with, and whether they are
/// reported to ZATCA (`zatca.enabled`).
pub struct Issuer {
    pub seller: Seller,
    pub stamp: zatca::stamp::Stamp,
    pub report: bool,
}

impl Issuer {
    /// The configured stamp, or a development one (self-signed) when none is configured;
    /// config validation refuses the latter when reporting is on.
    pub fn from_settings(
        invoices: &InvoiceSettings,
        zatca: &ZatcaSettings,
    ) -> anyhow::Result<Self> {
        let stamp = if zatca.private_key_path.trim().is_empty() {
            tracing::warn!("no ZATCA stamp configured: invoices carry a development stamp");
            zatca::stamp::Stamp::development(&invoices.vat_number, &invoices.seller_name_en)?
        } else {
            zatca::stamp::Stamp::from_files(
                std::path::Path::new(&zatca.private_key_path),
                std::path::Path::new(&zatca.certificate_path),
            )?
        };
        Ok(Self {
            seller: Seller::from(invoices),
            stamp,
            report: zatca.enabled,
        })
    }
}

/// What an invoice is for, as it stood at issue: printed on the invoice and on each of its
/// credit notes, so a credit note names what was bought, and a later change to the booking
/// does not rewrite a kept document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    Booking {
        reference: String,
        /// `hotel` (the dates are check-in and check-out) or `hospital` (a time).
        provider_kind: String,
        provider_name_ar: String,
        provider_name_en: String,
        unit_name_ar: String,
        unit_name_en: String,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        /// The provider's zone, in which the dates are printed.
        timezone: String,
    },
    Subscription {
        plan_name_ar: String,
        plan_name_en: String,
        period_start: Option<DateTime<Utc>>,
    },
}

/// The subject of a payment's invoices: its booking, or its subscription's plan.
fn subject_of(conn: &mut PgConnection, payment_id: Uuid) -> QueryResult<Option<Subject>> {
    let (booking, subscription, period_start): (Option<Uuid>, Option<Uuid>, Option<DateTime<Utc>>) =
        payments::table
            .find(payment_id)
            .select((
                payments::booking_id,
                payments::subscription_id,
                payments::period_start,
            ))
            .first(conn)?;
    if let Some(booking) = booking {
        let row = bookings::table
            .inner_join(providers::table)
            .filter(bookings::id.eq(booking))
            .select((
                bookings::reference,
                providers::kind,
                providers::name_ar,
                providers::name_en,
                bookings::unit_name_ar,
                bookings::unit_name_en,
                bookings::starts_at,
                bookings::ends_at,
                providers::timezone,
            ))
            .first::<(
                String,
                String,
                String,
                String,
                String,
                String,
                DateTime<Utc>,
                DateTime<Utc>,
                String,
            )>(conn)?;
        return Ok(Some(Subject::Booking {
            reference: row.0,
            provider_kind: row.1,
            provider_name_ar: row.2,
            provider_name_en: row.3,
            unit_name_ar: row.4,
            unit_name_en: row.5,
            starts_at: row.6,
            ends_at: row.7,
            timezone: row.8,
        }));
    }
    let Some(subscription) = subscription else {
        return Ok(None);
    };
    let (plan_name_ar, plan_name_en) = subscriptions::table
        .inner_join(plans::table)
        .filter(subscriptions::id.eq(subscription))
        .select((plans::name_ar, plans::name_en))
        .first::<(String, String)>(conn)?;
    Ok(Some(Subject::Subscription {
        plan_name_ar,
        plan_name_en,
        period_start,
    }))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoices, check_for_backend(diesel::pg::Pg))]
pub struct InvoiceRow {
    pub id: Uuid,
    pub number: String,
    pub series: String,
    pub year: i32,
    pub seq: i32,
    pub customer_id: Uuid,
    pub payment_id: Uuid,
    pub refund_id: Option<Uuid>,
    pub original_invoice_id: Option<Uuid>,
    pub buyer_name: String,
    pub seller: serde_json::Value,
    pub lines: serde_json::Value,
    pub subtotal: Decimal,
    pub vat_total: Decimal,
    pub total: Decimal,
    pub qr: String,
    pub issued_at: DateTime<Utc>,
    pub subject: Option<serde_json::Value>,
}

/// What to issue.
pub struct NewInvoice<'a> {
    pub series: Series,
    pub customer_id: Uuid,
    pub buyer_name: &'a str,
    pub payment_id: Uuid,
    pub refund_id: Option<Uuid>,
    /// A credit note's invoice (its number goes into the ZATCA document).
    pub original: Option<&'a InvoiceRow>,
    /// Why a credit note is issued (the refund's reason).
    pub reason: Option<&'a str>,
    pub lines: &'a [ChargeLine],
}

/// Issues an invoice in the caller's transaction. The sequence row and the ZATCA chain stay
/// locked until that transaction ends, so numbers and counters are handed out in commit order
/// and a rollback returns them: no gaps, no duplicates, no fork of the hash chain, however
/// many payments run at once.
pub fn issue(
    conn: &mut PgConnection,
    issuer: &Issuer,
    new: &NewInvoice<'_>,
) -> Result<InvoiceRow, ApiError> {
    let issued_at = Utc::now();
    let year = issued_at.with_timezone(&OFFICE_TIMEZONE).year();
    let series = new.series.code();
    let seq: i32 = diesel::insert_into(invoice_sequences::table)
        .values((
            invoice_sequences::series.eq(series),
            invoice_sequences::year.eq(year),
            invoice_sequences::last.eq(1),
        ))
        .on_conflict((invoice_sequences::series, invoice_sequences::year))
        .do_update()
        .set(invoice_sequences::last.eq(invoice_sequences::last + 1))
        .returning(invoice_sequences::last)
        .get_result(conn)?;
    // An invoice is kept for years and printed as issued: names stored before the text
    // rules (a customer's, a plan's in a line) go on it as one clean line.
    let buyer_name = one_line(new.buyer_name);
    let lines: Vec<ChargeLine> = new
        .lines
        .iter()
        .map(|line| ChargeLine {
            label_ar: one_line(&line.label_ar).into_owned(),
            label_en: one_line(&line.label_en).into_owned(),
            ..line.clone()
        })
        .collect();
    let (subtotal, vat_total, total) = totals(&lines);
    let (id, number) = (Uuid::new_v4(), format!("{series}-{year}-{seq:06}"));
    let subject = subject_of(conn, new.payment_id)?;
    let head = zatca::chain::next(conn)?;
    let stamped = zatca::document::stamp(
        &zatca::document::Draft {
            series: new.series,
            number: &number,
            uuid: id,
            issued_at,
            seller: &issuer.seller,
            buyer_name: &buyer_name,
            lines: &lines,
            original_number: new.original.map(|o| o.number.as_str()),
            reason: new.reason,
            icv: head.icv,
            pih: &head.pih,
        },
        &issuer.stamp,
    )
    .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let row = diesel::insert_into(invoices::table)
        .values((
            invoices::id.eq(id),
            invoices::number.eq(&number),
            invoices::series.eq(series),
            invoices::year.eq(year),
            invoices::seq.eq(seq),
            invoices::customer_id.eq(new.customer_id),
            invoices::payment_id.eq(new.payment_id),
            invoices::refund_id.eq(new.refund_id),
            invoices::original_invoice_id.eq(new.original.map(|o| o.id)),
            invoices::buyer_name.eq(buyer_name.as_ref()),
            invoices::seller.eq(serde_json::to_value(&issuer.seller).unwrap_or_default()),
            invoices::lines.eq(serde_json::to_value(&lines).unwrap_or_default()),
            invoices::subtotal.eq(subtotal),
            invoices::vat_total.eq(vat_total),
            invoices::total.eq(total),
            invoices::qr.eq(&stamped.qr),
            invoices::issued_at.eq(issued_at),
            invoices::subject.eq(subject.and_then(|s| serde_json::to_value(s).ok())),
        ))
        .returning(InvoiceRow::as_returning())
        .get_result(conn)?;
    zatca::chain::record(conn, &head, row.id, &stamped, issuer.report, issued_at)?;
    if issuer.report {
        zatca::report::enqueue(conn, row.id)?;
    }
    crate::billing::notices::enqueue_invoice_email(conn, &row)?;
    Ok(row)
}

/// The invoice of a payment (not its credit notes).
pub fn of_payment(conn: &mut PgConnection, payment_id: Uuid) -> QueryResult<Option<InvoiceRow>> {
    invoices::table
        .filter(invoices::payment_id.eq(payment_id))
        .filter(invoices::series.eq(Series::Invoice.code()))
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()
}

/// The JSON form of an invoice.
#[derive(Debug, Serialize)]
pub struct InvoiceView {
    pub id: Uuid,
    pub number: String,
    /// `invoice` (simplified tax invoice) or `credit_note`.
    pub kind: &'static str,
    pub issued_at: DateTime<Utc>,
    pub customer_id: Uuid,
    pub payment_id: Uuid,
    pub refund_id: Option<Uuid>,
    pub original_invoice_id: Option<Uuid>,
    /// A credit note's invoice, by the number a person reads.
    pub original_invoice_number: Option<String>,
    pub buyer_name: String,
    /// What was bought: the booking or the plan (`None` only for an invoice with neither).
    pub subject: Option<Subject>,
    pub seller: Seller,
    pub currency: &'static str,
    pub lines: Vec<ChargeLine>,
    #[serde(with = "rust_decimal::serde::str")]
    pub subtotal: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub vat_total: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// The ZATCA phase-2 QR payload (TLV, tags 1 to 9), base64: what the QR code encodes.
    pub zatca_qr: String,
    /// The document's place in ZATCA's hash chain and its reporting; `None` for an invoice
    /// issued before phase 2. The XML is at `/v1/invoices/{id}/xml`.
    pub zatca: Option<zatca::chain::DocumentView>,
}

impl From<InvoiceRow> for InvoiceView {
    fn from(row: InvoiceRow) -> Self {
        Self {
            id: row.id,
            number: row.number,
            kind: if row.series == Series::CreditNote.code() {
                "credit_note"
            } else {
                "invoice"
            },
            issued_at: row.issued_at,
            customer_id: row.customer_id,
            payment_id: row.payment_id,
            refund_id: row.refund_id,
            original_invoice_id: row.original_invoice_id,
            original_invoice_number: None,
            buyer_name: row.buyer_name,
            subject: row.subject.and_then(|s| serde_json::from_value(s).ok()),
            seller: serde_json::from_value(row.seller).unwrap_or_default(),
            currency: "SAR",
            lines: serde_json::from_value(row.lines).unwrap_or_default(),
            subtotal: row.subtotal,
            vat_total: row.vat_total,
            total: row.total,
            zatca_qr: row.qr,
            zatca: None,
        }
    }
}

/// The JSON form of invoice rows, with each credit note's original invoice number.
pub fn views(conn: &mut PgConnection, rows: Vec<InvoiceRow>) -> QueryResult<Vec<InvoiceView>> {
    let originals: Vec<Uuid> = rows.iter().filter_map(|r| r.original_invoice_id).collect();
    let numbers: Vec<(Uuid, String)> = if originals.is_empty() {
        Vec::new()
    } else {
        invoices::table
            .filter(invoices::id.eq_any(originals))
            .select((invoices::id, invoices::number))
            .load(conn)?
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut documents = zatca::chain::views_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let original = row.original_invoice_id;
            let document = documents
                .iter()
                .position(|d| d.invoice_id == row.id)
                .map(|i| documents.swap_remove(i));
            let mut view = InvoiceView::from(row);
            view.zatca = document;
            view.original_invoice_number = original.and_then(|id| {
                numbers
                    .iter()
                    .find(|(known, _)| *known == id)
                    .map(|(_, number)| number.clone())
            });
            view
        })
        .collect())
}

/// Who may see which invoices: a customer their own, staff everyone's.
pub fn find_visible(
    conn: &mut PgConnection,
    id: Uuid,
    customer: Option<Uuid>,
) -> Result<InvoiceRow, ApiError> {
    let mut query = invoices::table.filter(invoices::id.eq(id)).into_boxed();
    if let Some(customer) = customer {
        query = query.filter(invoices::customer_id.eq(customer));
    }
    Ok(query.select(InvoiceRow::as_select()).first(conn)?)
}

/// Newest first, keyset-paginated on (issued_at, id).
pub fn list_visible(
    conn: &mut PgConnection,
    customer: Option<Uuid>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<InvoiceRow>> {
    let mut query = invoices::table.into_boxed();
    if let Some(customer) = customer {
        query = query.filter(invoices::customer_id.eq(customer));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            invoices::issued_at
                .lt(at)
                .or(invoices::issued_at.eq(at).and(invoices::id.lt(id))),
        );
    }
    query
        .order((invoices::issued_at.desc(), invoices::id.desc()))
        .limit(limit)
        .select(InvoiceRow::as_select())
        .load(conn)
}
