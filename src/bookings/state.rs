//! The booking state machine, in one place (docs/ARCHITECTURE.md §3):
//!
//! ```text
//! held --pay / agent confirm--> pending --provider confirms--> confirmed --> completed | no_show
//!   |                             |                              |
//!   +--hold expires--> expired    +--provider refuses--> failed  +--cancel--> cancelled
//! ```
//! `cancelled` is reachable from held, pending and confirmed. The store applies a transition
//! with `UPDATE … WHERE status = <from>`, so of two racing actors only one wins.

use diesel::{AsExpression, FromSqlRow, sql_types::Text};
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
#[diesel(sql_type = Text)]
pub enum BookingStatus {
    Held,
    Pending,
    Confirmed,
    Completed,
    NoShow,
    Expired,
    Failed,
    Cancelled,
}

crate::text_enum!(BookingStatus {
    Held => "held",
    Pending => "pending",
    Confirmed => "confirmed",
    Completed => "completed",
    NoShow => "no_show",
    Expired => "expired",
    Failed => "failed",
    Cancelled => "cancelled",
});

/// What happens to a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingEvent {
    /// Paid, or (until payments land) confirmed by an agent: hand it to the provider.
    Submit,
    ProviderConfirmed,
    ProviderRefused,
    HoldExpired,
    Cancel,
    Complete,
    NoShow,
}

impl BookingStatus {
    /// The one transition function: the status after `event`, or `None` when the event
    /// makes no sense in this status.
    pub fn next(self, event: BookingEvent) -> Option<BookingStatus> {
        use BookingEvent as E;
        use BookingStatus as S;
        match (self, event) {
            (S::Held, E::Submit) => Some(S::Pending),
            (S::Held, E::HoldExpired) => Some(S::Expired),
            (S::Pending, E::ProviderConfirmed) => Some(S::Confirmed),
            (S::Pending, E::ProviderRefused) => Some(S::Failed),
            (S::Confirmed, E::Complete) => Some(S::Completed),
            (S::Confirmed, E::NoShow) => Some(S::NoShow),
            (S::Held | S::Pending | S::Confirmed, E::Cancel) => Some(S::Cancelled),
            _ => None,
        }
    }

    /// Whether the booking ended without being used: its inventory goes back, its refund is
    /// settled and the provider's copy is cancelled.
    pub fn is_called_off(self) -> bool {
        matches!(self, Self::Expired | Self::Failed | Self::Cancelled)
    }

    /// Whether the change to this status settles what the booking's payment owes back: a
    /// booking called off, or a no-show (all but the fee its provider keeps).
    pub fn settles_refund(self) -> bool {
        self.is_called_off() || self == Self::NoShow
    }

    /// Whether the booking still holds inventory.
    pub fn holds_inventory(self) -> bool {
        matches!(self, Self::Held | Self::Pending | Self::Confirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::BookingEvent as E;
    use super::BookingStatus as S;

    const EVENTS: [E; 7] = [
        E::Submit,
        E::ProviderConfirmed,
        E::ProviderRefused,
        E::HoldExpired,
        E::Cancel,
        E::Complete,
        E::NoShow,
    ];

    #[test]
    fn the_happy_path_and_its_branches() {
        assert_eq!(S::Held.next(E::Submit), Some(S::Pending));
        assert_eq!(S::Pending.next(E::ProviderConfirmed), Some(S::Confirmed));
        assert_eq!(S::Confirmed.next(E::Complete), Some(S::Completed));
        assert_eq!(S::Confirmed.next(E::NoShow), Some(S::NoShow));
        assert_eq!(S::Held.next(E::HoldExpired), Some(S::Expired));
        assert_eq!(S::Pending.next(E::ProviderRefused), Some(S::Failed));
    }

    #[test]
    fn cancel_only_while_the_booking_is_alive() {
        for status in S::ALL {
            let expected =
                matches!(status, S::Held | S::Pending | S::Confirmed).then_some(S::Cancelled);
            assert_eq!(status.next(E::Cancel), expected, "{status}");
        }
    }

    #[test]
    fn final_states_accept_nothing() {
        for status in [S::Completed, S::NoShow, S::Expired, S::Failed, S::Cancelled] {
            for event in EVENTS {
                assert_eq!(status.next(event), None, "{status} on {event:?}");
            }
        }
    }

    #[test]
    fn exactly_the_documented_transitions_exist() {
        let count = S::ALL
            .iter()
            .flat_map(|s| EVENTS.iter().filter_map(move |e| s.next(*e)))
            .count();
        assert_eq!(count, 9);
    }
}
