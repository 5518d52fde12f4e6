//! Saved cards: how a customer pays. A card number passes through to the gateway and is
//! never stored; we keep the gateway's id, the brand, the last four digits, the expiry and
//! the gateway's fingerprint of the number.
//!
//! A card typed into a payment gets a row at once (the payment names it), but is *saved*
//! (listed, and payable by its id) only when a payment with it succeeds or a subscription
//! keeps it for its renewals, and then once per card: a customer who types the same card
//! again pays with the copy already saved. Declined payments and payments that lost a race
//! leave their row unsaved and out of sight.

use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::gateway::{CardInput, Gateway, GatewayError, PaymentGateway};
use crate::customers::store::CustomerRow;
use crate::db::{PgPool, run_blocking};
use crate::domain::OFFICE_TIMEZONE;
use crate::error::{ApiError, FieldError};
use crate::schema::{customers, payment_methods, payments, subscriptions};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payment_methods, check_for_backend(diesel::pg::Pg))]
pub struct MethodRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub gateway: String,
    pub gateway_ref: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i32,
    pub exp_year: i32,
    pub created_at: DateTime<Utc>,
    pub fingerprint: Option<String>,
    /// When it was saved; `None` while only a payment that has not succeeded used it.
    pub saved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct MethodView {
    pub id: Uuid,
    pub brand: String,
    pub last4: String,
    pub exp_month: i32,
    pub exp_year: i32,
}

impl From<&MethodRow> for MethodView {
    fn from(row: &MethodRow) -> Self {
        Self {
            id: row.id,
            brand: row.brand.clone(),
            last4: row.last4.clone(),
            exp_month: row.exp_month,
            exp_year: row.exp_year,
        }
    }
}

/// The card a payment or subscription names, as a client sees it (none when it names none).
pub fn card_view(conn: &mut PgConnection, id: Option<Uuid>) -> QueryResult<Option<MethodView>> {
    let Some(id) = id else { return Ok(None) };
    Ok(payment_methods::table
        .find(id)
        .select(MethodRow::as_select())
        .first(conn)
        .optional()?
        .as_ref()
        .map(MethodView::from))
}

/// A card as typed into the form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardFields {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

/// How a request says what to pay with: exactly one of a saved card, a new card, or a
/// token from the gateway's own browser library.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodChoice {
    pub payment_method_id: Option<Uuid>,
    pub card: Option<CardFields>,
    pub token: Option<String>,
}

