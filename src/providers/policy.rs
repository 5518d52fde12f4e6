//! A provider's terms. By hours before the start: cancellation refunds (applied to what was
//! paid, rounded half-up to halalas) and change fees (a share of the provider's price, and a
//! cut-off after which nothing changes). No-shows: the share of its price it keeps when the
//! guest does not come ([`NoShowFee`]).

use chrono::{DateTime, Duration, FixedOffset, Utc};
use chrono_tz::Tz;
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

/// A provider's cancellation tiers as stored. Policies are validated when written; one that
/// no longer reads refunds nothing rather than guess.
pub fn cancellation_of(provider: &super::store::ProviderRow) -> CancellationPolicy {
    serde_json::from_value(provider.cancellation_policy.clone()).unwrap_or_else(|error| {
        tracing::error!(provider_id = %provider.id, %error, "unreadable cancellation policy");
        CancellationPolicy(Vec::new())
    })
}

/// A provider's change tiers as stored; one that no longer reads allows no change.
pub fn change_of(provider: &super::store::ProviderRow) -> ChangePolicy {
    serde_json::from_value(provider.change_policy.clone()).unwrap_or_else(|error| {
        tracing::error!(provider_id = %provider.id, %error, "unreadable change policy");
        ChangePolicy(Vec::new())
    })
}

/// The terms of an offer of `provider` starting at `start`, as of `now`.
pub fn offer_terms(
    provider: &super::store::ProviderRow,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> OfferTerms {
    ProviderTerms::of(provider).for_offer(start, now)
}

/// A provider's policies read once, for the terms of each of its offers in a search (each
/// read parses the stored JSON).
pub struct ProviderTerms {
    cancellation: CancellationPolicy,
    change: ChangePolicy,
    timezone: Tz,
}

impl ProviderTerms {
    pub fn of(provider: &super::store::ProviderRow) -> Self {
        Self {
            cancellation: cancellation_of(provider),
            change: change_of(provider),
            timezone: provider.timezone.parse().unwrap_or(chrono_tz::Asia::Riyadh),
        }
    }

    /// The terms of an offer starting at `start`, as of `now`.
    pub fn for_offer(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> OfferTerms {
        OfferTerms::new(&self.cancellation, &self.change, start, self.timezone, now)
    }
}

/// One step of a schedule: what applies until `until` (in the provider's time zone), or
/// from the previous step on when `until` is absent (the last step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancellationStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<FixedOffset>>,
    pub refund_percent: u32,
}

/// A change step: `fee_percent` is absent past the cut-off (no change then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<FixedOffset>>,
    pub fee_percent: Option<u32>,
}

/// A provider's terms for one offer, as dated steps a customer can read before booking
/// (#15, point 6): "full refund until 4 Dec 18:00, 50 % until 6 Dec 18:00, then none".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferTerms {
    pub cancellation: Vec<CancellationStep>,
    /// For a booking sent on to the provider; a hold changes free.
    pub change: Vec<ChangeStep>,
}

impl OfferTerms {
    pub fn new(
        cancellation: &CancellationPolicy,
        change: &ChangePolicy,
        start: DateTime<Utc>,
        timezone: Tz,
        now: DateTime<Utc>,
    ) -> Self {
        let cancellation = schedule(
            cancellation
                .0
                .iter()
                .map(|t| (t.hours_before, t.refund_percent.min(100))),
            Iterator::max,
            start,
            now,
        )
        .into_iter()
        .map(|(until, percent)| CancellationStep {
            until: until.map(|at| at.with_timezone(&timezone).fixed_offset()),
            refund_percent: percent.unwrap_or(0),
        })
        .collect();
        let change = schedule(
            change
                .0
                .iter()
                .map(|t| (t.hours_before, t.fee_percent.min(100))),
            Iterator::min,
            start,
            now,
        )
        .into_iter()
        .map(|(until, percent)| ChangeStep {
            until: until.map(|at| at.with_timezone(&timezone).fixed_offset()),
            fee_percent: percent,
        })
        .collect();
        Self {
            cancellation,
            change,
        }
    }
}

