//! A phone client's say-so (#16 point 3): when an agent holds a booking for a client and the
//! office's `bookings.consent_required` asks for it, the booking stays held while the client
//! reads what was booked on a page of ours (a single-use link, `client_links.rs`) and
//! approves or declines. Until they approve, paying and staff confirmation answer 409
//! `booking.consent_pending`; a decline cancels the hold through the lifecycle, and a link
//! left unanswered lapses with the hold (the expiry sweep). The decision is kept on the
//! link, in the booking's history and in the audit log: when, from which address, with
//! which browser.

use chrono::Utc;
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::client_links::{self, BookedSummary, LinkKind, LinkRow, LinkState, UsedFrom};
use super::lifecycle::{self, Change, Refund};
use super::service::{BookingKey, Bookings};
use super::state::{BookingEvent, BookingStatus};
use super::store::BookingRow;
use crate::audit::{self, AuditEntry};
use crate::auth::Role;
use crate::config::ConsentRequired;
use crate::db::run_blocking;
use crate::domain::Actor;
use crate::error::ApiError;
use crate::schema::{bookings, client_links as links, users};

/// Whether `booking`, just held by staff for its customer, waits for the client's approval.
pub fn required(
    conn: &mut PgConnection,
    policy: ConsentRequired,
    booking: &BookingRow,
) -> QueryResult<bool> {
    Ok(match policy {
        ConsentRequired::Never => false,
        ConsentRequired::Always => true,
        ConsentRequired::Above(amount) => booking.total > amount,
        // New: none of the client's bookings ever went on to a provider.
        ConsentRequired::NewClients => {
            let served: i64 = bookings::table
                .filter(bookings::customer_id.eq(booking.customer_id))
                .filter(bookings::id.ne(booking.id))
                .filter(bookings::status.eq_any([
                    BookingStatus::Pending,
                    BookingStatus::Confirmed,
                    BookingStatus::Completed,
                    BookingStatus::NoShow,
                ]))
                .count()
                .get_result(conn)?;
            served == 0
        }
    })
}

/// In the hold's transaction: asks the client when the office wants it (staff holds only).
pub fn ask_at_hold(
    conn: &mut PgConnection,
    booking: &BookingRow,
    actor: &Actor,
    links: &LinkSettings,
) -> Result<(), ApiError> {
    if actor.is_staff() && required(conn, links.consent_required, booking)? {
        client_links::send(conn, LinkKind::Consent, booking, actor, &links.keys)?;
    }
    Ok(())
}

/// What the client links need: the key their tokens are derived under, and when consent is
/// asked.
#[derive(Clone)]
pub struct LinkSettings {
    pub keys: crate::auth::links::LinkKeys,
    pub consent_required: ConsentRequired,
}

/// Whether the client has still to approve the booking: a live consent link (neither used
/// nor replaced).
pub fn pending(conn: &mut PgConnection, booking_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        links::table
            .filter(links::booking_id.eq(booking_id))
            .filter(links::kind.eq(LinkKind::Consent.as_str()))
            .filter(links::used_at.is_null())
            .filter(links::retired_at.is_null()),
    ))
    .get_result(conn)
}

/// 409 `booking.consent_pending` while the client has not yet approved. Called by
/// `pay.rs::start_payment` and `service.rs::confirm`.
pub fn refuse_pending(conn: &mut PgConnection, booking_id: Uuid) -> Result<(), ApiError> {
    if pending(conn, booking_id)? {
        return Err(ApiError::Conflict {
            code: "booking.consent_pending",
            detail: "the client has not approved this booking yet: it can be paid or \
                     confirmed once they do (POST /v1/bookings/{id}/consent sends the link again)"
                .into(),
        });
    }
    Ok(())
}

/// What the consent page shows: the link's state and what was booked.
#[derive(Debug, Serialize)]
pub struct ConsentPage {
    pub state: LinkState,
    pub booking: BookedSummary,
}

/// The client's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Decline,
}

impl Decision {
    fn outcome(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Decline => "declined",
        }
    }
}

