//! The booking lifecycle: the one place a booking's status changes (docs/ARCHITECTURE.md,
//! "The booking lifecycle"). [`transition`] runs inside the caller's transaction and:
//!
//! 1. claims the booking with a row lock and re-checks it (the state machine in `state.rs`
//!    decides; an expiry re-checks the hold's deadline, which a 3-D Secure step may have
//!    moved), so of two racing actors exactly one wins;
//! 2. reserves the refund the change owes through the one refund path
//!    (`billing::refunds::refund_booking`), gives back local inventory, and writes the
//!    history row (and, for staff, the audit entry);
//! 3. enqueues what follows as jobs in the same transaction: the provider's confirmation or
//!    cancellation, emails, webhooks. Nothing outside the database is called before the
//!    claim commits; an outside call that keeps failing flags the booking for an agent.

use chrono::Utc;
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::change_store::Unchangeable;
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingRow, NewEvent};
use crate::audit::{self, AuditEntry};
use crate::auth::Role;
use crate::domain::Actor;
use crate::error::ApiError;
use crate::jobs::{BookingEmail, Job, queue};
use crate::schema::bookings;

/// What of the captured payment a change gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refund {
    Nothing,
    /// A cancellation policy's percentage of what is still refundable.
    Percent(u32),
    /// Everything still refundable (the provider failed us).
    All,
    /// At most this much of what is still refundable, credited to the provider's price (a
    /// no-show: that price less the fee its policy keeps, `no_show.rs`; never our fee).
    ProviderShare(Decimal),
}

/// One requested change of a booking.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub event: BookingEvent,
    /// Who asks; `None` is the system (a job, the payment gateway).
    pub actor: Option<&'a Actor>,
    pub reason: Option<&'a str>,
    pub refund: Refund,
    /// The audit log's name for it, when staff make it.
    pub audit_action: &'static str,
}

impl<'a> Change<'a> {
    /// A change the system makes (no actor, no audit entry).
    pub fn by_system(event: BookingEvent, reason: &'a str, refund: Refund) -> Self {
        Self {
            event,
            actor: None,
            reason: Some(reason),
            refund,
            audit_action: "",
        }
    }
}

/// Applies `change` to booking `id`, or fails with 409 `booking.invalid_state` when the
/// booking is not (or no longer) in a status the change applies to. Must run inside a
/// transaction: the claim, its consequences and its follow-up jobs commit together.
#[tracing::instrument(skip_all, fields(booking_id = %id, event = ?change.event), err(level = "debug"))]
pub fn transition(
    conn: &mut PgConnection,
    id: Uuid,
    change: &Change<'_>,
) -> Result<BookingRow, ApiError> {
    let row: BookingRow = bookings::table
        .find(id)
        .for_no_key_update()
        .select(BookingRow::as_select())
        .first(conn)?;
    let to = row
        .status
        .next(change.event)
        .ok_or(ApiError::InvalidState {
            status: row.status.as_str(),
        })?;
    if change.event == BookingEvent::HoldExpired
        && row.hold_expires_at.is_some_and(|at| at > Utc::now())
    {
        // Extended meanwhile (a 3-D Secure step): not due any more.
        return Err(ApiError::InvalidState { status: "held" });
    }
    let refund_amount = if to.settles_refund() {
        Some(reserve_refund(conn, &row, change)?)
    } else {
        row.refund_amount
    };
    let updated = store::transition(conn, row.id, row.status, to, refund_amount)?.ok_or(
        ApiError::InvalidState {
            status: "changed meanwhile",
        },
    )?;
    if row.status == BookingStatus::Held && updated.unit_id.is_some() {
        super::waitlist::settle_offer(conn, updated.id, to)?;
    }
    if to.is_called_off()
        && let Some(unit_id) = updated.unit_id
    {
        store::release_cells(
            conn,
            unit_id,
            updated.starts_at,
            updated.ends_at,
            updated.quantity,
        )?;
        super::waitlist::offer_freed(conn, unit_id, updated.id)?;
    }
    // A no-show gives back the nights not yet begun; the one under way is the fee's.
    if to == BookingStatus::NoShow
        && let Some(unit_id) = updated.unit_id
    {
        let from = Utc::now().max(updated.starts_at);
        store::release_cells(conn, unit_id, from, updated.ends_at, updated.quantity)?;
        super::waitlist::offer_freed(conn, unit_id, updated.id)?;
    }
    record(
        conn,
        &updated,
        change.actor,
        Some(row.status),
        change.reason,
        change.audit_action,
    )?;
    follow_up(conn, &updated, row.status, change)?;
    Ok(updated)
}

