//! Room prices by occupancy (#15, point 2), as hotels set them: the nightly price covers
//! `base_adults`; each adult beyond pays `extra_adult`; each child pays the rate of the first
//! age band that takes its age (a child older than every band pays as an adult). A room type
//! without rates charges its nightly price whoever stays. Every price is SAR a night.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::money::round_sar;
use crate::domain::occupancy::{Occupancy, RoomGuests};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildBand {
    /// Children up to this age (inclusive)...
    pub up_to_age: u32,
    /// ...pay this a night (0: free).
    #[serde(with = "rust_decimal::serde::str")]
    pub nightly: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OccupancyRates {
    /// Adults the nightly price covers.
    pub base_adults: u32,
    /// A night for each adult beyond `base_adults`.
    #[serde(with = "rust_decimal::serde::str")]
    pub extra_adult: Decimal,
    #[serde(default)]
    pub child_bands: Vec<ChildBand>,
}

impl OccupancyRates {
    /// Why these rates cannot be stored, if they cannot (the field under `occupancy_rates`).
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.base_adults == 0 {
            return Some(("base_adults", "must be at least 1"));
        }
        if self.extra_adult < Decimal::ZERO || self.extra_adult.scale() > 2 {
            return Some((
                "extra_adult",
                "must be an amount of 0 or more, in halalas at most",
            ));
        }
        if self.child_bands.len() > 6 {
            return Some(("child_bands", "at most 6 bands"));
        }
        let mut last = None;
        for band in &self.child_bands {
            if band.nightly < Decimal::ZERO || band.nightly.scale() > 2 {
                return Some(("child_bands", "each nightly rate is an amount of 0 or more"));
            }
            if band.up_to_age > crate::domain::occupancy::MAX_CHILD_AGE
                || last.is_some_and(|age| band.up_to_age <= age)
            {
                return Some((
                    "child_bands",
                    "bands go up by age (up_to_age ascending, at most 17)",
                ));
            }
            last = Some(band.up_to_age);
        }
        None
    }
}

/// One room of an offer: who stays, and its price for the whole stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomLine {
    pub adults: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<u32>,
    /// This room's provider price for every night of the stay, SAR.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
}

/// A room's price a night for `guests`.
pub fn room_nightly(
    nightly: Decimal,
    rates: Option<&OccupancyRates>,
    guests: &RoomGuests,
) -> Decimal {
    let Some(rates) = rates else {
        return nightly;
    };
    let mut adults = guests.adults;
    let mut children = Decimal::ZERO;
    for age in &guests.children {
        match rates.child_bands.iter().find(|band| *age <= band.up_to_age) {
            Some(band) => children += band.nightly,
            None => adults += 1,
        }
    }
    let extra = Decimal::from(adults.saturating_sub(rates.base_adults));
    round_sar(nightly + rates.extra_adult * extra + children)
}

/// Each room's line for a stay of `nights`, and their total.
pub fn room_lines(
    nightly: Decimal,
    rates: Option<&OccupancyRates>,
    occupancy: &Occupancy,
    nights: u32,
) -> (Vec<RoomLine>, Decimal) {
    let lines: Vec<RoomLine> = occupancy
        .0
        .iter()
        .map(|room| RoomLine {
            adults: room.adults,
            children: room.children.clone(),
            price: room_nightly(nightly, rates, room) * Decimal::from(nights),
        })
        .collect();
    let total = lines.iter().map(|line| line.price).sum();
    (lines, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn rates() -> OccupancyRates {
        OccupancyRates {
            base_adults: 2,
            extra_adult: dec!(120.00),
            child_bands: vec![
                ChildBand {
                    up_to_age: 5,
                    nightly: dec!(0),
                },
                ChildBand {
                    up_to_age: 11,
                    nightly: dec!(60.00),
                },
            ],
        }
    }

    fn guests(adults: u32, children: &[u32]) -> RoomGuests {
        RoomGuests {
            adults,
            children: children.to_vec(),
        }
    }

    #[test]
    fn a_room_prices_by_who_stays() {
        let rates = rates();
        let nightly = dec!(450.00);
        assert_eq!(
            room_nightly(nightly, Some(&rates), &guests(1, &[])),
            dec!(450.00)
        );
        assert_eq!(
            room_nightly(nightly, Some(&rates), &guests(2, &[])),
            dec!(450.00)
        );
        assert_eq!(
            room_nightly(nightly, Some(&rates), &guests(3, &[])),
            dec!(570.00)
        );
        // A 3-year-old is free, a 7-year-old pays the band, a 14-year-old pays as an adult.
        assert_eq!(
            room_nightly(nightly, Some(&rates), &guests(2, &[3])),
            dec!(450.00)
        );
        assert_eq!(
            room_nightly(nightly, Some(&rates), &guests(2, &[7])),
            dec!(510.00)
        );
        assert_eq!(
            room_nightly(nightly, Some(&rates), &guests(2, &[14])),
            dec!(570.00)
        );
        assert_eq!(room_nightly(nightly, None, &guests(4, &[7])), dec!(450.00));
    }

    #[test]
    fn each_room_has_its_line_and_the_total_is_their_sum() {
        let occupancy = Occupancy(vec![guests(2, &[7]), guests(1, &[])]);
        let (lines, total) = room_lines(dec!(450.00), Some(&rates()), &occupancy, 2);
        assert_eq!(
            lines.iter().map(|l| l.price).collect::<Vec<_>>(),
            [dec!(1020.00), dec!(900.00)]
        );
        assert_eq!(total, dec!(1920.00));
    }

    #[test]
    fn rates_that_cannot_be_stored_say_why() {
        let mut bad = rates();
        bad.child_bands.reverse();
        assert_eq!(bad.problem().map(|p| p.0), Some("child_bands"));
        let mut bad = rates();
        bad.base_adults = 0;
        assert_eq!(bad.problem().map(|p| p.0), Some("base_adults"));
        assert_eq!(rates().problem(), None);
    }
}
