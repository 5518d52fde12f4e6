//! What a customer is charged and refunded, line by line: each line's net amount, its VAT
//! rounded on the line, and the ledger account it is credited to. Quotes (what an offer
//! costs) are `domain::money`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ledger::Account;
pub use crate::domain::money::round_sar;

/// One line of what a customer is charged (and invoiced): the net amount, its VAT rounded
/// on this line, and the ledger account its net amount is credited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeLine {
    /// `provider_price`, `service_fee` or `plan`.
    pub code: String,
    pub label_ar: String,
    pub label_en: String,
    pub account: Account,
    #[serde(with = "rust_decimal::serde::str")]
    pub net: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub vat_rate: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub vat: Decimal,
}

impl ChargeLine {
    pub fn new(
        code: &str,
        (label_ar, label_en): (&str, &str),
        account: Account,
        net: Decimal,
        vat_rate: Decimal,
    ) -> Self {
        let net = round_sar(net);
        Self {
            code: code.to_owned(),
            label_ar: label_ar.to_owned(),
            label_en: label_en.to_owned(),
            account,
            net,
            vat_rate,
            vat: round_sar(net * vat_rate),
        }
    }

    pub fn gross(&self) -> Decimal {
        self.net + self.vat
    }
}

/// Sums of a set of lines.
pub fn totals(lines: &[ChargeLine]) -> (Decimal, Decimal, Decimal) {
    let net: Decimal = lines.iter().map(|l| l.net).sum();
    let vat: Decimal = lines.iter().map(|l| l.vat).sum();
    (net, vat, net + vat)
}

/// Splits a refund of `amount` (with VAT) over the lines of a payment, in proportion to
/// what each line still has unrefunded (`remaining`, same order as `lines`), so a credit
/// note reverses revenue, VAT and provider money in the shares they were charged. Each
/// share is rounded to the halala; the last line with room takes the remainder, so the
/// shares sum to `amount` exactly. `None` when `amount` exceeds what remains.
pub fn allocate_refund(remaining: &[ChargeLine], amount: Decimal) -> Option<Vec<ChargeLine>> {
    let available: Decimal = remaining.iter().map(ChargeLine::gross).sum();
    if amount <= Decimal::ZERO || amount > available {
        return None;
    }
    let mut grosses: Vec<Decimal> = remaining
        .iter()
        .map(|line| round_sar(line.gross() * amount / available).min(line.gross()))
        .collect();
    // Rounding leaves at most a few halalas over or under: settle them on lines with room.
    let mut diff = amount - grosses.iter().copied().sum::<Decimal>();
    for (share, line) in grosses.iter_mut().zip(remaining).rev() {
        let room = if diff > Decimal::ZERO {
            diff.min(line.gross() - *share)
        } else {
            diff.max(-*share)
        };
        *share += room;
        diff -= room;
    }
    // Unreachable while amount <= available; checked in release builds too, since a credit
    // note that does not add up to its refund must never be issued.
    if !diff.is_zero() {
        return None;
    }
    Some(
        remaining
            .iter()
            .zip(grosses)
            .filter(|(_, gross)| !gross.is_zero())
            .map(|(line, gross)| {
                // The line's VAT in the same proportion (all of it for the whole line), so a
                // series of refunds ends exactly at the VAT charged.
                let vat = if gross == line.gross() {
                    line.vat
                } else {
                    round_sar(line.vat * gross / line.gross()).min(line.vat)
                };
                ChargeLine {
                    net: gross - vat,
                    vat,
                    ..line.clone()
                }
            })
            .collect(),
    )
}

/// What of `charged` is left after the refunds in `refunded` (same codes), line by line.
/// [`allocate_refund`] credited to the line `code` first (a no-show gives back the provider's
/// price, not our fee or its VAT); only what that line has no room for is spread over the
/// others. `None` when `amount` exceeds what remains.
pub fn allocate_refund_to(
    remaining: &[ChargeLine],
    code: &str,
    amount: Decimal,
) -> Option<Vec<ChargeLine>> {
    let (first, rest): (Vec<ChargeLine>, Vec<ChargeLine>) = remaining
        .iter()
        .cloned()
        .partition(|line| line.code == code);
    let room: Decimal = first.iter().map(ChargeLine::gross).sum();
    let on_line = amount.min(room);
    let mut lines = if on_line > Decimal::ZERO {
        allocate_refund(&first, on_line)?
    } else {
        Vec::new()
    };
    if amount > on_line || lines.is_empty() {
        lines.extend(allocate_refund(&rest, amount - on_line)?);
    }
    Some(lines)
}

