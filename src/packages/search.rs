//! `GET /v1/search/packages`: each free clinic slot in a city, paired with hotel stays in
//! the same city covering the nights around it, priced together: the providers' prices as
//! they are, and ONE service fee for the package with VAT on the fee only. The clinic offer
//! keeps its fee; the stay's offer id is signed again without one, so a package holds both
//! without trusting the client (and the stay's id alone, held at full fees, answers 409
//! `booking.offer_changed`).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::HttpRequest;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::config::{PackageSettings, SearchSettings};
use crate::domain::OFFICE_TIMEZONE;
use crate::domain::money::round_sar;
use crate::domain::occupancy::Occupancy;
use crate::error::ApiError;
use crate::http::query::QueryParams;
use crate::providers::model::{AvailabilityQuery, ProviderKind, StayQuery};
use crate::providers::result_view::ResultView;
use crate::providers::search::{SearchRequest, Searcher};
use crate::providers::search_routes::slot_query;

/// A package search as asked.
#[derive(Debug, Clone)]
pub struct PackageQuery {
    pub city: String,
    pub slots: AvailabilityQuery,
    pub guests: u32,
    pub nights_before: u32,
    pub nights_after: u32,
}

/// Reads and checks the parameters; every problem is named (400 `query.invalid`).
pub fn parse(
    req: &HttpRequest,
    limits: &SearchSettings,
    settings: &PackageSettings,
) -> Result<PackageQuery, ApiError> {
    let mut params = QueryParams::from_request(req)?;
    let city = params.required_slug("city");
    let today = Utc::now().with_timezone(&OFFICE_TIMEZONE).date_naive();
    let slots = slot_query(&mut params, limits, today);
    let guests = params
        .parsed::<u32>("guests", "a whole number")
        .unwrap_or(1);
    if !(1..=limits.max_guests).contains(&guests) {
        params.error(
            "guests",
            format!("must be between 1 and {}", limits.max_guests),
        );
    }
    let nights = |name: &str, params: &mut QueryParams| {
        let value = params.parsed::<u32>(name, "a whole number").unwrap_or(1);
        if value > settings.max_nights_around {
            params.error(
                name,
                format!("must be between 0 and {}", settings.max_nights_around),
            );
        }
        value
    };
    let nights_before = nights("nights_before", &mut params);
    let nights_after = nights("nights_after", &mut params);
    if nights_before + nights_after == 0 {
        params.error("nights_after", "a stay is at least one night");
    }
    params.finish()?;
    match (city, slots) {
        (Some(city), Some(slots)) => Ok(PackageQuery {
            city,
            slots,
            guests,
            nights_before,
            nights_after,
        }),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "package search parameters passed checks but did not parse"
        ))),
    }
}

/// The nights a package's stay covers around an appointment starting at `start`: from
/// `nights_before` nights before its day (never before today) to `nights_after` after it.
pub fn stay_nights(
    start: DateTime<Utc>,
    timezone: chrono_tz::Tz,
    query: &PackageQuery,
    today: NaiveDate,
) -> (NaiveDate, NaiveDate) {
    let day = start.with_timezone(&timezone).date_naive();
    let check_in = (day - chrono::Duration::days(i64::from(query.nights_before))).max(today);
    let check_out = (day + chrono::Duration::days(i64::from(query.nights_after)))
        .max(check_in + chrono::Duration::days(1));
    (check_in, check_out)
}

