//! The saga's reaction to a part ended by its provider's side (refused, never confirmed):
//! the `settle_package` job, queued by the lifecycle in the transaction that ended the part.
//! By the office's setting (`packages.on_part_refused`) the other part is cancelled with
//! everything it was paid refunded (the refused part was refunded in full by its own
//! transition, so the whole payment goes back), or the package is flagged for an agent to
//! offer an alternative. Safe to run twice: a second run finds nothing left to do.

use diesel::prelude::*;
use uuid::Uuid;

use super::service::Packages;
use super::store::{self, Part};
use crate::bookings::lifecycle::{self, Change, Refund};
use crate::bookings::state::{BookingEvent, BookingStatus};
use crate::config::OnPartRefused;
use crate::db::run_blocking;
use crate::error::ApiError;

impl Packages {
    /// Job `settle_package`.
    #[tracing::instrument(skip(self))]
    pub async fn settle(&self, package_id: Uuid) -> Result<(), ApiError> {
        let policy = self.on_part_refused;
        run_blocking(&self.pool, move |conn| {
            conn.transaction(|conn| settle_in(conn, package_id, policy))
        })
        .await?;
        self.bookings.wake.notify_waiters();
        Ok(())
    }
}

fn settle_in(
    conn: &mut PgConnection,
    package_id: Uuid,
    policy: OnPartRefused,
) -> Result<(), ApiError> {
    let package = store::lock(conn, package_id)?;
    let parts = store::parts(conn, package_id)?;
    let ended: Vec<&(Part, _)> = parts
        .iter()
        .filter(|(_, b)| b.status.is_called_off())
        .collect();
    let live: Vec<&(Part, _)> = parts
        .iter()
        .filter(|(_, b)| b.status.next(BookingEvent::Cancel).is_some())
        .collect();
    if ended.is_empty() || live.is_empty() {
        return Ok(()); // settled already, or nothing ended
    }
    let refused = ended
        .iter()
        .map(|(part, b)| format!("{} {} {}", part.as_str(), b.reference, b.status.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    match policy {
        OnPartRefused::Refund => {
            store::log_step(conn, package_id, "part_refused", "done", Some(&refused))?;
            let reason = format!(
                "package {}: the other part was refused by its provider",
                package.reference
            );
            for (part, booking) in live {
                lifecycle::transition(
                    conn,
                    booking.id,
                    &Change::by_system(BookingEvent::Cancel, &reason, Refund::All),
                )?;
                store::log_step(
                    conn,
                    package_id,
                    "cancel_other",
                    "done",
                    Some(&format!(
                        "{} {} refunded in full",
                        part.as_str(),
                        booking.reference
                    )),
                )?;
            }
        }
        OnPartRefused::FlagAgent => {
            if store::flag(conn, package_id, &format!("refused: {refused}"))? {
                store::log_step(conn, package_id, "part_refused", "done", Some(&refused))?;
                store::log_step(conn, package_id, "flag_agent", "done", None)?;
                for (_, booking) in live {
                    if booking.status != BookingStatus::Held {
                        lifecycle::flag(conn, booking.id)?;
                    }
                }
            }
        }
    }
    Ok(())
}
