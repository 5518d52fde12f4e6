//! Uncertain outcomes at outside providers. A `book` or `cancel` sent to a FHIR or CalDAV
//! provider that got no answer (a timeout, a connection dropped after the request went out)
//! may or may not have been done. The booking does not guess: the step is recorded open in
//! `provider_uncertainties` (the booking reads `provider_status: "unconfirmed"`) until the
//! provider, asked by our reference, tells:
//!
//! - `book` (a hold): the `reconcile_provider` job asks `Adapter::find`. Found: the booking is
//!   completed by booking again under the same reference (idempotent at both adapters; CalDAV
//!   re-counts the nights) and its handle recorded. Not found, or the booking ended first:
//!   whatever carries the reference is given back (`Adapter::release`) and a live booking is
//!   cancelled ("the provider did not take it"). Still no answer: retried, and after the last
//!   attempt the booking is flagged for an agent. Until then it cannot be paid, confirmed by
//!   staff or changed (409 `booking.provider_unconfirmed`).
//! - `cancel`: cancelling is idempotent at both adapters, so the `cancel_at_provider` job's
//!   retry is the reconciliation; the step is open while it retries.
//!
//! The invariant this keeps: exactly one provider reservation per live booking, none for a
//! dead one.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use uuid::Uuid;

use super::hold::BookedRoom;
use super::lifecycle::{self, Change, Refund};
use super::service::Bookings;
use super::state::{BookingEvent, BookingStatus};
use super::store::{self, BookingRow, Visibility};
use super::system::BookingJobError;
use super::view::BookingView;
use crate::db::run_blocking;
use crate::error::ApiError;
use crate::jobs::{Job, queue};
use crate::providers::adapter::{Adapter, AdapterError};
use crate::providers::model::{BookingRequest, RoomRequest};
use crate::providers::store as provider_store;
use crate::schema::{bookings, provider_uncertainties as pu};

/// The call whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Book,
    Cancel,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Book => "book",
            Step::Cancel => "cancel",
        }
    }
}

/// How an uncertainty ended (`provider_uncertainties.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The provider had it: the booking keeps it.
    Booked,
    /// The provider had none: the booking ended.
    NotTaken,
    /// The booking had ended first: what the provider held was given back.
    Released,
    /// The cancel went through.
    Cancelled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Booked => "booked",
            Outcome::NotTaken => "not_taken",
            Outcome::Released => "released",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Opens `step` for the booking, once (a second open while one is open is a no-op).
pub fn open(
    conn: &mut PgConnection,
    booking_id: Uuid,
    step: Step,
    reference: &str,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO provider_uncertainties (booking_id, step, reference) VALUES ($1, $2, $3) \
         ON CONFLICT (booking_id, step) WHERE resolved_at IS NULL DO NOTHING",
    )
    .bind::<SqlUuid, _>(booking_id)
    .bind::<Text, _>(step.as_str())
    .bind::<Text, _>(reference)
    .execute(conn)
    .map(drop)
}

/// Opens the `book` step of a hold written without its provider's answer, and queues the
/// job that settles it, first run once a request still in flight has had `grace` to land.
pub(super) fn open_book(
    conn: &mut PgConnection,
    booking: &BookingRow,
    grace: chrono::Duration,
) -> Result<(), ApiError> {
    open(conn, booking.id, Step::Book, &booking.reference)?;
    queue::enqueue(
        conn,
        &Job::ReconcileProvider {
            booking_id: booking.id,
        },
        Some(&format!("reconcile-provider:{}", booking.id)),
        Utc::now() + grace,
    )?;
    Ok(())
}

fn is_open(conn: &mut PgConnection, booking_id: Uuid, step: Step) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        pu::table
            .filter(pu::booking_id.eq(booking_id))
            .filter(pu::step.eq(step.as_str()))
            .filter(pu::resolved_at.is_null()),
    ))
    .get_result(conn)
}