/// A choice that passed validation.
#[derive(Debug, Clone)]
pub enum Method {
    Saved(Uuid),
    New(CardInput),
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if !i.is_multiple_of(2) {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl MethodChoice {
    /// Checks the choice; `prefix` is where it sits in the body (for field names). `now`
    /// decides whether a card has expired (at the end of its expiry month, Riyadh time).
    pub fn validate(
        self,
        prefix: &str,
        now: DateTime<Utc>,
        errors: &mut Vec<FieldError>,
    ) -> Option<Method> {
        let given = [
            self.payment_method_id.is_some(),
            self.card.is_some(),
            self.token.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            errors.push(FieldError::new(
                format!("{prefix}payment_method_id"),
                "give exactly one of payment_method_id, card or token",
            ));
            return None;
        }
        if let Some(id) = self.payment_method_id {
            return Some(Method::Saved(id));
        }
        if let Some(token) = self.token {
            let ok = token.len() <= 255 && token.starts_with("pm_") && token.is_ascii();
            if !ok {
                errors.push(FieldError::new(
                    format!("{prefix}token"),
                    "must be a gateway token (pm_…)",
                ));
                return None;
            }
            return Some(Method::New(CardInput::Token(token)));
        }
        let card = self.card?.validate(prefix, now, errors)?;
        Some(Method::New(card))
    }
}

impl CardFields {
    /// Checks a typed card: every problem is named, and an expiry in the past only once
    /// the rest is well formed.
    fn validate(
        self,
        prefix: &str,
        now: DateTime<Utc>,
        errors: &mut Vec<FieldError>,
    ) -> Option<CardInput> {
        let field = |name: &str| format!("{prefix}card.{name}");
        let before = errors.len();
        let number: String = self
            .number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        if !(12..=19).contains(&number.len())
            || !number.bytes().all(|b| b.is_ascii_digit())
            || !luhn_valid(&number)
        {
            errors.push(FieldError::new(
                field("number"),
                "is not a valid card number",
            ));
        }
        if !(1..=12).contains(&self.exp_month) {
            errors.push(FieldError::new(field("exp_month"), "must be 1 to 12"));
        }
        if !(2000..=2100).contains(&self.exp_year) {
            errors.push(FieldError::new(
                field("exp_year"),
                "must be a four-digit year",
            ));
        }
        let today = now.with_timezone(&OFFICE_TIMEZONE).date_naive();
        if errors.len() == before
            && (self.exp_year as i32, self.exp_month) < (today.year(), today.month())
        {
            errors.push(FieldError::new(
                field("exp_year"),
                format!(
                    "the card expired at the end of {:02}/{}",
                    self.exp_month, self.exp_year
                ),
            ));
        }
        if !(3..=4).contains(&self.cvc.len()) || !self.cvc.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(FieldError::new(field("cvc"), "must be 3 or 4 digits"));
        }
        (errors.len() == before).then_some(CardInput::Card {
            number,
            exp_month: self.exp_month,
            exp_year: self.exp_year,
            cvc: self.cvc,
        })
    }
}

pub(super) fn gateway_error(error: GatewayError) -> ApiError {
    match error {
        GatewayError::CardRefused { code, message } => ApiError::PaymentDeclined {
            reason: code,
            message,
        },
        GatewayError::Rejected(reason) => ApiError::Validation(vec![FieldError::new(
            "payment_method",
            format!("the payment gateway refused it: {reason}"),
        )]),
        GatewayError::Unavailable(reason) => {
            ApiError::Unavailable(anyhow::anyhow!("payment gateway: {reason}"))
        }
    }
}

/// The card to charge for `customer`: a saved one of theirs, or a new one, given to the
/// gateway now (the customer's gateway record is made on first use) and saved by
/// [`keep_card`] once it has paid.
pub async fn resolve(
    pool: &PgPool,
    gateway: &Gateway,
    customer: &CustomerRow,
    method: Method,
) -> Result<MethodRow, ApiError> {
    let card = match method {
        Method::Saved(id) => {
            let customer_id = customer.id;
            return run_blocking(pool, move |conn| {
                payment_methods::table
                    .filter(payment_methods::id.eq(id))
                    .filter(payment_methods::customer_id.eq(customer_id))
                    .filter(payment_methods::saved_at.is_not_null())
                    .select(MethodRow::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| {
                        ApiError::Validation(vec![FieldError::new(
                            "payment_method_id",
                            "is not one of this customer's saved cards",
                        )])
                    })
            })
            .await;
        }
        Method::New(card) => card,
    };
    let customer_ref = gateway_customer(pool, gateway, customer).await?;
    let saved = gateway
        .save_card(&customer_ref, &card)
        .await
        .map_err(gateway_error)?;
    let customer_id = customer.id;
    let gateway_name = gateway.name();
    run_blocking(pool, move |conn| {
        Ok(diesel::insert_into(payment_methods::table)
            .values((
                payment_methods::customer_id.eq(customer_id),
                payment_methods::gateway.eq(gateway_name),
                payment_methods::gateway_ref.eq(&saved.gateway_ref),
                payment_methods::brand.eq(&saved.brand),
                payment_methods::last4.eq(&saved.last4),
                payment_methods::exp_month.eq(saved.exp_month as i32),
                payment_methods::exp_year.eq(saved.exp_year as i32),
                payment_methods::fingerprint.eq(&saved.fingerprint),
            ))
            .returning(MethodRow::as_returning())
            .get_result(conn)?)
    })
    .await
}

/// The customer's id at the gateway, created (and kept) on first use.
async fn gateway_customer(
    pool: &PgPool,
    gateway: &Gateway,
    customer: &CustomerRow,
) -> Result<String, ApiError> {
    let id = customer.id;
    let name = gateway.name();
    let existing = run_blocking(pool, move |conn| {
        Ok(customers::table
            .find(id)
            .filter(customers::gateway.eq(name))
            .select(customers::gateway_customer_ref.assume_not_null())
            .first::<String>(conn)
            .optional()?)
    })
    .await?;
    if let Some(existing) = existing {
        return Ok(existing);
    }
    let created = gateway
        .create_customer(&customer.full_name, customer.email.as_deref())
        .await
        .map_err(gateway_error)?;
    // Two first payments at once: the first write wins, the other gateway record is unused.
    run_blocking(pool, move |conn| {
        diesel::update(customers::table.find(id))
            .filter(customers::gateway.is_null().or(customers::gateway.ne(name)))
            .set((
                customers::gateway.eq(name),
                customers::gateway_customer_ref.eq(&created),
            ))
            .execute(conn)?;
        Ok(customers::table
            .find(id)
            .select(customers::gateway_customer_ref.assume_not_null())
            .first::<String>(conn)?)
    })
    .await
}

/// Saves the card a payment succeeded with, or a subscription keeps for its renewals
/// (`None`: no card, nothing to do). When the customer already has this card saved (the
/// same fingerprint), whatever names the new copy (its payment, a subscription just made
/// with it) moves to the saved one, and the copy stays unsaved. Returns the saved card.
pub fn keep_card(
    conn: &mut PgConnection,
    method_id: Option<Uuid>,
) -> Result<Option<Uuid>, ApiError> {
    let Some(method_id) = method_id else {
        return Ok(None);
    };
    let card: MethodRow = payment_methods::table
        .find(method_id)
        .select(MethodRow::as_select())
        .first(conn)?;
    if card.saved_at.is_some() {
        return Ok(Some(card.id));
    }
    if let Some(saved) = saved_copy(conn, &card)? {
        move_to(conn, card.id, saved)?;
        return Ok(Some(saved));
    }
    // Two payments with the same new card can succeed at once: the unique index lets one
    // save it, the other waits for it and then finds its copy. The savepoint keeps the
    // caller's transaction usable after that refusal.
    let saving = conn.transaction(|conn| {
        diesel::update(payment_methods::table.find(card.id))
            .set(payment_methods::saved_at.eq(diesel::dsl::now))
            .execute(conn)
    });
    match saving {
        Ok(_) => Ok(Some(card.id)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            let saved = saved_copy(conn, &card)?.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "a saved card vanished while saving its copy"
                ))
            })?;
            move_to(conn, card.id, saved)?;
            Ok(Some(saved))
        }
        Err(other) => Err(other.into()),
    }
}

