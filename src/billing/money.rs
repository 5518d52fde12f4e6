//! SAR amounts with `rust_decimal`, never floats: 2 decimals, VAT 15 % on taxable lines,
//! each line rounded half-up (away from zero at .5).

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

/// Rounds to halalas (0.01 SAR), half-up.
pub fn round_sar(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// One line of a price: what it is, how much, and whether VAT applies to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceLine {
    pub code: &'static str,
    pub label_ar: &'static str,
    pub label_en: &'static str,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// A priced offer: the provider's price, our service fee, VAT on the fee, and the total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub currency: &'static str,
    pub lines: Vec<PriceLine>,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
}

#[derive(Debug, Clone, Copy)]
pub struct FeePolicy {
    pub service_fee: Decimal,
    pub vat_rate: Decimal,
}

impl FeePolicy {
    pub fn quote(&self, provider_price: Decimal) -> Quote {
        let provider_price = round_sar(provider_price);
        let fee = round_sar(self.service_fee);
        let vat = round_sar(fee * self.vat_rate);
        let lines = vec![
            PriceLine {
                code: "provider_price",
                label_ar: "سعر مقدم الخدمة",
                label_en: "Provider price",
                amount: provider_price,
            },
            PriceLine {
                code: "service_fee",
                label_ar: "رسوم الخدمة",
                label_en: "Service fee",
                amount: fee,
            },
            PriceLine {
                code: "vat",
                label_ar: "ضريبة القيمة المضافة ١٥٪ على الرسوم",
                label_en: "VAT 15% on the fee",
                amount: vat,
            },
        ];
        let total = lines.iter().map(|line| line.amount).sum();
        Quote {
            currency: "SAR",
            lines,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn rounds_half_up_to_halalas() {
        assert_eq!(round_sar(dec!(1.005)), dec!(1.01));
        assert_eq!(round_sar(dec!(1.004)), dec!(1.00));
        assert_eq!(round_sar(dec!(2.675)), dec!(2.68));
    }

    #[test]
    fn quote_adds_fee_and_vat_on_the_fee_only() {
        let policy = FeePolicy {
            service_fee: dec!(25),
            vat_rate: dec!(0.15),
        };
        let quote = policy.quote(dec!(450));
        let amounts: Vec<_> = quote.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, [dec!(450.00), dec!(25.00), dec!(3.75)]);
        assert_eq!(quote.total, dec!(478.75));
        assert_eq!(serde_json::to_value(&quote).unwrap()["total"], "478.75");
    }

    #[test]
    fn vat_rounds_per_line() {
        let policy = FeePolicy {
            service_fee: dec!(10.03),
            vat_rate: dec!(0.15),
        };
        // 10.03 * 0.15 = 1.5045 -> 1.50
        assert_eq!(policy.quote(dec!(0)).lines[2].amount, dec!(1.50));
    }
}
