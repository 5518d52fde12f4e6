//! Subscription plans: what a customer pays per month or year, and what they get for it
//! (a trial, a discount on our booking fee, a number of bookings per period).

use chrono::{DateTime, Months, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::text;
use crate::error::{ApiError, FieldError};
use crate::schema::plans;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "year" {
            Self::Year
        } else {
            Self::Month
        }
    }

    /// The end of a period that starts at `start` (month ends clamp: 31 Jan + 1 month is
    /// the last day of February).
    pub fn after(self, start: DateTime<Utc>) -> DateTime<Utc> {
        let months = match self {
            Self::Month => Months::new(1),
            Self::Year => Months::new(12),
        };
        start.checked_add_months(months).unwrap_or(start)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = plans, check_for_backend(diesel::pg::Pg))]
pub struct PlanRow {
    pub id: Uuid,
    pub code: String,
    pub name_ar: String,
    pub name_en: String,
    pub price: Decimal,
    pub billing_interval: String,
    pub trial_days: i32,
    pub fee_discount_percent: i32,
    pub bookings_per_period: Option<i32>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PlanRow {
    pub fn interval(&self) -> Interval {
        Interval::parse(&self.billing_interval)
    }

    pub fn is_free(&self) -> bool {
        self.price.is_zero()
    }
}

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub id: Uuid,
    pub code: String,
    pub name_ar: String,
    pub name_en: String,
    pub currency: &'static str,
    /// Before VAT.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub vat: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub price_with_vat: Decimal,
    pub interval: Interval,
    pub trial_days: i32,
    pub fee_discount_percent: i32,
    pub bookings_per_period: Option<i32>,
    pub active: bool,
}

impl PlanView {
    pub fn new(row: &PlanRow, vat_rate: Decimal) -> Self {
        let vat = super::money::round_sar(row.price * vat_rate);
        Self {
            id: row.id,
            code: row.code.clone(),
            name_ar: row.name_ar.clone(),
            name_en: row.name_en.clone(),
            currency: "SAR",
            price: row.price,
            vat,
            price_with_vat: row.price + vat,
            interval: row.interval(),
            trial_days: row.trial_days,
            fee_discount_percent: row.fee_discount_percent,
            bookings_per_period: row.bookings_per_period,
            active: row.active,
        }
    }
}

/// A plan as an admin writes it; every field optional so one shape serves create and patch.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub code: Option<String>,
    pub name_ar: Option<String>,
    pub name_en: Option<String>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub price: Option<Decimal>,
    pub interval: Option<Interval>,
    pub trial_days: Option<i32>,
    pub fee_discount_percent: Option<i32>,
    /// `null` is unlimited.
    #[serde(default, deserialize_with = "present")]
    pub bookings_per_period: Option<Option<i32>>,
    pub active: Option<bool>,
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i32>>, D::Error> {
    Option::<i32>::deserialize(d).map(Some)
}

#[derive(Debug, AsChangeset, Insertable, Default)]
#[diesel(table_name = plans)]
pub struct PlanChanges {
    pub code: Option<String>,
    pub name_ar: Option<String>,
    pub name_en: Option<String>,
    pub price: Option<Decimal>,
    pub billing_interval: Option<String>,
    pub trial_days: Option<i32>,
    pub fee_discount_percent: Option<i32>,
    pub bookings_per_period: Option<Option<i32>>,
    pub active: Option<bool>,
}

impl PlanInput {
    /// Checks each given field; `creating` also requires the ones a plan cannot lack.
    pub fn validate(self, creating: bool) -> Result<PlanChanges, ApiError> {
        let mut errors = self.missing_or_fixed(creating);
        errors.extend(self.text_problems());
        errors.extend(self.number_problems());
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(PlanChanges {
            code: self.code,
            name_ar: self.name_ar.map(|n| n.trim().to_owned()),
            name_en: self.name_en.map(|n| n.trim().to_owned()),
            price: self.price.map(|p| p.round_dp(2)),
            billing_interval: self.interval.map(|i| i.as_str().to_owned()),
            trial_days: self.trial_days.or(creating.then_some(0)),
            fee_discount_percent: self.fee_discount_percent.or(creating.then_some(0)),
            bookings_per_period: self.bookings_per_period,
            active: self.active,
        })
    }

    /// A new plan needs its code, names, price and interval; an existing one keeps its code
    /// (customers subscribe by it).
    fn missing_or_fixed(&self, creating: bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if creating {
            for (name, missing) in [
                ("code", self.code.is_none()),
                ("name_ar", self.name_ar.is_none()),
                ("name_en", self.name_en.is_none()),
                ("price", self.price.is_none()),
                ("interval", self.interval.is_none()),
            ] {
                if missing {
                    errors.push(FieldError::new(name, "is required"));
                }
            }
        } else if self.code.is_some() {
            errors.push(FieldError::new("code", "cannot change; create a new plan"));
        }
        errors
    }

