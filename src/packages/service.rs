//! Holding a package (a saga: the appointment, then the stay; a failed second hold gives the
//! first back), reading and listing packages, and cancelling one under each provider's
//! policy. Every step and compensation is written to `package_steps` in the transaction
//! that makes it: nothing of a package lives in a process's memory.

use chrono::Utc;
use diesel::prelude::*;
use uuid::Uuid;

use super::store::{self, PackageFilter, PackageRow, Part, Scope};
use super::view::{PackageView, package_view};
use crate::bookings::hold::NewBooking;
use crate::bookings::lifecycle::{self, Change, Refund};
use crate::bookings::reference::new_package_reference;
use crate::bookings::service::Bookings;
use crate::bookings::state::{BookingEvent, BookingStatus};
use crate::config::OnPartRefused;
use crate::db::{PgPool, run_blocking};
use crate::domain::{Actor, OFFICE_TIMEZONE, Role};
use crate::error::{ApiError, FieldError};
use crate::idempotency::IdempotencyClaim;
use crate::providers::model::ProviderKind;
use crate::providers::offer::{OfferClaims, OfferIdError};
use crate::providers::store as provider_store;

/// Everything packages need, built once at start-up.
#[derive(Clone)]
pub struct Packages {
    pub pool: PgPool,
    /// Each part is an ordinary booking, held, paid and ended through bookings.
    pub bookings: Bookings,
    pub on_part_refused: OnPartRefused,
}

/// A package to hold: the appointment's and the stay's requests, as the hold route takes them.
#[derive(Debug, Clone)]
pub struct NewPackage {
    pub appointment: NewBooking,
    pub stay: NewBooking,
}

/// A package named by its id or its `WP-` reference.
#[derive(Debug, Clone)]
pub struct PackageKey {
    pub id: Option<Uuid>,
    pub reference: Option<String>,
}

/// Whose packages an actor may see: a customer their own, staff every one.
pub fn scope_of(actor: &Actor) -> Result<Scope, ApiError> {
    match actor.role {
        Role::Customer => Ok(Scope::CustomerUser(actor.user_id)),
        Role::Agent | Role::Admin => Ok(Scope::Everything),
        Role::Provider => Err(ApiError::Forbidden),
    }
}

/// A part's problem, named under the part it is about (`stay.guests`, `appointment.patient`).
pub fn under(part: Part) -> impl Fn(ApiError) -> ApiError {
    move |error| match error {
        ApiError::Validation(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(format!("{}.{}", part.as_str(), e.field), e.message))
                .collect(),
        ),
        other => other,
    }
}

fn field(name: &str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::new(name, message)])
}

/// The short, stable name of what stopped a hold, for the saga's log.
fn why(error: &ApiError) -> String {
    error.code().to_owned()
}

impl Packages {
    fn verify(&self, offer_id: &str, part: Part) -> Result<OfferClaims, ApiError> {
        self.bookings
            .searcher
            .signer
            .verify(offer_id, Utc::now())
            .map_err(|e| match e {
                OfferIdError::Invalid => field(
                    &format!("{}.offer_id", part.as_str()),
                    "is not a valid offer id",
                ),
                OfferIdError::Expired => ApiError::OfferExpired,
            })
    }

    /// Checks the two offers make a package: a clinic's appointment and a hotel's stay in
    /// the same city, the stay's nights around the appointment's day.
    async fn check_pair(&self, input: &NewPackage) -> Result<(), ApiError> {
        let appointment = self.verify(&input.appointment.offer_id, Part::Appointment)?;
        let stay = self.verify(&input.stay.offer_id, Part::Stay)?;
        let (clinic, hotel) = run_blocking(&self.pool, move |conn| {
            let clinic = provider_store::find_provider(conn, appointment.provider_id)
                .map_err(|_| ApiError::SoldOut)?;
            let hotel = provider_store::find_provider(conn, stay.provider_id)
                .map_err(|_| ApiError::SoldOut)?;
            Ok((clinic, hotel))
        })
        .await?;
        if clinic.kind != ProviderKind::Hospital {
            return Err(field(
                "appointment.offer_id",
                "must be a clinic appointment's offer",
            ));
        }
        if hotel.kind != ProviderKind::Hotel {
            return Err(field("stay.offer_id", "must be a hotel stay's offer"));
        }
        if clinic.city != hotel.city {
            return Err(field("stay.offer_id", "must be in the appointment's city"));
        }
        let timezone: chrono_tz::Tz = hotel.timezone.parse().unwrap_or(OFFICE_TIMEZONE);
        let day = appointment.start.with_timezone(&timezone).date_naive();
        let check_in = stay.start.with_timezone(&timezone).date_naive();
        let check_out = stay.end.with_timezone(&timezone).date_naive();
        if !(check_in <= day && day <= check_out) {
            return Err(field("stay.offer_id", "must cover the appointment's day"));
        }
        Ok(())
    }

