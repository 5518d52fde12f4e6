//! A provider's terms by hours before the start: cancellation refunds (applied to what was
//! paid, rounded half-up to halalas) and change fees (a share of the provider's price, and a
//! cut-off after which nothing changes).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::money::round_sar;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeTier {
    /// Changing at least this many hours before the start...
    pub hours_before: u32,
    /// ...costs this percentage of the provider's price.
    pub fee_percent: u32,
}

/// Change fees by notice. No tier met: the booking can no longer be changed (the cut-off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangePolicy(pub Vec<ChangeTier>);

impl ChangePolicy {
    /// The fee percentage for changing at `now` a booking that starts at `start`: the
    /// cheapest tier whose notice is met, or `None` past the cut-off.
    pub fn fee_percent(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> Option<u32> {
        if start <= now {
            return None;
        }
        let notice_hours = (start - now).num_minutes() / 60;
        self.0
            .iter()
            .filter(|tier| i64::from(tier.hours_before) <= notice_hours)
            .map(|tier| tier.fee_percent.min(100))
            .min()
    }

    /// The fee for changing, on the provider's price `price`; `None` past the cut-off.
    pub fn fee(&self, price: Decimal, start: DateTime<Utc>, now: DateTime<Utc>) -> Option<Decimal> {
        self.fee_percent(start, now)
            .map(|percent| round_sar(price * Decimal::from(percent) / Decimal::from(100)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use rust_decimal::dec;

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

    #[test]
    fn change_fees_by_notice_and_the_cut_off() {
        let now = Utc::now();
        let policy = ChangePolicy(vec![
            ChangeTier {
                hours_before: 48,
                fee_percent: 0,
            },
            ChangeTier {
                hours_before: 24,
                fee_percent: 10,
            },
        ]);
        let price = dec!(500.00);
        assert_eq!(
            policy.fee(price, now + Duration::hours(49), now),
            Some(dec!(0.00))
        );
        assert_eq!(
            policy.fee(price, now + Duration::hours(48), now),
            Some(dec!(0.00))
        );
        assert_eq!(
            policy.fee(price, now + Duration::hours(30), now),
            Some(dec!(50.00))
        );
        assert_eq!(policy.fee(price, now + Duration::hours(23), now), None);
        assert_eq!(policy.fee(price, now - Duration::hours(1), now), None);
        assert_eq!(
            ChangePolicy(vec![]).fee(price, now + Duration::days(9), now),
            None
        );
    }
}