/// The customer's saved copy of this card, by its fingerprint.
fn saved_copy(conn: &mut PgConnection, card: &MethodRow) -> QueryResult<Option<Uuid>> {
    let Some(fingerprint) = card.fingerprint.as_deref() else {
        return Ok(None);
    };
    payment_methods::table
        .filter(payment_methods::customer_id.eq(card.customer_id))
        .filter(payment_methods::gateway.eq(&card.gateway))
        .filter(payment_methods::fingerprint.eq(fingerprint))
        .filter(payment_methods::saved_at.is_not_null())
        .select(payment_methods::id)
        .first(conn)
        .optional()
}

/// Points what names the card `from` at the card `to`.
fn move_to(conn: &mut PgConnection, from: Uuid, to: Uuid) -> QueryResult<()> {
    diesel::update(payments::table.filter(payments::payment_method_id.eq(from)))
        .set(payments::payment_method_id.eq(to))
        .execute(conn)?;
    diesel::update(subscriptions::table.filter(subscriptions::payment_method_id.eq(from)))
        .set(subscriptions::payment_method_id.eq(to))
        .execute(conn)?;
    Ok(())
}

/// The customer's saved cards, newest first.
/// A card by id (one a payment used, to charge it again).
pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<MethodRow> {
    payment_methods::table
        .find(id)
        .select(MethodRow::as_select())
        .first(conn)
}

pub fn list(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<Vec<MethodRow>> {
    payment_methods::table
        .filter(payment_methods::customer_id.eq(customer_id))
        .filter(payment_methods::saved_at.is_not_null())
        .order(payment_methods::created_at.desc())
        .select(MethodRow::as_select())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn card(number: &str, month: u32, year: u32) -> MethodChoice {
        MethodChoice {
            card: Some(CardFields {
                number: number.into(),
                exp_month: month,
                exp_year: year,
                cvc: "123".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn cards_are_checked_before_any_gateway_sees_them() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let mut errors = Vec::new();
        assert!(
            card("4242 4242 4242 4242", 11, 2026)
                .validate("", now, &mut errors)
                .is_some()
        );
        assert!(errors.is_empty());
        assert!(
            card("4242424242424241", 12, 2030)
                .validate("", now, &mut errors)
                .is_none()
        );
        assert_eq!(errors.pop().unwrap().field, "card.number");
        assert!(
            card("4242424242424242", 10, 2026)
                .validate("x.", now, &mut errors)
                .is_none()
        );
        let expired = errors.pop().unwrap();
        assert_eq!(expired.field, "x.card.exp_year");
        assert!(expired.message.contains("10/2026"), "{}", expired.message);
        assert!(
            MethodChoice::default()
                .validate("", now, &mut errors)
                .is_none()
        );
        assert_eq!(errors.pop().unwrap().field, "payment_method_id");
    }
}
