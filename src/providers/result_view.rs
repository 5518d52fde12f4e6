//! How a search answer is shown: its order (`sort=price|distance`) and filters (`price_min`,
//! `price_max` on the total the shopper pays, `free_cancellation`, `pay_at_provider`).
//!
//! Applied on the server, after the answer cache and the plan discount: the cache keeps one
//! answer per question however it is sorted, the price filter sees the shopper's own price,
//! and every client (site, console, API users) gets the same rules. They apply to the offers
//! the search found (at most `limit`); `truncated` still says when there were more.

use rust_decimal::Decimal;
use serde_json::Value;

use super::hints::Hint;
use crate::http::query::QueryParams;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Cheapest first (the answer's own order).
    #[default]
    Price,
    /// Nearest first; offers of providers not placed come last, cheapest first.
    Distance,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultView {
    pub sort: Sort,
    pub price_min: Option<Decimal>,
    pub price_max: Option<Decimal>,
    pub free_cancellation: bool,
    pub pay_at_provider: bool,
}

impl ResultView {
    /// Reads the view's parameters; bad values are field errors in `params`.
    pub fn parse(params: &mut QueryParams) -> Self {
        let sort = match params.text("sort") {
            None | Some("price") => Sort::Price,
            Some("distance") => Sort::Distance,
            Some(_) => {
                params.error("sort", "must be price or distance");
                Sort::Price
            }
        };
        let mut price = |name: &str| {
            let value = params.parsed::<Decimal>(name, "an amount in SAR, such as 500.00")?;
            if value.is_sign_negative() {
                params.error(name, "must not be negative");
                return None;
            }
            Some(value)
        };
        let (price_min, price_max) = (price("price_min"), price("price_max"));
        if let (Some(low), Some(high)) = (price_min, price_max)
            && low > high
        {
            params.error("price_max", "must not be below price_min");
        }
        let free_cancellation = params
            .parsed::<bool>("free_cancellation", "true or false")
            .unwrap_or(false);
        let pay_at_provider = params
            .parsed::<bool>("pay_at_provider", "true or false")
            .unwrap_or(false);
        Self {
            sort,
            price_min,
            price_max,
            free_cancellation,
            pay_at_provider,
        }
    }

    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    fn keeps(&self, offer: &Value) -> bool {
        let total = amount(&offer["price"]["total"]);
        let in_range = self.price_min.is_none_or(|low| total >= Some(low))
            && self
                .price_max
                .is_none_or(|high| total.is_some_and(|t| t <= high));
        // Free to cancel now: the first step of the terms gives everything back.
        let free = offer["terms"]["cancellation"][0]["refund_percent"].as_u64() == Some(100);
        let at_provider = offer["provider"]["prepaid"].as_bool() == Some(false);
        in_range && (!self.free_cancellation || free) && (!self.pay_at_provider || at_provider)
    }

    /// The answer with its offers filtered and ordered; when the filters hid every offer
    /// found, the hint says so.
    pub fn apply(&self, answer: &mut Value) {
        let Some(offers) = answer.get_mut("offers").and_then(Value::as_array_mut) else {
            return;
        };
        let found = offers.len();
        offers.retain(|offer| self.keeps(offer));
        if self.sort == Sort::Distance {
            // Stable: equal distances keep the cheapest-first order.
            offers.sort_by(|a, b| {
                let (a, b) = (distance(a), distance(b));
                a.is_none()
                    .cmp(&b.is_none())
                    .then(a.unwrap_or(0.0).total_cmp(&b.unwrap_or(0.0)))
            });
        }
        if found > 0 && offers.is_empty() {
            answer["hints"] = serde_json::json!([Hint::FewerFilters]);
        }
    }
}

fn amount(value: &Value) -> Option<Decimal> {
    value.as_str()?.parse().ok()
}

fn distance(offer: &Value) -> Option<f64> {
    offer["distance"]["km"].as_f64()
}
