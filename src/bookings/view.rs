//! What a client reads of a booking: the amounts it was made with, what paying now charges,
//! the next step so a client need not know the state machine, and its latest payment.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::patients::PatientView;
use super::state::BookingStatus;
use super::store::{BookingRow, EventView, NoShowRow};
use crate::domain::Locale;
use crate::domain::calendar::{self, Span};
use crate::domain::money::{FeePolicy, Quote};
use crate::error::ApiError;
use crate::providers::model::ProviderKind;
use crate::providers::policy::OfferTerms;
use crate::providers::search::UnitSummary;
use crate::providers::store::{ProviderRow, ProviderSummary};

/// What to do next with a booking, so a client need not know the state machine.
#[derive(Debug, Serialize)]
pub struct NextStep {
    /// `pay` (before `hold_expires_at`), `await_provider` (its answer about the hold was
    /// lost: we are asking it), `await_confirmation`, or `none`.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct BookingView {
    pub id: Uuid,
    pub reference: String,
    pub status: BookingStatus,
    pub customer_id: Uuid,
    pub provider: ProviderSummary,
    pub unit: UnitSummary,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub quantity: i32,
    pub guests: Option<i32>,
    pub channel: String,
    pub created_by: Option<Uuid>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub price: Quote,
    /// What paying charges: our fee and its VAT, plus the provider's price when the
    /// provider is prepaid (otherwise that is paid at the provider).
    #[serde(with = "rust_decimal::serde::str")]
    pub due_now: Decimal,
    /// What is paid at the provider itself: its price, unless the provider is prepaid.
    #[serde(with = "rust_decimal::serde::str")]
    pub due_at_provider: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub refund_amount: Option<Decimal>,
    /// Set once the booking is a no-show: its fee, and the waiver if staff granted one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_show: Option<NoShowView>,
    pub contact: ContactView,
    /// A hospital booking's patient (`patients.rs`): whole on the booking itself, its
    /// number masked in lists; never on a hotel stay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientView>,
    /// A stay's rooms, each with its guests and lead guest (single-booking reads).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<super::hold::BookedRoom>,
    pub next: NextStep,
    /// The provider's answer (`confirmed` or `refused`), once it gave one.
    pub provider_ack: Option<String>,
    /// `unconfirmed` while a call to the outside provider (to book or cancel) got no answer
    /// and we are asking it what happened (single-booking reads and the hold's answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<&'static str>,
    /// Set when the provider did not answer in time: an agent should follow up.
    pub flagged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The version this view shows (also the `ETag` of `GET /v1/bookings/{booking}`): send it
    /// as `If-Match` to change exactly this version.
    pub etag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
    /// The booking's latest payment (single-booking reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<BookingPayment>,
    /// Card payments the bank declined, oldest first (single-booking reads only): a history
    /// of the booking shows each attempt, not only the one that went through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declined_payments: Option<Vec<DeclinedPayment>>,
    /// Single-booking reads of a live booking: the provider's cancellation and change terms
    /// from now to its start, so the pages can say what a change costs before one is searched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<OfferTerms>,
}

/// What a booking page needs of its payment: its state, and the invoice to link to.
#[derive(Debug, Serialize)]
pub struct BookingPayment {
    pub id: Uuid,
    pub status: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub refunded: Decimal,
    pub invoice_id: Option<Uuid>,
}

/// A card payment the bank (or the gateway) refused.
#[derive(Debug, Serialize)]
pub struct DeclinedPayment {
    pub id: Uuid,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// The gateway's reason (`card_declined`, `insufficient_funds`, …), when it gave one.
    pub failure_code: Option<String>,
    /// When it was declined.
    pub at: DateTime<Utc>,
}

/// A no-show as clients and providers read it.
#[derive(Debug, Clone, Serialize)]
pub struct NoShowView {
    /// What the provider keeps of its price: kept from the payment when the provider is
    /// prepaid, else the provider's to collect at the property.
    #[serde(with = "rust_decimal::serde::str")]
    pub fee: Decimal,
    pub marked_at: DateTime<Utc>,
    /// When staff waived the fee (refunded, when it was paid through us).
    pub waived_at: Option<DateTime<Utc>>,
}

