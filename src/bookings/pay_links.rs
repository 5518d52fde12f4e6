//! Pay links (#16 point 4): instead of reading card digits over the phone, an agent sends
//! the client a single-use link to a page of ours where they pay a held booking on their own
//! phone, through the same path as any payment (`pay.rs`: the gateway, 3-D Secure, the
//! booking handed on). The card never passes through the agent's session; the payment is
//! the customer's, the link's sender is in the audit log. A link is used up in the
//! transaction that captures the booking's payment (`PaymentHooks::captured`, whatever
//! settles it: the card's answer, or a 3-D Secure step's later); a declined card may try
//! again on the same link.
//!
//! The link names a booking today; a package (#16 point 1) becomes another payable beside
//! it (`client_links.package_id`), paid through its own path from `pay_by_link`.

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::client_links::{self, BookedSummary, LinkKind, LinkState, LinkStatus, UsedFrom};
use super::pay::{PayAnswer, Payer, booking_lines};
use super::service::{BookingKey, Bookings};
use super::store::{self, BookingRow, Visibility};
use crate::billing::methods::Method;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::ApiError;
use crate::idempotency::IdempotencyClaim;

/// A link being paid: which, and where a 3-D Secure step returns.
#[derive(Clone)]
pub struct PayingLink {
    pub link_id: Uuid,
    pub return_url: String,
}

/// One line of what the link charges.
#[derive(Debug, Serialize)]
pub struct PayLine {
    pub code: String,
    pub label_ar: String,
    pub label_en: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub net: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub vat: Decimal,
}

/// What the pay page shows: the link's state, what was booked, what is charged and until when.
#[derive(Debug, Serialize)]
pub struct PayPage {
    pub state: LinkState,
    pub booking: BookedSummary,
    pub lines: Vec<PayLine>,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    pub currency: &'static str,
    /// The client has still to approve the booking (its consent link): paying waits.
    pub consent_pending: bool,
}

/// 409 unless the link may still pay (`client_links::refuse_unusable`), under its row lock,
/// in `start_payment`'s transaction.
pub(super) fn refuse_unusable(
    conn: &mut PgConnection,
    link: &PayingLink,
    booking: &BookingRow,
) -> Result<(), ApiError> {
    use crate::schema::client_links as links;
    let row: client_links::LinkRow = links::table
        .find(link.link_id)
        .for_update()
        .select(client_links::LinkRow::as_select())
        .first(conn)?;
    client_links::refuse_unusable(&row, booking)
}

/// Uses up the booking's live pay link with the payment just captured for the booking, in
/// the transaction that captured it: a paid booking's link is done, whoever paid.
pub(super) fn settle_live_link(conn: &mut PgConnection, booking_id: Uuid) -> Result<(), ApiError> {
    use crate::schema::{client_links as links, payments};
    let live = links::table
        .filter(links::booking_id.eq(booking_id))
        .filter(links::kind.eq(LinkKind::Pay.as_str()))
        .filter(links::used_at.is_null())
        .filter(links::retired_at.is_null())
        .select(links::id)
        .first::<Uuid>(conn)
        .optional()?;
    let Some(link_id) = live else {
        return Ok(());
    };
    let payment_id: Uuid = payments::table
        .filter(payments::booking_id.eq(booking_id))
        .filter(payments::purpose.eq("booking"))
        .filter(payments::status.eq("succeeded"))
        .order(payments::updated_at.desc())
        .select(payments::id)
        .first(conn)?;
    client_links::use_up(
        conn,
        link_id,
        "paid",
        &UsedFrom::default(),
        Some(payment_id),
    )?;
    Ok(())
}

impl Bookings {
    /// Staff send a held booking's pay link (again: the older one stops working); the client
    /// is texted and emailed. Answers the link's status, saved under the Idempotency-Key.
    pub async fn send_pay_link(
        &self,
        actor: Actor,
        key: BookingKey,
        claim: Option<IdempotencyClaim>,
    ) -> Result<LinkStatus, ApiError> {
        self.send_link(
            (actor, key, claim),
            (LinkKind::Pay, "booking.pay_link_send"),
            |conn, booking| super::uncertain::refuse_unconfirmed(conn, booking.id),
        )
        .await
    }

    /// The pay page's content; the first read marks the link opened.
    pub async fn pay_link_page(&self, token: String) -> Result<PayPage, ApiError> {
        let vat_rate = self.billing.vat_rate;
        run_blocking(&self.pool, move |conn| {
            let (link, booking) = client_links::find_by_token(conn, &token, LinkKind::Pay)?;
            client_links::mark_opened(conn, link.id)?;
            let provider = crate::providers::store::find_provider(conn, booking.provider_id)?;
            let lines = booking_lines(&booking, provider.prepaid, vat_rate);
            let (_, _, total) = crate::billing::money::totals(&lines);
            let consent_pending = super::consent::pending(conn, booking.id)?;
            let state = match link.state(&booking) {
                LinkState::Sent => LinkState::Opened,
                other => other,
            };
            Ok(PayPage {
                state,
                booking: BookedSummary::of(&booking, &provider),
                lines: lines
                    .into_iter()
                    .map(|line| PayLine {
                        code: line.code,
                        label_ar: line.label_ar,
                        label_en: line.label_en,
                        net: line.net,
                        vat: line.vat,
                    })
                    .collect(),
                total,
                currency: "SAR",
                consent_pending,
            })
        })
        .await
    }

    /// The client pays on the link's page: 200 paid, 202 with a 3-D Secure step (which
    /// returns to the link's page), 402 declined (the link still works).
    pub async fn pay_by_link(&self, token: String, method: Method) -> Result<PayAnswer, ApiError> {
        let return_page = format!("{}#/pay/{token}", self.billing.return_url);
        let (link, booking) = run_blocking(&self.pool, move |conn| {
            client_links::find_by_token(conn, &token, LinkKind::Pay)
        })
        .await?;
        client_links::refuse_unusable(&link, &booking)?;
        let by = Payer {
            actor: None,
            link: Some(PayingLink {
                link_id: link.id,
                return_url: return_page,
            }),
        };
        let paid = self.pay_held(booking, by, method, None).await?;
        // The page sees the payment (its 3-D Secure step) and where the booking stands;
        // nothing else of the client.
        let body = serde_json::json!({
            "payment": paid.body["payment"],
            "booking": {
                "reference": paid.body["booking"]["reference"],
                "status": paid.body["booking"]["status"],
            },
        });
        Ok(PayAnswer {
            status: paid.status,
            body,
        })
    }

    /// The state of a booking's consent and pay links, for the agent console (it polls).
    pub async fn client_links_status(
        &self,
        actor: &Actor,
        key: BookingKey,
    ) -> Result<serde_json::Value, ApiError> {
        if !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        run_blocking(&self.pool, move |conn| {
            let booking = store::find_visible(
                conn,
                key.id,
                key.reference.as_deref(),
                Visibility::Everything,
            )?;
            let consent = client_links::latest(conn, booking.id, LinkKind::Consent)?
                .map(|link| LinkStatus::of(&link, &booking));
            let pay = client_links::latest(conn, booking.id, LinkKind::Pay)?
                .map(|link| LinkStatus::of(&link, &booking));
            Ok(serde_json::json!({
                "booking_id": booking.id,
                "status": booking.status.as_str(),
                "consent": consent,
                "pay_link": pay,
            }))
        })
        .await
    }
}
