//! SAR amounts with `rust_decimal`, never floats: 2 decimals, VAT 15 % on taxable lines,
//! each line rounded half-up (away from zero at .5); and the quote every offer and booking
//! shows: the provider's price, our fee, VAT on the fee, the total.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Serialize, Serializer};

/// Rounds to halalas (0.01 SAR), half-up, always written with two decimals ("0.00").
pub fn round_sar(amount: Decimal) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded
}

/// One line of a price as a customer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceLine {
    pub code: &'static str,
    pub label_ar: &'static str,
    pub label_en: &'static str,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// A price: the provider's, our service fee (after a plan's discount), VAT on the fee, and
/// their total. Shown as `{"currency": "SAR", "lines": [...], "total": "…"}`, the fee at its
/// full amount followed by the discount as a negative line, so the lines add up to the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub provider_price: Decimal,
    /// What is charged for our fee, the discount taken off.
    pub service_fee: Decimal,
    /// What a subscriber's plan took off our fee (0 without one).
    pub fee_discount: Decimal,
    pub vat: Decimal,
}

impl Quote {
    pub fn total(&self) -> Decimal {
        self.provider_price + self.service_fee + self.vat
    }

    pub fn lines(&self) -> Vec<PriceLine> {
        let mut lines = vec![
            PriceLine {
                code: "provider_price",
                label_ar: "سعر مقدم الخدمة",
                label_en: "Provider price",
                amount: self.provider_price,
            },
            PriceLine {
                code: "service_fee",
                label_ar: "رسوم الخدمة",
                label_en: "Service fee",
                amount: self.service_fee + self.fee_discount,
            },
        ];
        if self.fee_discount > Decimal::ZERO {
            lines.push(PriceLine {
                code: "plan_discount",
                label_ar: "خصم اشتراكك على الرسوم",
                label_en: "Your plan's discount on the fee",
                amount: -self.fee_discount,
            });
        }
        lines.push(PriceLine {
            code: "vat",
            label_ar: "ضريبة القيمة المضافة 15٪ على الرسوم",
            label_en: "VAT 15% on the fee",
            amount: self.vat,
        });
        lines
    }

    /// What paying charges now and what is left to pay at the provider: a prepaid provider's
    /// price is collected with our fee, another's is paid to it directly.
    pub fn split(&self, prepaid: bool) -> (Decimal, Decimal) {
        if prepaid {
            (self.total(), round_sar(Decimal::ZERO))
        } else {
            (self.service_fee + self.vat, self.provider_price)
        }
    }
}

impl Serialize for Quote {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown {
            currency: &'static str,
            lines: Vec<PriceLine>,
            #[serde(with = "rust_decimal::serde::str")]
            total: Decimal,
        }
        Shown {
            currency: "SAR",
            lines: self.lines(),
            total: self.total(),
        }
        .serialize(serializer)
    }
}

/// Our fee and the VAT on it, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct FeePolicy {
    pub service_fee: Decimal,
    pub vat_rate: Decimal,
}

impl FeePolicy {
    /// The same VAT rate with no fee: a part of a package whose one fee is charged on
    /// another part.
    pub fn without_fee(&self) -> Self {
        Self {
            service_fee: Decimal::ZERO,
            vat_rate: self.vat_rate,
        }
    }

    pub fn quote(&self, provider_price: Decimal) -> Quote {
        self.quote_with_discount(provider_price, 0)
    }

    /// A subscriber's quote: `discount_percent` off our fee (100 waives it).
    pub fn quote_with_discount(&self, provider_price: Decimal, discount_percent: i32) -> Quote {
        let kept = Decimal::from(100 - discount_percent.clamp(0, 100)) / Decimal::ONE_HUNDRED;
        let service_fee = round_sar(self.service_fee * kept);
        Quote {
            provider_price: round_sar(provider_price),
            service_fee,
            fee_discount: round_sar(self.service_fee) - service_fee,
            vat: round_sar(service_fee * self.vat_rate),
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
        let amounts: Vec<_> = quote.lines().iter().map(|l| l.amount).collect();
        assert_eq!(amounts, [dec!(450.00), dec!(25.00), dec!(3.75)]);
        assert_eq!(quote.total(), dec!(478.75));
        assert_eq!(serde_json::to_value(quote).unwrap()["total"], "478.75");
    }

    #[test]
    fn a_plan_discount_lowers_the_fee_and_its_vat() {
        let policy = FeePolicy {
            service_fee: dec!(25),
            vat_rate: dec!(0.15),
        };
        let half = policy.quote_with_discount(dec!(450), 50);
        assert_eq!(half.service_fee, dec!(12.50));
        assert_eq!(half.vat, dec!(1.88)); // 1.875 half-up
        assert_eq!(half.total(), dec!(464.38));
        // The breakdown shows the full fee and the discount, and still adds up.
        let amounts: Vec<_> = half.lines().iter().map(|l| l.amount).collect();
        assert_eq!(
            amounts,
            [dec!(450.00), dec!(25.00), dec!(-12.50), dec!(1.88)]
        );
        assert_eq!(amounts.iter().sum::<Decimal>(), half.total());
        assert_eq!(half.split(false), (dec!(14.38), dec!(450.00)));
        assert_eq!(half.split(true), (dec!(464.38), dec!(0)));
        assert_eq!(
            policy.quote_with_discount(dec!(450), 100).total(),
            dec!(450.00)
        );
    }

    #[test]
    fn vat_rounds_per_line() {
        let policy = FeePolicy {
            service_fee: dec!(10.03),
            vat_rate: dec!(0.15),
        };
        // 10.03 * 0.15 = 1.5045 -> 1.50
        assert_eq!(policy.quote(dec!(0)).vat, dec!(1.50));
    }
}