/// The answer: `{"packages": […], "providers": […], "truncated": bool}`.
pub async fn search(
    searcher: &Arc<Searcher>,
    query: PackageQuery,
    settings: &PackageSettings,
) -> Result<Value, ApiError> {
    let view = ResultView::default();
    let max_slots = usize::try_from(settings.max_slots).unwrap_or(10);
    let clinics = searcher
        .answer(
            SearchRequest {
                kind: ProviderKind::Hospital,
                city: query.city.clone(),
                availability: query.slots.clone(),
                limit: max_slots,
            },
            0,
            &view,
        )
        .await?;
    let clinics: Value = serde_json::from_slice(&clinics).map_err(ApiError::internal)?;
    let today = Utc::now().with_timezone(&OFFICE_TIMEZONE).date_naive();
    let slots: Vec<(Value, (NaiveDate, NaiveDate))> = clinics["offers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|offer| {
            let start: DateTime<Utc> = serde_json::from_value(offer["start"].clone()).ok()?;
            let timezone = offer["provider"]["timezone"]
                .as_str()
                .and_then(|tz| tz.parse().ok())
                .unwrap_or(OFFICE_TIMEZONE);
            Some((offer.clone(), stay_nights(start, timezone, &query, today)))
        })
        .collect();

    // One hotel search per distinct stay, side by side (each through the answer cache).
    let mut stays: BTreeMap<(NaiveDate, NaiveDate), Value> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    let mut wanted: Vec<(NaiveDate, NaiveDate)> = slots.iter().map(|(_, n)| *n).collect();
    wanted.sort_unstable();
    wanted.dedup();
    for (check_in, check_out) in wanted {
        let searcher = searcher.clone();
        let request = SearchRequest {
            kind: ProviderKind::Hotel,
            city: query.city.clone(),
            availability: AvailabilityQuery::Stay(StayQuery {
                check_in,
                check_out,
                guests: query.guests,
                rooms: 1,
                occupancy: Occupancy::spread(query.guests, 1),
            }),
            limit: usize::try_from(settings.stays_per_slot).unwrap_or(3),
        };
        tasks.spawn(async move {
            let body = searcher.answer(request, 0, &ResultView::default()).await;
            ((check_in, check_out), body)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (nights, body) = joined.map_err(ApiError::internal)?;
        let answer: Value = serde_json::from_slice(&body?).map_err(ApiError::internal)?;
        stays.insert(nights, answer);
    }

    let mut packages = Vec::new();
    for (clinic, nights) in &slots {
        let Some(found) = stays.get(nights) else {
            continue;
        };
        for stay in found["offers"].as_array().into_iter().flatten() {
            if let Some(package) = pair(searcher, clinic, stay, *nights) {
                packages.push(package);
            }
        }
    }
    let mut providers: Vec<Value> = clinics["providers"].as_array().cloned().unwrap_or_default();
    for answer in stays.values() {
        for status in answer["providers"].as_array().into_iter().flatten() {
            if !providers.iter().any(|p| p["id"] == status["id"]) {
                providers.push(status.clone());
            }
        }
    }
    let mut answer = json!({
        "packages": packages,
        "providers": providers,
        "truncated": clinics["truncated"].as_bool().unwrap_or(false),
    });
    if let Some(hints) = clinics.get("hints").filter(|_| slots.is_empty()) {
        answer["hints"] = hints.clone();
    }
    Ok(answer)
}

fn amount(value: &Value) -> Option<Decimal> {
    value.as_str()?.parse().ok()
}

/// One package: the clinic offer as searched, the stay signed again without a fee, and the
/// two priced together.
fn pair(
    searcher: &Searcher,
    clinic: &Value,
    stay: &Value,
    (check_in, check_out): (NaiveDate, NaiveDate),
) -> Option<Value> {
    let now = Utc::now();
    let clinic_claims = searcher
        .signer
        .verify(clinic["offer_id"].as_str()?, now)
        .ok()?;
    let mut stay_claims = searcher
        .signer
        .verify(stay["offer_id"].as_str()?, now)
        .ok()?;
    let fee_free = searcher.fees.without_fee();
    let stay_price = fee_free.quote(stay_claims.provider_price);
    stay_claims.total = stay_price.total();
    stay_claims.fee_discount = 0;
    stay_claims.expires_at = stay_claims.expires_at.min(clinic_claims.expires_at);
    let stay_prepaid = stay["provider"]["prepaid"].as_bool().unwrap_or(false);
    let (stay_due_now, stay_due_at_provider) = stay_price.split(stay_prepaid);
    let mut stay = stay.clone();
    stay["offer_id"] = searcher.signer.sign(&stay_claims).into();
    stay["price"] = serde_json::to_value(stay_price).ok()?;
    stay["due_now"] = stay_due_now.to_string().into();
    stay["due_at_provider"] = stay_due_at_provider.to_string().into();
    // One fee for the two, VAT on the fee only: the clinic offer's own quote plus the stay.
    let price = searcher
        .fees
        .quote(clinic_claims.provider_price + stay_claims.provider_price);
    let due_now = round_sar(amount(&clinic["due_now"])? + stay_due_now);
    let due_at_provider = round_sar(amount(&clinic["due_at_provider"])? + stay_due_at_provider);
    let expires_at = DateTime::<Utc>::from_timestamp(stay_claims.expires_at, 0)?;
    Some(json!({
        "appointment": clinic,
        "stay": stay,
        "check_in": check_in,
        "check_out": check_out,
        "nights": (check_out - check_in).num_days(),
        "price": price,
        "due_now": due_now.to_string(),
        "due_at_provider": due_at_provider.to_string(),
        "expires_at": expires_at,
    }))
}
