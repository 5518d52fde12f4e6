//! The links an agent sends a phone client (`client_links`): one to approve what was booked
//! for them (`consent.rs`), one to pay for it on their own phone (`pay_links.rs`). A link is
//! single-use and unguessable: its token is derived from the row's id under a server key
//! (`auth::links::LinkKeys::for_client_links`), only its SHA-256 is stored, and it is used
//! up by one conditional UPDATE. It lives while its booking's hold does.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::service::{BookingKey, Bookings};
use super::state::BookingStatus;
use super::store::{self, BookingRow, Visibility};
use crate::audit::{self, AuditEntry};
use crate::auth::links::hash;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::ApiError;
use crate::idempotency::IdempotencyClaim;
use crate::jobs::{Job, queue};
use crate::providers::store::ProviderRow;
use crate::schema::{bookings, client_links};

/// What a link is for; each is accepted only by its own routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Consent,
    Pay,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consent => "consent",
            Self::Pay => "pay",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = client_links, check_for_backend(diesel::pg::Pg))]
pub struct LinkRow {
    pub id: Uuid,
    pub kind: String,
    pub booking_id: Option<Uuid>,
    pub sent_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub used_at: Option<DateTime<Utc>>,
    pub payment_id: Option<Uuid>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Where a link stands, as the client's page and the agent console show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Sent,
    Opened,
    Approved,
    Declined,
    Paid,
    /// Sent again since: this one no longer works.
    Replaced,
    /// Its booking's hold ended (paid otherwise, cancelled, expired).
    Expired,
}

impl LinkRow {
    /// The link's state, given its booking as it stands now.
    pub fn state(&self, booking: &BookingRow) -> LinkState {
        match self.outcome.as_deref() {
            Some("approved") => return LinkState::Approved,
            Some("declined") => return LinkState::Declined,
            Some(_) => return LinkState::Paid,
            None => {}
        }
        if self.retired_at.is_some() {
            LinkState::Replaced
        } else if !hold_live(booking) {
            LinkState::Expired
        } else if self.opened_at.is_some() {
            LinkState::Opened
        } else {
            LinkState::Sent
        }
    }
}

/// Whether a booking is still held and its hold has not run out: a link lives as long.
pub fn hold_live(booking: &BookingRow) -> bool {
    booking.status == BookingStatus::Held
        && booking.hold_expires_at.is_some_and(|at| at > Utc::now())
}