/// The history row of a booking's change, and for staff its audit entry. `from` is `None`
/// for the hold that created it.
pub fn record(
    conn: &mut PgConnection,
    booking: &BookingRow,
    actor: Option<&Actor>,
    from: Option<BookingStatus>,
    reason: Option<&str>,
    audit_action: &'static str,
) -> Result<(), ApiError> {
    record_with(conn, booking, actor, from, reason, audit_action, None)
}

/// [`record`], with what changed besides the status (`details`, kept on the history row and
/// given to the audit entry in place of the status pair).
pub fn record_with(
    conn: &mut PgConnection,
    booking: &BookingRow,
    actor: Option<&Actor>,
    from: Option<BookingStatus>,
    reason: Option<&str>,
    audit_action: &'static str,
    details: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    store::insert_event(
        conn,
        &NewEvent {
            booking_id: booking.id,
            actor_id: actor.map(|a| a.user_id),
            from_status: from.map(BookingStatus::as_str),
            to_status: booking.status.as_str(),
            reason,
            request_id: actor.and_then(|a| a.request_id.as_deref()),
            details: details.clone(),
        },
    )?;
    if let Some(actor) = actor.filter(|a| a.is_staff()) {
        audit::record(
            conn,
            &AuditEntry {
                actor_id: actor.user_id,
                actor_role: actor.role,
                on_behalf_of: Some(booking.customer_id),
                action: audit_action,
                entity_type: "booking",
                entity_id: booking.reference.clone(),
                request_id: actor.request_id.clone(),
                details: details.unwrap_or_else(|| {
                    serde_json::json!({
                        "from": from.map(BookingStatus::as_str),
                        "to": booking.status.as_str(),
                        "reason": reason,
                    })
                }),
            },
        )?;
    }
    Ok(())
}

/// The refund an ending booking owes, reserved on its captured payment (zero if unpaid):
/// a policy's share of what is refundable, or (a no-show) at most the provider's share,
/// credited to the provider's price line.
fn reserve_refund(
    conn: &mut PgConnection,
    row: &BookingRow,
    change: &Change<'_>,
) -> Result<Decimal, ApiError> {
    use crate::billing::refunds::{policy_share, refund_booking_crediting};
    // A policy's percentage of what is refundable, or at most a set amount of it.
    let (percent, amount, credit_line) = match change.refund {
        Refund::Nothing => return Ok(Decimal::ZERO),
        Refund::Percent(percent) => (percent, None, None),
        Refund::All => (100, None, None),
        Refund::ProviderShare(amount) => (100, Some(amount), Some(super::pay::PROVIDER_PRICE)),
    };
    let label = amount.map_or_else(
        || format!("{percent}% refund"),
        |amount| format!("{amount} SAR refund"),
    );
    let reason = format!(
        "booking {} {} ({label}){}",
        row.reference,
        row.status
            .next(change.event)
            .map_or("ended", BookingStatus::as_str),
        change.reason.map(|r| format!(": {r}")).unwrap_or_default()
    );
    let staff = change.actor.filter(|a| a.is_staff()).map(|a| a.user_id);
    refund_booking_crediting(
        conn,
        row.id,
        |paid| amount.unwrap_or_else(|| policy_share(paid, percent)),
        &reason,
        staff,
        credit_line,
    )
}

/// Everything that follows a change, as jobs in the change's transaction.
fn follow_up(
    conn: &mut PgConnection,
    booking: &BookingRow,
    from: BookingStatus,
    change: &Change<'_>,
) -> Result<(), ApiError> {
    let now = Utc::now();
    let id = booking.id;
    match booking.status {
        BookingStatus::Pending => {
            queue::enqueue(
                conn,
                &Job::ConfirmBooking { booking_id: id },
                Some(&format!("confirm:{id}")),
                now,
            )?;
        }
        BookingStatus::Confirmed => {
            enqueue_webhook(conn, booking, "booking.confirmed")?;
            enqueue_email(conn, booking, BookingEmail::Confirmed)?;
        }
        BookingStatus::Cancelled | BookingStatus::Expired | BookingStatus::Failed => {
            if booking.provider_ref.is_some() {
                queue::enqueue(
                    conn,
                    &Job::CancelAtProvider { booking_id: id },
                    Some(&format!("cancel:{id}")),
                    now,
                )?;
            }
            // The provider knew of it once it was pending or confirmed, unless it is the
            // one ending it.
            let by_provider = change.actor.is_some_and(|a| a.role == Role::Provider);
            if matches!(from, BookingStatus::Pending | BookingStatus::Confirmed) && !by_provider {
                enqueue_webhook(conn, booking, "booking.cancelled")?;
            }
            let email = match booking.status {
                BookingStatus::Cancelled => BookingEmail::Cancelled,
                BookingStatus::Expired => BookingEmail::Expired,
                _ => {
                    // The office follows up on every failed booking (`?flagged=true`).
                    flag(conn, id)?;
                    BookingEmail::Failed
                }
            };
            enqueue_email(conn, booking, email)?;
            // Ended by the provider's side, not the customer's: a package it belongs to
            // reacts (`packages::saga`, by its job).
            if change.refund == Refund::All {
                enqueue_package_settlement(conn, booking)?;
            }
        }
        BookingStatus::NoShow => {
            // The provider is told the fee, unless it marked the no-show itself.
            if !change.actor.is_some_and(|a| a.role == Role::Provider) {
                enqueue_webhook(conn, booking, "booking.no_show")?;
            }
            enqueue_email(conn, booking, BookingEmail::NoShow)?;
        }
        BookingStatus::Held | BookingStatus::Completed => {}
    }
    Ok(())
}