pub fn unrefunded(charged: &[ChargeLine], refunded: &[ChargeLine]) -> Vec<ChargeLine> {
    // What was credited per code, taken off that code's charged lines in order: a package's
    // payment has a `provider_price` line per booking, and a credit counts once.
    let mut credited: Vec<(&str, Decimal, Decimal)> = Vec::new();
    for line in refunded {
        match credited.iter_mut().find(|(code, _, _)| *code == line.code) {
            Some((_, net, vat)) => {
                *net += line.net;
                *vat += line.vat;
            }
            None => credited.push((&line.code, line.net, line.vat)),
        }
    }
    charged
        .iter()
        .map(|line| {
            let (net, vat) = match credited.iter_mut().find(|(code, _, _)| *code == line.code) {
                Some((_, net_left, vat_left)) => {
                    let (net, vat) = ((*net_left).min(line.net), (*vat_left).min(line.vat));
                    *net_left -= net;
                    *vat_left -= vat;
                    (line.net - net, line.vat - vat)
                }
                None => (line.net, line.vat),
            };
            ChargeLine {
                net,
                vat,
                ..line.clone()
            }
        })
        .filter(|line| line.gross() > Decimal::ZERO)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn booking_lines() -> Vec<ChargeLine> {
        vec![
            ChargeLine::new(
                "provider_price",
                ("", ""),
                Account::ProviderPayable,
                dec!(450),
                dec!(0),
            ),
            ChargeLine::new(
                "service_fee",
                ("", ""),
                Account::FeeRevenue,
                dec!(25),
                dec!(0.15),
            ),
        ]
    }

    #[test]
    fn a_refund_splits_in_proportion_and_sums_exactly() {
        let lines = booking_lines();
        assert_eq!(totals(&lines), (dec!(475.00), dec!(3.75), dec!(478.75)));
        for amount in [
            dec!(0.01),
            dec!(0.03),
            dec!(100),
            dec!(239.38),
            dec!(478.74),
            dec!(478.75),
        ] {
            let shares = allocate_refund(&lines, amount).unwrap();
            assert_eq!(totals(&shares).2, amount, "{amount}");
            for share in &shares {
                let line = lines.iter().find(|l| l.code == share.code).unwrap();
                assert!(share.net <= line.net && share.vat <= line.vat, "{share:?}");
            }
        }
        assert!(allocate_refund(&lines, dec!(478.76)).is_none());
        assert!(allocate_refund(&lines, dec!(0)).is_none());
    }

    #[test]
    fn a_refund_to_a_line_credits_that_line_first() {
        let lines = booking_lines();
        let shares = allocate_refund_to(&lines, "provider_price", dec!(225)).unwrap();
        assert_eq!(shares.len(), 1);
        assert_eq!(
            (shares[0].code.as_str(), shares[0].net),
            ("provider_price", dec!(225))
        );
        // What the line cannot take spills over the rest, in proportion.
        let remaining = unrefunded(&lines, &shares);
        let shares = allocate_refund_to(&remaining, "provider_price", dec!(226)).unwrap();
        assert_eq!(totals(&shares).2, dec!(226));
        let fee = shares.iter().find(|s| s.code == "service_fee").unwrap();
        assert_eq!(fee.gross(), dec!(1));
        assert!(allocate_refund_to(&lines, "provider_price", dec!(478.76)).is_none());
        assert!(allocate_refund_to(&lines, "provider_price", dec!(0)).is_none());
    }

    #[test]
    fn refunds_in_steps_never_exceed_the_lines() {
        let lines = booking_lines();
        let mut refunded = Vec::new();
        for step in [dec!(100.01), dec!(0.02), dec!(300), dec!(78.72)] {
            let remaining = unrefunded(&lines, &refunded);
            refunded.extend(allocate_refund(&remaining, step).unwrap());
        }
        assert_eq!(totals(&refunded).2, dec!(478.75));
        assert!(unrefunded(&lines, &refunded).is_empty());
        assert!(allocate_refund(&unrefunded(&lines, &refunded), dec!(0.01)).is_none());
    }

    #[test]
    fn a_credit_counts_once_against_lines_sharing_a_code() {
        // A package's payment: a provider price per booking, and one fee.
        let charged = vec![
            ChargeLine::new(
                "provider_price",
                ("", ""),
                Account::ProviderPayable,
                dec!(300),
                dec!(0),
            ),
            ChargeLine::new(
                "service_fee",
                ("", ""),
                Account::FeeRevenue,
                dec!(25),
                dec!(0.15),
            ),
            ChargeLine::new(
                "provider_price",
                ("", ""),
                Account::ProviderPayable,
                dec!(900),
                dec!(0),
            ),
        ];
        let first = allocate_refund(&unrefunded(&charged, &[]), dec!(328.75)).unwrap();
        let left = unrefunded(&charged, &first);
        let total: Decimal = left.iter().map(ChargeLine::gross).sum();
        assert_eq!(total, dec!(900.00));
        assert!(allocate_refund(&left, dec!(900.00)).is_some());
    }
}