impl Bookings {
    /// Staff send a held booking's link of `kind` (again: the older one stops working), under
    /// the booking's row lock: 403 for a customer, 409 `booking.invalid_state` once the hold
    /// is over, then what `may_send` refuses; the send audited as `action`, and the link's
    /// status answered and saved under the Idempotency-Key in the same transaction.
    pub(super) async fn send_link(
        &self,
        (actor, key, claim): (Actor, BookingKey, Option<IdempotencyClaim>),
        (kind, action): (LinkKind, &'static str),
        may_send: fn(&mut PgConnection, &BookingRow) -> Result<(), ApiError>,
    ) -> Result<LinkStatus, ApiError> {
        if !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let keys = self.client_links.keys.clone();
        let status = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let found = store::find_visible(
                    conn,
                    key.id,
                    key.reference.as_deref(),
                    Visibility::Everything,
                )?;
                let booking: BookingRow = bookings::table
                    .find(found.id)
                    .for_no_key_update()
                    .select(BookingRow::as_select())
                    .first(conn)?;
                if !hold_live(&booking) {
                    return Err(ApiError::InvalidState {
                        status: if booking.status == BookingStatus::Held {
                            "expired"
                        } else {
                            booking.status.as_str()
                        },
                    });
                }
                may_send(conn, &booking)?;
                let id = send(conn, kind, &booking, &actor, &keys)?;
                audit::record(
                    conn,
                    &AuditEntry {
                        actor_id: actor.user_id,
                        actor_role: actor.role,
                        on_behalf_of: Some(booking.customer_id),
                        action,
                        entity_type: "booking",
                        entity_id: booking.reference.clone(),
                        request_id: actor.request_id.clone(),
                        details: serde_json::json!({ "link_id": id }),
                    },
                )?;
                let link = latest(conn, booking.id, kind)?.ok_or(ApiError::NotFound)?;
                let status = LinkStatus::of(&link, &booking);
                if let Some(claim) = &claim {
                    claim.save_in(conn, actix_web::http::StatusCode::CREATED, &status)?;
                }
                Ok(status)
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(status)
    }
}

/// Writes a new link of `kind` for `booking`, retiring the live one it replaces, and queues
/// its text and email (`send_client_link`), all in the caller's transaction. Returns its id.
pub fn send(
    conn: &mut PgConnection,
    kind: LinkKind,
    booking: &BookingRow,
    sender: &Actor,
    keys: &crate::auth::links::LinkKeys,
) -> Result<Uuid, ApiError> {
    let now = Utc::now();
    diesel::update(
        client_links::table
            .filter(client_links::kind.eq(kind.as_str()))
            .filter(client_links::booking_id.eq(booking.id))
            .filter(client_links::used_at.is_null())
            .filter(client_links::retired_at.is_null()),
    )
    .set(client_links::retired_at.eq(now))
    .execute(conn)?;
    let id = Uuid::new_v4();
    diesel::insert_into(client_links::table)
        .values((
            client_links::id.eq(id),
            client_links::kind.eq(kind.as_str()),
            client_links::booking_id.eq(booking.id),
            client_links::token_hash.eq(hash(&keys.token(id))),
            client_links::sent_by.eq(sender.user_id),
        ))
        .execute(conn)?;
    queue::enqueue(
        conn,
        &Job::SendClientLink { link_id: id },
        Some(&format!("client-link:{id}")),
        now,
    )?;
    Ok(id)
}

/// The link with this token and kind, locked for the caller's transaction, with its booking
/// (also locked): 404 for a token we never made (or of the other kind).
pub fn lock_by_token(
    conn: &mut PgConnection,
    token: &str,
    kind: LinkKind,
) -> Result<(LinkRow, BookingRow), ApiError> {
    let link = by_token(conn, token, kind, true)?;
    let booking: BookingRow = bookings::table
        .find(link.booking_id.ok_or(ApiError::NotFound)?)
        .for_no_key_update()
        .select(BookingRow::as_select())
        .first(conn)?;
    Ok((link, booking))
}

/// The link with this token and kind, and its booking, without a lock.
pub fn find_by_token(
    conn: &mut PgConnection,
    token: &str,
    kind: LinkKind,
) -> Result<(LinkRow, BookingRow), ApiError> {
    let link = by_token(conn, token, kind, false)?;
    let booking: BookingRow = bookings::table
        .find(link.booking_id.ok_or(ApiError::NotFound)?)
        .select(BookingRow::as_select())
        .first(conn)?;
    Ok((link, booking))
}

fn by_token(
    conn: &mut PgConnection,
    token: &str,
    kind: LinkKind,
    lock: bool,
) -> Result<LinkRow, ApiError> {
    // A token is 43 base64url characters; anything else was never ours.
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::NotFound);
    }
    let query = client_links::table
        .filter(client_links::token_hash.eq(hash(token)))
        .filter(client_links::kind.eq(kind.as_str()))
        .select(LinkRow::as_select());
    let found = if lock {
        query.for_update().first(conn).optional()?
    } else {
        query.first(conn).optional()?
    };
    found.ok_or(ApiError::NotFound)
}

/// Refuses a link that cannot be used any more: 409 `link.used` once used, `link.replaced`
/// once sent again, `link.expired` once its booking's hold has ended.
pub fn refuse_unusable(link: &LinkRow, booking: &BookingRow) -> Result<(), ApiError> {
    let (code, detail) = match link.state(booking) {
        LinkState::Sent | LinkState::Opened => return Ok(()),
        LinkState::Approved | LinkState::Declined | LinkState::Paid => (
            "link.used",
            "this link has been used already; it works once",
        ),
        LinkState::Replaced => (
            "link.replaced",
            "a newer link was sent for this booking; use that one",
        ),
        LinkState::Expired => (
            "link.expired",
            "this booking is no longer held, so its link has expired",
        ),
    };
    Err(ApiError::Conflict {
        code,
        detail: detail.into(),
    })
}