/// Queues `settle_package` for the package this booking is a part of, if any. Bookings
/// sit below packages: they know only the link table, and leave the reaction to the job.
fn enqueue_package_settlement(conn: &mut PgConnection, booking: &BookingRow) -> QueryResult<()> {
    use crate::schema::package_parts;
    let package: Option<Uuid> = package_parts::table
        .filter(package_parts::booking_id.eq(booking.id))
        .select(package_parts::package_id)
        .first(conn)
        .optional()?;
    if let Some(package_id) = package {
        queue::enqueue(
            conn,
            &Job::SettlePackage { package_id },
            Some(&format!("settle_package:{package_id}:{}", booking.id)),
            Utc::now(),
        )?;
    }
    Ok(())
}

/// Marks a booking for an agent to follow up (`GET /v1/bookings?flagged=true`).
pub fn flag(conn: &mut PgConnection, booking_id: Uuid) -> QueryResult<()> {
    diesel::update(bookings::table.find(booking_id))
        .set(bookings::flagged_at.eq(Some(Utc::now())))
        .execute(conn)
        .map(|_| ())
}

/// Queues the customer's email about a booking, once per booking and event (no address, no
/// mail: phone clients without email are told by the agent), and for a confirmation or a
/// reminder the text beside it.
pub fn enqueue_email(
    conn: &mut PgConnection,
    booking: &BookingRow,
    event: BookingEmail,
) -> QueryResult<()> {
    let key = format!("email:{}:{}", event.as_str(), booking.id);
    enqueue_email_once(conn, booking, event, &key)?;
    if matches!(
        event,
        BookingEmail::Confirmed | BookingEmail::Reminder | BookingEmail::WaitlistOffer
    ) {
        enqueue_sms(conn, booking, event)?;
    }
    Ok(())
}

/// Queues the booking's text when its customer has a phone; the job renders it and asks
/// their consent (`notify::sms`), so a customer who never opted in is never texted.
fn enqueue_sms(
    conn: &mut PgConnection,
    booking: &BookingRow,
    event: BookingEmail,
) -> QueryResult<()> {
    let phone: Option<String> = crate::schema::customers::table
        .find(booking.customer_id)
        .select(crate::schema::customers::phone)
        .first(conn)?;
    if phone.is_none() {
        return Ok(());
    }
    let job = Job::SendBookingSms {
        booking_id: booking.id,
        event,
    };
    let key = format!("sms:{}:{}", event.as_str(), booking.id);
    queue::enqueue(conn, &job, Some(&key), Utc::now()).map(|_| ())
}

/// [`enqueue_email`] under the dedup key `key`.
fn enqueue_email_once(
    conn: &mut PgConnection,
    booking: &BookingRow,
    event: BookingEmail,
    key: &str,
) -> QueryResult<()> {
    if booking.contact_email.is_none() && !customer_has_email(conn, booking.customer_id)? {
        return Ok(());
    }
    let job = Job::SendBookingEmail {
        booking_id: booking.id,
        event,
    };
    queue::enqueue(conn, &job, Some(key), Utc::now()).map(|_| ())
}

/// Queues the outside provider's side of a closed change (`settle_change_at_provider`), once.
pub fn enqueue_settle_at_provider(conn: &mut PgConnection, change_id: Uuid) -> QueryResult<()> {
    queue::enqueue(
        conn,
        &Job::SettleChangeAtProvider { change_id },
        Some(&format!("settle-change:{change_id}")),
        Utc::now(),
    )
    .map(|_| ())
}