fn resolve(
    conn: &mut PgConnection,
    booking_id: Uuid,
    step: Step,
    outcome: Outcome,
) -> QueryResult<()> {
    diesel::update(pu::table)
        .filter(pu::booking_id.eq(booking_id))
        .filter(pu::step.eq(step.as_str()))
        .filter(pu::resolved_at.is_null())
        .set((
            pu::resolved_at.eq(Some(Utc::now())),
            pu::outcome.eq(Some(outcome.as_str())),
        ))
        .execute(conn)
        .map(drop)
}

/// Counts one more ask without a definite answer.
fn note_attempt(conn: &mut PgConnection, booking_id: Uuid, step: Step) -> QueryResult<()> {
    diesel::update(pu::table)
        .filter(pu::booking_id.eq(booking_id))
        .filter(pu::step.eq(step.as_str()))
        .filter(pu::resolved_at.is_null())
        .set(pu::attempts.eq(pu::attempts + 1))
        .execute(conn)
        .map(drop)
}

/// Whether any step of the booking is still unconfirmed at its provider.
pub(super) fn is_unconfirmed(conn: &mut PgConnection, booking_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        pu::table
            .filter(pu::booking_id.eq(booking_id))
            .filter(pu::resolved_at.is_null()),
    ))
    .get_result(conn)
}

/// 409 `booking.provider_unconfirmed` while the provider has not told whether it holds the
/// booking: nobody pays for, confirms or changes a hold that may not exist.
pub fn refuse_unconfirmed(conn: &mut PgConnection, booking_id: Uuid) -> Result<(), ApiError> {
    if is_open(conn, booking_id, Step::Book)? {
        return Err(ApiError::Conflict {
            code: "booking.provider_unconfirmed",
            detail: "the provider has not yet confirmed that it holds this booking (its answer \
                     was lost); we are asking it: try again in a minute"
                .into(),
        });
    }
    Ok(())
}

/// Shows an open step on a booking's view, and tells a held booking's client to wait.
pub(super) fn show(view: &mut BookingView, unconfirmed: bool) {
    if !unconfirmed {
        return;
    }
    view.provider_status = Some("unconfirmed");
    if view.status == BookingStatus::Held {
        view.next.action = "await_provider";
    }
}

/// The booking as its outside provider was asked to hold it, with its rooms' guests.
fn provider_request(booking: &BookingRow, rooms: Vec<RoomRequest>) -> BookingRequest {
    BookingRequest {
        reference: booking.reference.clone(),
        unit_code: booking.unit_code.clone(),
        slot_ref: booking.slot_ref.clone(),
        start: booking.starts_at,
        end: booking.ends_at,
        quantity: u32::try_from(booking.quantity).unwrap_or(0),
        guest_name: booking.contact_name.clone(),
        guest_phone: booking.contact_phone.clone(),
        guest_email: booking.contact_email.clone(),
        // Only asked again of a booking the provider already has (FHIR finds its Appointment
        // before anything else), so its patient is not sent twice.
        patient: None,
        rooms,
    }
}

/// The cancel job's side: an uncertain failure opens the `cancel` step, a success closes it.
pub(super) async fn note_cancel(
    bookings: &Bookings,
    booking_id: &Uuid,
    reference: &str,
    result: &Result<(), AdapterError>,
) -> Result<(), ApiError> {
    let (id, reference) = (*booking_id, reference.to_owned());
    match result {
        Ok(()) => {
            run_blocking(&bookings.pool, move |conn| {
                Ok(resolve(conn, id, Step::Cancel, Outcome::Cancelled)?)
            })
            .await
        }
        Err(error) if error.is_uncertain() => {
            run_blocking(&bookings.pool, move |conn| {
                open(conn, id, Step::Cancel, &reference)?;
                Ok(note_attempt(conn, id, Step::Cancel)?)
            })
            .await
        }
        Err(_) => Ok(()),
    }
}