impl From<NoShowRow> for NoShowView {
    fn from(row: NoShowRow) -> Self {
        Self {
            fee: row.fee,
            marked_at: row.marked_at,
            waived_at: row.waived_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ContactView {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

pub(super) fn view(
    row: BookingRow,
    provider: &ProviderRow,
    fees: &FeePolicy,
    events: Option<Vec<EventView>>,
) -> BookingView {
    // The booking keeps the amounts it was made with, whatever the fee is today.
    let price = Quote {
        provider_price: row.provider_price,
        service_fee: row.service_fee,
        // Read apart ([`show_fee_discounts`]).
        fee_discount: Decimal::ZERO,
        vat: row.vat,
    };
    // What paying now charges: exactly the lines the payment will carry; the rest of the
    // total is paid at the provider.
    let due_now = super::pay::due_now(&row, provider.prepaid, fees.vat_rate);
    let due_at_provider = price.split(provider.prepaid).1;
    let next = match row.status {
        BookingStatus::Held => NextStep {
            action: "pay",
            before: row.hold_expires_at,
        },
        BookingStatus::Pending => NextStep {
            action: "await_confirmation",
            before: None,
        },
        _ => NextStep {
            action: "none",
            before: None,
        },
    };
    BookingView {
        id: row.id,
        reference: row.reference,
        status: row.status,
        customer_id: row.customer_id,
        provider: ProviderSummary::from(provider),
        unit: UnitSummary {
            code: row.unit_code,
            name_ar: row.unit_name_ar,
            name_en: row.unit_name_en,
        },
        start: row.starts_at,
        end: row.ends_at,
        quantity: row.quantity,
        guests: row.guests,
        channel: row.channel,
        created_by: row.created_by,
        hold_expires_at: row
            .hold_expires_at
            .filter(|_| row.status == BookingStatus::Held),
        price,
        due_now,
        due_at_provider,
        refund_amount: row.refund_amount,
        no_show: None,
        contact: ContactView {
            name: row.contact_name,
            phone: row.contact_phone,
            email: row.contact_email,
        },
        patient: None,
        rooms: Vec::new(),
        next,
        provider_status: None,
        provider_ack: row.provider_ack,
        flagged_at: row.flagged_at,
        created_at: row.created_at,
        etag: super::change::etag(row.updated_at),
        events,
        payment: None,
        declined_payments: None,
        terms: None,
    }
}

/// Puts each booking's plan discount into its price, so the breakdown shows the full fee and
/// the discount as the offer did (the total is the same either way).
pub(super) fn show_fee_discounts(
    conn: &mut PgConnection,
    views: &mut [BookingView],
) -> Result<(), ApiError> {
    let ids: Vec<Uuid> = views.iter().map(|v| v.id).collect();
    for (id, amount) in super::store::fee_discounts(conn, &ids)? {
        if let Some(view) = views.iter_mut().find(|v| v.id == id) {
            view.price.fee_discount = amount;
        }
    }
    Ok(())
}

/// The booking as the customer's calendar entry: the same event the confirmation email
/// attaches, in `locale` (the other language where a name or the address is missing).
pub(super) fn calendar(booking: &BookingView, locale: Locale) -> String {
    let either = |ar: &str, en: &str| -> String {
        let (first, other) = if locale == Locale::Ar {
            (ar, en)
        } else {
            (en, ar)
        };
        if first.is_empty() { other } else { first }.to_owned()
    };
    let provider = &booking.provider;
    let (name, unit) = (
        either(&provider.name_ar, &provider.name_en),
        either(&booking.unit.name_ar, &booking.unit.name_en),
    );
    let title = if unit.is_empty() {
        name
    } else {
        format!("{name} – {unit}")
    };
    let timezone = provider.timezone.parse().unwrap_or(chrono_tz::Asia::Riyadh);
    calendar::booking_entry(&calendar::Entry {
        reference: &booking.reference,
        title: &title,
        location: &either(&provider.address_ar, &provider.address_en),
        span: Span::of_booking(
            provider.kind == ProviderKind::Hotel,
            timezone,
            (booking.start, booking.end),
            (provider.check_in_time, provider.check_out_time),
        ),
        confirmed: match booking.status {
            BookingStatus::Confirmed | BookingStatus::Completed => Some(true),
            BookingStatus::Held | BookingStatus::Pending => None,
            _ => Some(false),
        },
    })
}

pub(super) fn latest_payment(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> Result<Option<BookingPayment>, ApiError> {
    use crate::schema::payments;
    let row: Option<(Uuid, String, Decimal, Decimal)> = payments::table
        .filter(payments::booking_id.eq(booking_id))
        .order(payments::created_at.desc())
        .select((
            payments::id,
            payments::status,
            payments::amount,
            payments::refunded,
        ))
        .first(conn)
        .optional()?;
    let Some((id, status, amount, refunded)) = row else {
        return Ok(None);
    };
    let invoice_id = crate::billing::invoices::of_payment(conn, id)?.map(|i| i.id);
    Ok(Some(BookingPayment {
        id,
        status,
        amount,
        refunded,
        invoice_id,
    }))
}

pub(super) fn declined_payments(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> QueryResult<Vec<DeclinedPayment>> {
    use crate::schema::payments;
    let rows: Vec<(Uuid, Decimal, Option<String>, DateTime<Utc>)> = payments::table
        .filter(payments::booking_id.eq(booking_id))
        .filter(payments::status.eq(crate::billing::payments::PaymentStatus::Failed.as_str()))
        .order(payments::updated_at)
        .select((
            payments::id,
            payments::amount,
            payments::failure_code,
            payments::updated_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, amount, failure_code, at)| DeclinedPayment {
            id,
            amount,
            failure_code,
            at,
        })
        .collect())
}