    /// Holds both parts, all or nothing: the appointment first (the scarcer), then the stay
    /// without a fee of its own. If the stay cannot be held, the appointment is cancelled
    /// through the lifecycle and the package left `released`; the answer is the stay's
    /// problem. The answer (201) is saved under the Idempotency-Key in the transaction that
    /// opens the package.
    pub async fn hold(
        &self,
        actor: Actor,
        input: NewPackage,
        claim: Option<IdempotencyClaim>,
        address: String,
    ) -> Result<PackageView, ApiError> {
        self.check_pair(&input).await?;
        let first = self
            .bookings
            .create(actor.clone(), input.appointment, None, address.clone())
            .await
            .map_err(under(Part::Appointment))?;
        let reference = new_package_reference().map_err(ApiError::Internal)?;
        let (staff, first_id, customer_id) = (
            actor.is_staff().then_some(actor.user_id),
            first.id,
            first.customer_id,
        );
        let opened = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let package = store::insert(conn, &reference, customer_id, staff)?;
                store::link(conn, package.id, Part::Appointment, first_id)?;
                store::log_step(conn, package.id, "hold_appointment", "done", None)?;
                Ok(package)
            })
        })
        .await;
        let package = match opened {
            Ok(package) => package,
            Err(error) => {
                // Not recorded as a package: give the appointment back on its own.
                self.release_unrecorded(first_id).await;
                return Err(error);
            }
        };
        let fees = self.bookings.searcher.fees;
        let second = self
            .bookings
            .create_priced(actor, input.stay, None, address, fees.without_fee())
            .await;
        let package_id = package.id;
        let result = match second {
            Ok(stay) => {
                run_blocking(&self.pool, move |conn| {
                    conn.transaction(|conn| {
                        let package = store::lock(conn, package_id)?;
                        store::link(conn, package_id, Part::Stay, stay.id)?;
                        store::set_phase(conn, package_id, "open")?;
                        store::log_step(conn, package_id, "hold_stay", "done", None)?;
                        let package = PackageRow {
                            phase: "open".into(),
                            ..package
                        };
                        let view = package_view(conn, package, &fees)?;
                        if let Some(claim) = &claim {
                            claim.save_in(conn, actix_web::http::StatusCode::CREATED, &view)?;
                        }
                        Ok(view)
                    })
                })
                .await
            }
            Err(error) => {
                let error = under(Part::Stay)(error);
                let detail = why(&error);
                run_blocking(&self.pool, move |conn| {
                    conn.transaction(|conn| release(conn, package_id, first_id, &detail))
                })
                .await?;
                Err(error)
            }
        };
        self.bookings.wake.notify_waiters();
        result
    }

    /// The appointment held for a package that could not be recorded: cancelled on its own
    /// (best effort; it expires with its hold otherwise).
    async fn release_unrecorded(&self, booking_id: Uuid) {
        let released = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                lifecycle::transition(
                    conn,
                    booking_id,
                    &Change::by_system(
                        BookingEvent::Cancel,
                        "the package could not be recorded",
                        Refund::Nothing,
                    ),
                )
            })
        })
        .await;
        if let Err(error) = released {
            tracing::error!(%booking_id, error = %error.describe(), "could not release a package's appointment");
        }
    }

    /// One package, with its parts, payment and steps, if the actor may see it.
    pub async fn get(&self, actor: &Actor, key: PackageKey) -> Result<PackageView, ApiError> {
        let scope = scope_of(actor)?;
        let fees = self.bookings.searcher.fees;
        run_blocking(&self.pool, move |conn| {
            let row = store::find_visible(conn, key.id, key.reference.as_deref(), scope)?;
            package_view(conn, row, &fees)
        })
        .await
    }

    /// Packages the actor may see, newest first, a page at a time.
    pub async fn list(
        &self,
        actor: &Actor,
        mut filter: PackageFilter,
    ) -> Result<(Vec<PackageView>, Option<(chrono::DateTime<Utc>, Uuid)>), ApiError> {
        if (filter.customer_id.is_some() || filter.flagged.is_some()) && !actor.is_staff() {
            return Err(ApiError::Forbidden);
        }
        let scope = scope_of(actor)?;
        let fees = self.bookings.searcher.fees;
        let limit = filter.limit;
        filter.limit = limit + 1;
        run_blocking(&self.pool, move |conn| {
            let mut rows = store::list_visible(conn, &filter, scope)?;
            let more = rows.len() as i64 > limit;
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            let next = more
                .then(|| rows.last().map(|r| (r.created_at, r.id)))
                .flatten();
            let views = rows
                .into_iter()
                .map(|row| package_view(conn, row, &fees))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((views, next))
        })
        .await
    }

    /// Cancels both parts, each under its provider's policy (a package flagged after a
    /// provider refused it is refunded in full: the refusal was not the customer's doing).
    /// A package with nothing left to cancel and a part cancelled answers as it is.
    pub async fn cancel(
        &self,
        actor: Actor,
        key: PackageKey,
        reason: Option<String>,
        claim: Option<IdempotencyClaim>,
    ) -> Result<PackageView, ApiError> {
        let scope = scope_of(&actor)?;
        let fees = self.bookings.searcher.fees;
        let view = run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| {
                let found = store::find_visible(conn, key.id, key.reference.as_deref(), scope)?;
                let package = store::lock(conn, found.id)?;
                let parts = store::parts(conn, package.id)?;
                let live: Vec<_> = parts
                    .iter()
                    .filter(|(_, b)| b.status.next(BookingEvent::Cancel).is_some())
                    .collect();
                if live.is_empty()
                    && !parts
                        .iter()
                        .any(|(_, b)| b.status == BookingStatus::Cancelled)
                {
                    let status = parts.first().map_or("released", |(_, b)| b.status.as_str());
                    return Err(ApiError::InvalidState { status });
                }
                let flagged = package.flagged_at.is_some();
                for (_, booking) in &live {
                    let refund = if flagged {
                        Refund::All
                    } else {
                        let provider = provider_store::find_provider(conn, booking.provider_id)?;
                        Refund::Percent(
                            crate::providers::policy::cancellation_of(&provider)
                                .refund_percent(booking.starts_at, Utc::now()),
                        )
                    };
                    lifecycle::transition(
                        conn,
                        booking.id,
                        &Change {
                            event: BookingEvent::Cancel,
                            actor: Some(&actor),
                            reason: Some(reason.as_deref().unwrap_or("the package was cancelled")),
                            refund,
                            audit_action: "package.cancel",
                        },
                    )?;
                }
                if !live.is_empty() {
                    store::log_step(conn, package.id, "cancel", "done", reason.as_deref())?;
                }
                let view = package_view(conn, package, &fees)?;
                if let Some(claim) = &claim {
                    claim.save_in(conn, actix_web::http::StatusCode::OK, &view)?;
                }
                Ok(view)
            })
        })
        .await?;
        self.bookings.wake.notify_waiters();
        Ok(view)
    }
}

/// The compensation of a failed second hold, in one transaction: the appointment cancelled
/// through the lifecycle (with its reason), both steps logged, the package `released`.
fn release(
    conn: &mut PgConnection,
    package_id: Uuid,
    appointment_id: Uuid,
    detail: &str,
) -> Result<(), ApiError> {
    let package = store::lock(conn, package_id)?;
    store::log_step(conn, package_id, "hold_stay", "failed", Some(detail))?;
    let reason = format!(
        "package {}: the stay could not be held ({detail})",
        package.reference
    );
    match lifecycle::transition(
        conn,
        appointment_id,
        &Change::by_system(BookingEvent::Cancel, &reason, Refund::Nothing),
    ) {
        // Ended already (it expired meanwhile): nothing is held.
        Ok(_) | Err(ApiError::InvalidState { .. }) => {}
        Err(other) => return Err(other),
    }
    store::log_step(conn, package_id, "release", "done", Some(&reason))?;
    store::set_phase(conn, package_id, "released")?;
    Ok(())
}