impl Bookings {
    /// Job: settles a hold whose `book` got no answer (see the module's opening). Safe to
    /// run twice: a settled step is left alone.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn reconcile_provider(
        &self,
        booking_id: Uuid,
        last_attempt: bool,
    ) -> Result<(), BookingJobError> {
        let (row, rooms, provider, open) = run_blocking(&self.pool, move |conn| {
            let row = store::find_visible(conn, Some(booking_id), None, Visibility::Everything)?;
            let rooms = store::rooms_of(conn, booking_id)?;
            let provider = provider_store::find_provider(conn, row.provider_id)?;
            let open = is_open(conn, booking_id, Step::Book)?;
            Ok((row, rooms, provider, open))
        })
        .await?;
        if !open {
            return Ok(());
        }
        let settled = match Adapter::for_provider(&provider, &self.searcher.clients) {
            Ok(adapter) => {
                let request =
                    provider_request(&row, rooms.iter().map(BookedRoom::request).collect());
                self.settle_book(&adapter, &row, &request).await
            }
            Err(misconfigured) => Err(BookingJobError::Provider {
                provider_id: provider.id,
                error: misconfigured,
            }),
        };
        match settled {
            Ok(outcome) => {
                tracing::info!(reference = %row.reference, outcome = outcome.as_str(), "an unconfirmed booking is settled at its provider");
                self.wake.notify_waiters();
                Ok(())
            }
            Err(error) => {
                run_blocking(&self.pool, move |conn| {
                    note_attempt(conn, booking_id, Step::Book)?;
                    if last_attempt {
                        // Still unknown: an agent calls the provider.
                        lifecycle::flag(conn, booking_id)?;
                    }
                    Ok(())
                })
                .await?;
                Err(error)
            }
        }
    }

    /// Asks the provider, then completes or rolls back the hold's `book`.
    async fn settle_book(
        &self,
        adapter: &Adapter,
        booking: &BookingRow,
        request: &BookingRequest,
    ) -> Result<Outcome, BookingJobError> {
        let provider_id = booking.provider_id;
        let at_provider = |error| BookingJobError::Provider { provider_id, error };
        if booking.status == BookingStatus::Held
            && adapter.find(request).await.map_err(at_provider)?.is_some()
        {
            // It landed. Booking again under the reference finishes it (FHIR finds the
            // Appointment; CalDAV re-counts the nights with its events in place).
            match adapter.book(request).await {
                Ok(provider_ref) => {
                    let id = booking.id;
                    let kept = run_blocking(&self.pool, move |conn| {
                        conn.transaction(|conn| {
                            let status: BookingStatus = bookings::table
                                .find(id)
                                .for_no_key_update()
                                .select(bookings::status)
                                .first(conn)?;
                            if status != BookingStatus::Held {
                                return Ok(false); // it ended meanwhile: give it back below
                            }
                            diesel::update(bookings::table.find(id))
                                .set(bookings::provider_ref.eq(Some(&provider_ref.0)))
                                .execute(conn)?;
                            resolve(conn, id, Step::Book, Outcome::Booked)?;
                            Ok(true)
                        })
                    })
                    .await?;
                    if kept {
                        return Ok(Outcome::Booked);
                    }
                }
                // Over capacity once re-counted (CalDAV): not ours to keep.
                Err(AdapterError::SoldOut) => {}
                Err(error) => return Err(at_provider(error)),
            }
        }
        adapter.release(request).await.map_err(at_provider)?;
        let id = booking.id;
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let change = Change::by_system(
                    BookingEvent::Cancel,
                    "the provider did not take it",
                    Refund::Nothing,
                );
                let outcome =
                    match conn.transaction(|conn| lifecycle::transition(conn, id, &change)) {
                        Ok(_) => Outcome::NotTaken,
                        // It had ended already (expired, cancelled): nothing more to end.
                        Err(ApiError::InvalidState { .. }) => Outcome::Released,
                        Err(other) => return Err(other),
                    };
                resolve(conn, id, Step::Book, outcome)?;
                Ok(outcome)
            })
        })
        .await
        .map_err(BookingJobError::from)
    }
}