/// Notes the first time a client's page read the link (the console shows "opened").
pub fn mark_opened(conn: &mut PgConnection, link_id: Uuid) -> QueryResult<()> {
    diesel::update(
        client_links::table
            .find(link_id)
            .filter(client_links::opened_at.is_null()),
    )
    .set(client_links::opened_at.eq(Utc::now()))
    .execute(conn)
    .map(drop)
}

/// How the client used the link: from which address, with which browser.
#[derive(Debug, Clone, Default)]
pub struct UsedFrom {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// Uses a live link up with `outcome`, in one conditional UPDATE: of two requests with the
/// same token exactly one gets `true`.
pub fn use_up(
    conn: &mut PgConnection,
    link_id: Uuid,
    outcome: &str,
    from: &UsedFrom,
    payment_id: Option<Uuid>,
) -> QueryResult<bool> {
    let user_agent = from
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(512).collect::<String>());
    diesel::update(
        client_links::table
            .find(link_id)
            .filter(client_links::used_at.is_null())
            .filter(client_links::retired_at.is_null()),
    )
    .set((
        client_links::outcome.eq(outcome),
        client_links::used_at.eq(Utc::now()),
        client_links::used_from.eq(from.address.as_deref()),
        client_links::used_user_agent.eq(user_agent),
        client_links::payment_id.eq(payment_id),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// The newest link of `kind` for a booking, if one was ever sent.
pub fn latest(
    conn: &mut PgConnection,
    booking_id: Uuid,
    kind: LinkKind,
) -> QueryResult<Option<LinkRow>> {
    client_links::table
        .filter(client_links::booking_id.eq(booking_id))
        .filter(client_links::kind.eq(kind.as_str()))
        .order(client_links::created_at.desc())
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
}

/// What a link's page shows of its booking: what was booked, where, when and for how much;
/// nothing else of the client (no contact details, no patient, no history).
#[derive(Debug, Serialize)]
pub struct BookedSummary {
    pub reference: String,
    /// `hotel` or `hospital`.
    pub provider_kind: String,
    pub provider_name_ar: String,
    pub provider_name_en: String,
    pub unit_name_ar: String,
    pub unit_name_en: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The provider's time zone, to show its dates and times locally.
    pub timezone: String,
    pub quantity: i32,
    pub guests: Option<i32>,
    #[serde(with = "rust_decimal::serde::str")]
    pub provider_price: rust_decimal::Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub service_fee: rust_decimal::Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub vat: rust_decimal::Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: rust_decimal::Decimal,
    pub currency: String,
    /// While it is still held: when the hold (and so the link) ends.
    pub hold_expires_at: Option<DateTime<Utc>>,
}

impl BookedSummary {
    pub fn of(booking: &BookingRow, provider: &ProviderRow) -> Self {
        Self {
            reference: booking.reference.clone(),
            provider_kind: provider.kind.as_str().to_owned(),
            provider_name_ar: provider.name_ar.clone(),
            provider_name_en: provider.name_en.clone(),
            unit_name_ar: booking.unit_name_ar.clone(),
            unit_name_en: booking.unit_name_en.clone(),
            start: booking.starts_at,
            end: booking.ends_at,
            timezone: provider.timezone.clone(),
            quantity: booking.quantity,
            guests: booking.guests,
            provider_price: booking.provider_price,
            service_fee: booking.service_fee,
            vat: booking.vat,
            total: booking.total,
            currency: booking.currency.clone(),
            hold_expires_at: hold_live(booking)
                .then_some(booking.hold_expires_at)
                .flatten(),
        }
    }
}

/// A link as the agent console shows it.
#[derive(Debug, Serialize)]
pub struct LinkStatus {
    pub state: LinkState,
    pub sent_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    pub used_at: Option<DateTime<Utc>>,
    pub payment_id: Option<Uuid>,
    /// When it stops working (the hold's end), while it still may be used.
    pub expires_at: Option<DateTime<Utc>>,
}

impl LinkStatus {
    pub fn of(link: &LinkRow, booking: &BookingRow) -> Self {
        let state = link.state(booking);
        Self {
            state,
            sent_at: link.created_at,
            opened_at: link.opened_at,
            used_at: link.used_at,
            payment_id: link.payment_id,
            expires_at: matches!(state, LinkState::Sent | LinkState::Opened)
                .then_some(booking.hold_expires_at)
                .flatten(),
        }
    }
}