/// The steps of a tiered policy from `now` on: for each tier's deadline (`start` less its
/// hours) the percentage `pick` chooses among the tiers met up to it, then `None` (no tier
/// met) with no deadline. Steps already over are left out; equal neighbours merge.
fn schedule(
    tiers: impl Iterator<Item = (u32, u32)>,
    pick: fn(std::vec::IntoIter<u32>) -> Option<u32>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<(Option<DateTime<Utc>>, Option<u32>)> {
    let tiers: Vec<(u32, u32)> = tiers.collect();
    let mut deadlines: Vec<u32> = tiers.iter().map(|(hours, _)| *hours).collect();
    deadlines.sort_unstable_by(|a, b| b.cmp(a));
    deadlines.dedup();
    let mut steps: Vec<(Option<DateTime<Utc>>, Option<u32>)> = Vec::new();
    for hours in deadlines {
        let until = start - Duration::hours(i64::from(hours));
        if until <= now {
            continue;
        }
        let met: Vec<u32> = tiers
            .iter()
            .filter(|(h, _)| *h <= hours)
            .map(|(_, percent)| *percent)
            .collect();
        let percent = pick(met.into_iter());
        match steps.last_mut() {
            Some(last) if last.1 == percent => last.0 = Some(until),
            _ => steps.push((Some(until), percent)),
        }
    }
    match steps.last() {
        Some((_, None)) => {
            if let Some(last) = steps.last_mut() {
                last.0 = None;
            }
        }
        _ => steps.push((None, None)),
    }
    steps
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

    #[test]
    fn offer_terms_read_as_dated_steps_in_the_providers_time() {
        let now: DateTime<Utc> = "2026-12-01T09:00:00Z".parse().unwrap();
        // Check-in 7 Dec, 15:00 in Riyadh (12:00 UTC).
        let start: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let terms = OfferTerms::new(
            &standard(),
            &ChangePolicy(vec![
                ChangeTier {
                    hours_before: 48,
                    fee_percent: 0,
                },
                ChangeTier {
                    hours_before: 24,
                    fee_percent: 10,
                },
            ]),
            start,
            chrono_tz::Asia::Riyadh,
            now,
        );
        let at = |text: &str| Some(DateTime::parse_from_rfc3339(text).unwrap());
        assert_eq!(
            terms.cancellation,
            vec![
                CancellationStep {
                    until: at("2026-12-04T15:00:00+03:00"),
                    refund_percent: 100
                },
                CancellationStep {
                    until: at("2026-12-06T15:00:00+03:00"),
                    refund_percent: 50
                },
                CancellationStep {
                    until: None,
                    refund_percent: 0
                },
            ]
        );
        assert_eq!(
            terms.change,
            vec![
                ChangeStep {
                    until: at("2026-12-05T15:00:00+03:00"),
                    fee_percent: Some(0)
                },
                ChangeStep {
                    until: at("2026-12-06T15:00:00+03:00"),
                    fee_percent: Some(10)
                },
                ChangeStep {
                    until: None,
                    fee_percent: None
                },
            ]
        );
        // Two days out, the full-refund step is over and left out.
        let later = OfferTerms::new(
            &standard(),
            &ChangePolicy(vec![]),
            start,
            chrono_tz::Asia::Riyadh,
            start - Duration::hours(50),
        );
        assert_eq!(later.cancellation[0].refund_percent, 50);
        assert_eq!(
            later.change,
            vec![ChangeStep {
                until: None,
                fee_percent: None
            }]
        );
        // The agreement with what cancelling refunds at each step.
        for step in &terms.cancellation {
            if let Some(until) = step.until {
                let just_before = until.with_timezone(&Utc) - Duration::minutes(1);
                assert_eq!(
                    standard().refund_percent(start, just_before),
                    step.refund_percent
                );
            }
        }
    }
}