/// Queues a signed webhook telling the provider what became of a booking, with the booking
/// as it stands now (the provider may be offline for hours; this is what happened then).
pub fn enqueue_webhook(
    conn: &mut PgConnection,
    booking: &BookingRow,
    event_type: &str,
) -> QueryResult<()> {
    let notice = notice_of(conn, booking)?;
    queue::enqueue_webhook(
        conn,
        booking.provider_id,
        event_type,
        serde_json::to_value(notice).unwrap_or_default(),
    )
}

/// The booking as its provider is told of it: with a stay's rooms, and a no-show's fee.
fn notice_of(
    conn: &mut PgConnection,
    booking: &BookingRow,
) -> QueryResult<super::notice::BookingNotice> {
    let mut notice = super::notice::BookingNotice::from(booking);
    if booking.status == BookingStatus::NoShow {
        notice.no_show = store::find_no_shows(conn, &[booking.id])?
            .pop()
            .map(Into::into);
    }
    notice.rooms = store::rooms_of(conn, booking.id)?;
    Ok(notice)
}

/// What a change's history row and webhook show of the booking before and after.
fn terms_summary(booking: &BookingRow) -> serde_json::Value {
    serde_json::json!({
        "unit_code": booking.unit_code,
        "unit_name_ar": booking.unit_name_ar,
        "unit_name_en": booking.unit_name_en,
        "slot_ref": booking.slot_ref,
        "start": booking.starts_at,
        "end": booking.ends_at,
        "quantity": booking.quantity,
        "guests": booking.guests,
        "total": booking.total.to_string(),
    })
}

/// Applies a change's new terms to `booking` (locked by the caller and still in the status the
/// change was decided in), the one place a booking's terms change (#15, point 1):
///
/// 1. local inventory is swapped in one step, the old cells given back and the new taken,
///    all or none (`Ok(Err(SoldOut))` when the new ones are gone: nothing is written);
/// 2. the booking takes the new unit, dates, rooms, guests and prices (and the outside
///    provider's new handle), and a lower price's refund is reserved through the one refund
///    path;
/// 3. the history row keeps before and after (and for staff, the audit entry);
/// 4. what follows, as jobs: the `booking.changed` webhook once the provider knows of the
///    booking, the customer's email, and the outside provider's side of the change.
pub fn change_terms(
    conn: &mut PgConnection,
    booking: &BookingRow,
    change: &super::change_store::ChangeRow,
    terms: &super::change_store::Terms,
    actor: Option<&Actor>,
) -> Result<Result<BookingRow, Unchangeable>, ApiError> {
    if !store::swap_cells(conn, booking, terms, store::Swap::Keep)? {
        return Ok(Err(Unchangeable::SoldOut));
    }
    // The old terms' cells, given back, may be what someone waits for.
    if let Some(old_unit) = booking.unit_id {
        super::waitlist::offer_freed(conn, old_unit, change.id)?;
    }
    let provider_ref = change
        .provider_ref
        .as_deref()
        .or(booking.provider_ref.as_deref());
    let updated = store::apply_terms(conn, booking.id, terms, provider_ref)?;
    store::keep_fee_discount(conn, booking.id, terms.fee_discount)?;
    if terms.refund > Decimal::ZERO {
        use crate::billing::refunds::refund_booking;
        let reason = format!("booking {} changed: the price fell", booking.reference);
        let staff = actor.filter(|a| a.is_staff()).map(|a| a.user_id);
        refund_booking(conn, booking.id, |_| terms.refund, &reason, staff)?;
    }
    let details = serde_json::json!({
        "change_id": change.id,
        "before": terms_summary(booking),
        "after": terms_summary(&updated),
        "change_fee": change.change_fee.to_string(),
        "difference": change.difference.to_string(),
    });
    record_with(
        conn,
        &updated,
        actor,
        Some(booking.status),
        Some(terms.reason.as_deref().unwrap_or("changed")),
        "booking.change",
        Some(details),
    )?;
    if matches!(
        updated.status,
        BookingStatus::Pending | BookingStatus::Confirmed
    ) {
        let mut notice = serde_json::to_value(notice_of(conn, &updated)?).unwrap_or_default();
        notice["previous"] = terms_summary(booking);
        queue::enqueue_webhook(conn, updated.provider_id, "booking.changed", notice)?;
    }
    // One email per change (each is news), not one per booking and event.
    enqueue_email_once(
        conn,
        &updated,
        BookingEmail::Changed,
        &format!("email:changed:{}", change.id),
    )?;
    if terms.previous_ref.is_some() {
        enqueue_settle_at_provider(conn, change.id)?;
    }
    Ok(Ok(updated))
}

fn customer_has_email(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<bool> {
    let email: Option<String> = crate::schema::customers::table
        .find(customer_id)
        .select(crate::schema::customers::email)
        .first(conn)?;
    Ok(email.is_some())
}
