//! A provider's money policies. Cancellation refunds: its tiers by hours before the start,
//! applied to what was paid, rounded half-up to halalas. No-shows: the share of its price it
//! keeps when the guest does not come ([`NoShowFee`]).

use chrono::{DateTime, Utc};
use diesel::{AsExpression, FromSqlRow, sql_types::Text};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::model::ProviderKind;
use crate::domain::money::round_sar;

/// What a provider keeps of its price when the guest does not come (`providers.no_show_fee`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[serde(rename_all = "snake_case")]
#[diesel(sql_type = Text)]
pub enum NoShowFee {
    None,
    /// The industry's norm for hotels. An appointment is one visit: its first night is all of it.
    FirstNight,
    Full,
}

crate::text_enum!(NoShowFee {
    None => "none",
    FirstNight => "first_night",
    Full => "full",
});

impl NoShowFee {
    /// The fee: the share of `provider_price` (the whole stay, every room) kept for a booking
    /// of `nights` nights; one night's share is the price over the nights, half-up to the
    /// halala.
    pub fn fee(self, kind: ProviderKind, provider_price: Decimal, nights: u32) -> Decimal {
        match (self, kind) {
            (Self::None, _) => Decimal::ZERO,
            (Self::Full, _) | (Self::FirstNight, ProviderKind::Hospital) => provider_price,
            (Self::FirstNight, ProviderKind::Hotel) => {
                round_sar(provider_price / Decimal::from(nights.max(1))).min(provider_price)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundTier {
    /// Cancelling at least this many hours before the start...
    pub hours_before: u32,
    /// ...refunds this percentage of what was paid.
    pub refund_percent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CancellationPolicy(pub Vec<RefundTier>);

impl CancellationPolicy {
    /// The percentage refunded when cancelling at `now` a booking that starts at `start`:
    /// the most generous tier whose notice is met; none met, nothing back.
    pub fn refund_percent(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
        let notice_hours = (start - now).num_minutes().max(0) / 60;
        self.0
            .iter()
            .filter(|tier| i64::from(tier.hours_before) <= notice_hours)
            .map(|tier| tier.refund_percent.min(100))
            .max()
            .unwrap_or(0)
    }

    pub fn refund(&self, paid: Decimal, start: DateTime<Utc>, now: DateTime<Utc>) -> Decimal {
        round_sar(paid * Decimal::from(self.refund_percent(start, now)) / Decimal::from(100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use rust_decimal::dec;

    #[test]
    fn no_show_fees_by_policy_and_kind() {
        let hotel = ProviderKind::Hotel;
        assert_eq!(NoShowFee::None.fee(hotel, dec!(900.00), 2), dec!(0));
        assert_eq!(NoShowFee::Full.fee(hotel, dec!(900.00), 2), dec!(900.00));
        assert_eq!(
            NoShowFee::FirstNight.fee(hotel, dec!(900.00), 2),
            dec!(450.00)
        );
        // 1000 / 3 = 333.333… -> 333.33; 1000.01 / 2 = 500.005 -> 500.01 (half-up).
        assert_eq!(
            NoShowFee::FirstNight.fee(hotel, dec!(1000.00), 3),
            dec!(333.33)
        );
        assert_eq!(
            NoShowFee::FirstNight.fee(hotel, dec!(1000.01), 2),
            dec!(500.01)
        );
        // A night count of zero (a stay shorter than a day) is one night.
        assert_eq!(
            NoShowFee::FirstNight.fee(hotel, dec!(300.00), 0),
            dec!(300.00)
        );
        let clinic = ProviderKind::Hospital;
        assert_eq!(
            NoShowFee::FirstNight.fee(clinic, dec!(250.00), 1),
            dec!(250.00)
        );
        assert_eq!(NoShowFee::None.fee(clinic, dec!(250.00), 1), dec!(0));
    }

    fn standard() -> CancellationPolicy {
        CancellationPolicy(vec![
            RefundTier {
                hours_before: 72,
                refund_percent: 100,
            },
            RefundTier {
                hours_before: 24,
                refund_percent: 50,
            },
        ])
    }

    #[test]
    fn tiers_by_notice() {
        let now = Utc::now();
        let policy = standard();
        assert_eq!(
            policy.refund(dec!(628.75), now + Duration::hours(100), now),
            dec!(628.75)
        );
        assert_eq!(
            policy.refund(dec!(628.75), now + Duration::hours(72), now),
            dec!(628.75)
        );
        assert_eq!(
            policy.refund(dec!(628.75), now + Duration::hours(71), now),
            dec!(314.38)
        );
        assert_eq!(
            policy.refund(dec!(628.75), now + Duration::hours(24), now),
            dec!(314.38)
        );
        assert_eq!(
            policy.refund(dec!(628.75), now + Duration::hours(23), now),
            dec!(0.00)
        );
        assert_eq!(
            policy.refund(dec!(628.75), now - Duration::hours(1), now),
            dec!(0.00)
        );
    }

    #[test]
    fn an_empty_policy_refunds_nothing_and_percentages_are_capped() {
        let now = Utc::now();
        assert_eq!(
            CancellationPolicy(vec![]).refund(dec!(100), now + Duration::days(30), now),
            dec!(0)
        );
        let generous = CancellationPolicy(vec![RefundTier {
            hours_before: 0,
            refund_percent: 250,
        }]);
        assert_eq!(
            generous.refund(dec!(100), now + Duration::days(1), now),
            dec!(100.00)
        );
    }
}