    fn text_problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(code) = &self.code {
            let ok = (2..=32).contains(&code.len())
                && code.starts_with(|c: char| c.is_ascii_lowercase())
                && code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !ok {
                errors.push(FieldError::new(
                    "code",
                    "must be 2 to 32 of a-z, 0-9, _ and -, starting with a letter",
                ));
            }
        }
        for (name, value) in [("name_ar", &self.name_ar), ("name_en", &self.name_en)] {
            if let Some(Err(reason)) = value.as_deref().map(|v| text::name(v, 100)) {
                errors.push(FieldError::new(name, reason));
            }
        }
        errors
    }

    fn number_problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(price) = self.price {
            // The free tier is the seeded `basic` plan; a plan made here costs something.
            if price <= Decimal::ZERO || price > Decimal::from(1_000_000) {
                errors.push(FieldError::new(
                    "price",
                    "must be more than 0 and at most 1000000 SAR",
                ));
            } else if price.normalize().scale() > 2 {
                errors.push(FieldError::new("price", "must have at most 2 decimals"));
            }
        }
        if self.trial_days.is_some_and(|d| !(0..=365).contains(&d)) {
            errors.push(FieldError::new("trial_days", "must be between 0 and 365"));
        }
        if self
            .fee_discount_percent
            .is_some_and(|p| !(0..=100).contains(&p))
        {
            errors.push(FieldError::new(
                "fee_discount_percent",
                "must be between 0 and 100",
            ));
        }
        if self
            .bookings_per_period
            .is_some_and(|n| n.is_some_and(|n| !(1..=100_000).contains(&n)))
        {
            errors.push(FieldError::new(
                "bookings_per_period",
                "must be between 1 and 100000, or null for unlimited",
            ));
        }
        errors
    }
}

pub fn list(conn: &mut PgConnection, include_inactive: bool) -> QueryResult<Vec<PlanRow>> {
    let mut query = plans::table.into_boxed();
    if !include_inactive {
        query = query.filter(plans::active.eq(true));
    }
    query
        .order((plans::price, plans::code))
        .select(PlanRow::as_select())
        .load(conn)
}

pub fn find_by_code(conn: &mut PgConnection, code: &str) -> QueryResult<PlanRow> {
    plans::table
        .filter(plans::code.eq(code))
        .select(PlanRow::as_select())
        .first(conn)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<PlanRow> {
    plans::table
        .find(id)
        .select(PlanRow::as_select())
        .first(conn)
}

pub fn insert(conn: &mut PgConnection, new: &PlanChanges) -> QueryResult<PlanRow> {
    diesel::insert_into(plans::table)
        .values(new)
        .returning(PlanRow::as_returning())
        .get_result(conn)
}

pub fn update(conn: &mut PgConnection, code: &str, changes: &PlanChanges) -> QueryResult<PlanRow> {
    if changes.name_ar.is_none()
        && changes.name_en.is_none()
        && changes.price.is_none()
        && changes.billing_interval.is_none()
        && changes.trial_days.is_none()
        && changes.fee_discount_percent.is_none()
        && changes.bookings_per_period.is_none()
        && changes.active.is_none()
    {
        return find_by_code(conn, code);
    }
    diesel::update(plans::table.filter(plans::code.eq(code)))
        .set(changes)
        .returning(PlanRow::as_returning())
        .get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_end_a_month_or_a_year_later_clamping_month_ends() {
        let jan31 = Utc.with_ymd_and_hms(2027, 1, 31, 10, 0, 0).unwrap();
        assert_eq!(
            Interval::Month.after(jan31),
            Utc.with_ymd_and_hms(2027, 2, 28, 10, 0, 0).unwrap()
        );
        assert_eq!(
            Interval::Year.after(jan31),
            Utc.with_ymd_and_hms(2028, 1, 31, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn plan_prices_must_be_positive_with_two_decimals() {
        let bad = |price: &str| {
            let input = PlanInput {
                code: Some("gold".into()),
                name_ar: Some("ذهبي".into()),
                name_en: Some("Gold".into()),
                price: Some(price.parse().unwrap()),
                interval: Some(Interval::Month),
                ..Default::default()
            };
            match input.validate(true) {
                Err(ApiError::Validation(errors)) => errors[0].field.clone(),
                other => format!("{other:?}"),
            }
        };
        assert_eq!(bad("0"), "price");
        assert_eq!(bad("-5.00"), "price");
        assert_eq!(bad("9.999"), "price");
        assert!(bad("9.990").contains("Ok"), "trailing zeros are fine");
    }
}
