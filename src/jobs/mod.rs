//! Scheduled and follow-up work: a queue in PostgreSQL (`queue`), workers that claim and run
//! jobs on any instance (`worker`), and cron entries that only enqueue (`schedule`).
//! Every job is safe to run twice: a job may be retried after a crash or a lost lease.

pub mod queue;
pub mod routes;
pub mod schedule;
pub mod worker;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A unit of work, stored as JSON in `jobs.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Job {
    /// Sweep: held bookings past `hold_expires_at` become `expired` and give back their inventory.
    ExpireHolds,
    /// Hand a `pending` booking to its provider; after the last attempt it becomes `failed`.
    ConfirmBooking { booking_id: Uuid },
    /// Sweep: confirmed bookings that have ended become `completed`.
    CompletePastBookings,
    /// Sweep: Idempotency-Key records older than a day are deleted.
    PurgeIdempotencyKeys,
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::ExpireHolds => "expire_holds",
            Job::ConfirmBooking { .. } => "confirm_booking",
            Job::CompletePastBookings => "complete_past_bookings",
            Job::PurgeIdempotencyKeys => "purge_idempotency_keys",
        }
    }

    /// Sweeps run again on the next tick anyway; a provider confirmation gets more chances.
    pub fn max_attempts(&self) -> i32 {
        match self {
            Job::ConfirmBooking { .. } => 6,
            _ => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Job;

    #[test]
    fn jobs_round_trip_through_their_json() {
        let job = Job::ConfirmBooking {
            booking_id: uuid::Uuid::new_v4(),
        };
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["kind"], job.kind());
        assert_eq!(serde_json::from_value::<Job>(json).unwrap(), job);
        assert!(
            serde_json::from_value::<Job>(serde_json::json!({ "kind": "launch_rockets" })).is_err()
        );
    }
}