impl Bookings {
    /// The consent page's content; the first read marks the link opened.
    pub async fn consent_page(&self, token: String) -> Result<ConsentPage, ApiError> {
        run_blocking(&self.pool, move |conn| {
            let (link, booking) = client_links::find_by_token(conn, &token, LinkKind::Consent)?;
            client_links::mark_opened(conn, link.id)?;
            let provider = crate::providers::store::find_provider(conn, booking.provider_id)?;
            let state = match link.state(&booking) {
                LinkState::Sent => LinkState::Opened,
                other => other,
            };
            Ok(ConsentPage {
                state,
                booking: BookedSummary::of(&booking, &provider),
            })
        })
        .await
    }

    /// The client approves or declines, once: recorded on the link, in the booking's
    /// history and the audit log; a decline cancels the hold through the lifecycle.
    pub async fn decide_consent(
        &self,
        token: String,
        decision: Decision,
        from: UsedFrom,
    ) -> Result<ConsentPage, ApiError> {
        let page = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let (link, booking) = client_links::lock_by_token(conn, &token, LinkKind::Consent)?;
                client_links::refuse_unusable(&link, &booking)?;
                if !client_links::use_up(conn, link.id, decision.outcome(), &from, None)? {
                    return Err(ApiError::Conflict {
                        code: "link.used",
                        detail: "this link has been used already; it works once".into(),
                    });
                }
                let details = serde_json::json!({
                    "consent": decision.outcome(),
                    "by": "client",
                    "link_id": link.id,
                    "address": from.address,
                    "user_agent": from.user_agent,
                    "at": Utc::now(),
                });
                let booking = match decision {
                    Decision::Approve => {
                        lifecycle::record_with(
                            conn,
                            &booking,
                            None,
                            Some(booking.status),
                            Some("client approved"),
                            "",
                            Some(details.clone()),
                        )?;
                        booking
                    }
                    Decision::Decline => lifecycle::transition(
                        conn,
                        booking.id,
                        &Change::by_system(BookingEvent::Cancel, "client declined", Refund::All),
                    )?,
                };
                audit_decision(conn, &link, &booking, decision, details)?;
                let provider = crate::providers::store::find_provider(conn, booking.provider_id)?;
                Ok(ConsentPage {
                    state: match decision {
                        Decision::Approve => LinkState::Approved,
                        Decision::Decline => LinkState::Declined,
                    },
                    booking: BookedSummary::of(&booking, &provider),
                })
            })
        })
        .await?;
        self.wake.notify_waiters();
        Ok(page)
    }

    /// Staff send the consent link (again): a new link replaces any live one, and the
    /// client is texted and emailed. 409 `booking.invalid_state` once the booking is no
    /// longer held, `consent.decided` once the client has answered.
    pub async fn send_consent(
        &self,
        actor: Actor,
        key: BookingKey,
        claim: Option<crate::idempotency::IdempotencyClaim>,
    ) -> Result<client_links::LinkStatus, ApiError> {
        self.send_link(
            (actor, key, claim),
            (LinkKind::Consent, "booking.consent_send"),
            |conn, booking| match client_links::latest(conn, booking.id, LinkKind::Consent)?
                .filter(|l| l.used_at.is_some())
            {
                Some(decided) => Err(ApiError::Conflict {
                    code: "consent.decided",
                    detail: format!(
                        "the client has {} this booking already",
                        decided.outcome.as_deref().unwrap_or("answered")
                    ),
                }),
                None => Ok(()),
            },
        )
        .await
    }
}

/// The client's decision in the audit log: under the agent who asked for it (the client has
/// no login of their own), on the client's behalf, with the address and browser it came from.
fn audit_decision(
    conn: &mut PgConnection,
    link: &LinkRow,
    booking: &BookingRow,
    decision: Decision,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let role: Role = users::table
        .find(link.sent_by)
        .select(users::role)
        .first(conn)?;
    audit::record(
        conn,
        &AuditEntry {
            actor_id: link.sent_by,
            actor_role: role,
            on_behalf_of: Some(booking.customer_id),
            action: match decision {
                Decision::Approve => "booking.consent_approved",
                Decision::Decline => "booking.consent_declined",
            },
            entity_type: "booking",
            entity_id: booking.reference.clone(),
            request_id: None,
            details,
        },
    )
}
