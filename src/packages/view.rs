//! A package as the API shows it: its status derived from its parts, the two bookings, the
//! price of the two together, its payment and the saga's steps.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::store::{self, PackageRow, Part, StepView};
use crate::billing::payments::{self, PaymentRow, PaymentView};
use crate::bookings::state::BookingStatus;
use crate::bookings::view::BookingView;
use crate::domain::money::{FeePolicy, Quote};
use crate::error::ApiError;
use crate::schema::payments as payment_table;

#[derive(Debug, Serialize)]
pub struct PackageView {
    pub id: Uuid,
    pub reference: String,
    /// `holding`, `held`, `pending`, `confirmed`, `partly_cancelled`, `cancelled`, `expired`
    /// or `failed` ([`derived_status`]).
    pub status: &'static str,
    pub customer_id: Uuid,
    pub created_by: Option<Uuid>,
    /// Set when a part was refused after payment and an agent is to offer an alternative.
    pub flagged_at: Option<DateTime<Utc>>,
    pub flag_reason: Option<String>,
    pub appointment: Option<BookingView>,
    pub stay: Option<BookingView>,
    /// Both parts together: the providers' prices, the one fee, VAT on the fee.
    pub price: Quote,
    #[serde(with = "rust_decimal::serde::str")]
    pub due_now: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub due_at_provider: Decimal,
    /// The earlier of the two holds' deadlines, while both are held.
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub payment: Option<PaymentView>,
    pub steps: Vec<StepView>,
    pub created_at: DateTime<Utc>,
}

/// A package's status, from its saga's phase and its parts' statuses.
pub fn derived_status(phase: &str, parts: &[BookingStatus]) -> &'static str {
    use BookingStatus as S;
    match phase {
        "released" => return "failed",
        "holding" => return "holding",
        _ => {}
    }
    let ended = |s: &S| s.is_called_off();
    let used = |s: &S| matches!(s, S::Confirmed | S::Completed | S::NoShow);
    if parts.iter().all(|s| *s == S::Held) {
        "held"
    } else if parts.iter().all(used) {
        "confirmed"
    } else if parts.iter().all(ended) {
        if parts.contains(&S::Failed) {
            "failed"
        } else if parts.iter().all(|s| *s == S::Expired) {
            "expired"
        } else {
            "cancelled"
        }
    } else if parts.iter().any(ended) {
        "partly_cancelled"
    } else {
        "pending"
    }
}

/// The package with its parts' full views, its latest payment and its steps.
pub fn package_view(
    conn: &mut PgConnection,
    row: PackageRow,
    fees: &FeePolicy,
) -> Result<PackageView, ApiError> {
    let parts = store::parts(conn, row.id)?;
    let statuses: Vec<BookingStatus> = parts.iter().map(|(_, b)| b.status).collect();
    let mut appointment = None;
    let mut stay = None;
    for (part, booking) in parts {
        let view = crate::bookings::service::full_view(conn, booking, fees)?;
        match part {
            Part::Appointment => appointment = Some(view),
            Part::Stay => stay = Some(view),
        }
    }
    let shown: Vec<&BookingView> = appointment.iter().chain(stay.iter()).collect();
    let sum = |f: fn(&BookingView) -> Decimal| shown.iter().map(|v| f(v)).sum::<Decimal>();
    let price = Quote {
        provider_price: sum(|v| v.price.provider_price),
        service_fee: sum(|v| v.price.service_fee),
        fee_discount: sum(|v| v.price.fee_discount),
        vat: sum(|v| v.price.vat),
    };
    let all_held = !statuses.is_empty() && statuses.iter().all(|s| *s == BookingStatus::Held);
    let hold_expires_at = all_held
        .then(|| shown.iter().filter_map(|v| v.hold_expires_at).min())
        .flatten();
    let payment = latest_payment(conn, row.id)?;
    Ok(PackageView {
        status: derived_status(&row.phase, &statuses),
        due_now: sum(|v| v.due_now),
        due_at_provider: sum(|v| v.due_at_provider),
        steps: store::steps(conn, row.id)?,
        id: row.id,
        reference: row.reference,
        customer_id: row.customer_id,
        created_by: row.created_by,
        flagged_at: row.flagged_at,
        flag_reason: row.flag_reason,
        appointment,
        stay,
        price,
        hold_expires_at,
        payment,
        created_at: row.created_at,
    })
}

fn latest_payment(
    conn: &mut PgConnection,
    package_id: Uuid,
) -> Result<Option<PaymentView>, ApiError> {
    let row: Option<PaymentRow> = payment_table::table
        .filter(payment_table::package_id.eq(package_id))
        .order((payment_table::created_at.desc(), payment_table::id.desc()))
        .select(PaymentRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(|row| payments::view(conn, row)).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::derived_status;
    use crate::bookings::state::BookingStatus as S;

    #[test]
    fn a_package_reads_its_status_from_its_parts() {
        assert_eq!(derived_status("open", &[S::Held, S::Held]), "held");
        assert_eq!(
            derived_status("open", &[S::Pending, S::Confirmed]),
            "pending"
        );
        assert_eq!(
            derived_status("open", &[S::Confirmed, S::Confirmed]),
            "confirmed"
        );
        assert_eq!(derived_status("open", &[S::Failed, S::Cancelled]), "failed");
        assert_eq!(
            derived_status("open", &[S::Cancelled, S::Cancelled]),
            "cancelled"
        );
        assert_eq!(derived_status("open", &[S::Expired, S::Expired]), "expired");
        assert_eq!(
            derived_status("open", &[S::Failed, S::Confirmed]),
            "partly_cancelled"
        );
        assert_eq!(derived_status("released", &[S::Cancelled]), "failed");
        assert_eq!(derived_status("holding", &[S::Held]), "holding");
    }
}
