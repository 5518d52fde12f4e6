//! `/v1/search` and `/v1/search/options` (anyone: what is free, and what a search form can
//! offer) and `/v1/offers/{offer_id}` (an offer read back from its signed id).

use super::model::{AvailabilityQuery, ProviderKind, SlotQuery, StayQuery};
use super::offer::OfferIdError;
use super::places;
use super::result_view::ResultView;
use super::search::SearchRequest;
use super::search::{Searcher, Shopper};
use super::service::{self};
use crate::auth::Role;
use crate::auth::caller::Caller;
use crate::config::SearchSettings;
use crate::db::PgPool;
use crate::db::run_blocking;
use crate::domain::occupancy::Occupancy;
use crate::error::ApiError;
use crate::error::FieldError;
use crate::http::query::QueryParams;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

/// Reads and checks the search parameters; every problem is named. Also the client staff
/// search for (`customer_id`), whose plan prices the offers.
fn parse_search(
    req: &HttpRequest,
    limits: &SearchSettings,
) -> Result<(SearchRequest, Option<Uuid>, ResultView), ApiError> {
    let mut params = QueryParams::from_request(req)?;
    let customer_id = params.parsed::<Uuid>("customer_id", "a customer id");
    let kind = params.required::<ProviderKind>("kind", "hotel or hospital");
    let city = params.required_slug("city");
    let limit = usize::try_from(params.limit()).unwrap_or(50);
    let today = Utc::now().date_naive();
    let availability = match kind {
        Some(ProviderKind::Hotel) => stay_query(&mut params, limits, today),
        Some(ProviderKind::Hospital) => slot_query(&mut params, limits, today),
        None => None,
    };
    let view = ResultView::parse(&mut params);
    params.finish()?;
    match (kind, city, availability) {
        (Some(kind), Some(city), Some(availability)) => Ok((
            SearchRequest {
                kind,
                city,
                availability,
                limit,
            },
            customer_id,
            view,
        )),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "search parameters passed checks but did not parse"
        ))),
    }
}

/// A search's first day (`check_in`, `from`) is today or later, within the horizon.
pub(crate) fn check_first_day(
    params: &mut QueryParams,
    name: &str,
    day: Option<NaiveDate>,
    today: NaiveDate,
    limits: &SearchSettings,
) {
    let horizon = today + chrono::Duration::days(i64::from(limits.horizon_days));
    if let Some(day) = day {
        if day < today {
            params.error(name, "must not be in the past");
        } else if day > horizon {
            params.error(name, format!("must be within {} days", limits.horizon_days));
        }
    }
}

/// A hotel search: the stay's dates, guests and rooms, each within the limits. Problems
/// go to `params`; `None` when a required one is missing.
fn stay_query(
    params: &mut QueryParams,
    limits: &SearchSettings,
    today: NaiveDate,
) -> Option<AvailabilityQuery> {
    let check_in = params.required_date("check_in");
    let check_out = params.required_date("check_out");
    // Who stays in each room (`occupancy`, `children`), or as many `guests` over the rooms.
    let occupancy = params.text("occupancy").map(str::to_owned);
    let children = params.text("children").map(str::to_owned);
    let guests = if occupancy.is_some() {
        params.parsed::<u32>("guests", "a whole number")
    } else {
        params.required::<u32>("guests", "a whole number")
    };
    let rooms = params.parsed::<u32>("rooms", "a whole number");
    check_first_day(params, "check_in", check_in, today, limits);
    if let (Some(check_in), Some(check_out)) = (check_in, check_out) {
        let nights = (check_out - check_in).num_days();
        if nights < 1 {
            params.error("check_out", "must be after check_in");
        } else if nights > i64::from(limits.max_stay_nights) {
            params.error(
                "check_out",
                format!("a stay is at most {} nights", limits.max_stay_nights),
            );
        }
    }
    let guests_valid = guests.is_some_and(|g| (1..=limits.max_guests).contains(&g));
    if guests.is_some() && !guests_valid {
        params.error(
            "guests",
            format!("must be between 1 and {}", limits.max_guests),
        );
    }
    let room_count = rooms.unwrap_or(1);
    if room_count == 0 || room_count > limits.max_rooms {
        params.error(
            "rooms",
            format!("must be between 1 and {}", limits.max_rooms),
        );
        return None;
    }
    if occupancy.is_none() && guests_valid && guests.is_some_and(|g| room_count > g) {
        params.error("rooms", "cannot exceed guests");
        return None;
    }
    let occupancy = match Occupancy::parse(
        rooms,
        occupancy.as_deref(),
        children.as_deref(),
        guests.filter(|_| guests_valid),
    ) {
        Ok(occupancy) => occupancy,
        Err(problem) => {
            if guests_valid || occupancy.is_some() {
                params.error(problem.field, problem.message);
            }
            return None;
        }
    };
    let everyone = occupancy.guests();
    if everyone > limits.max_guests {
        params.error(
            "occupancy",
            format!("at most {} guests in all", limits.max_guests),
        );
    }
    if occupancy.rooms() > limits.max_rooms {
        params.error("occupancy", format!("at most {} rooms", limits.max_rooms));
    }
    Some(AvailabilityQuery::Stay(StayQuery {
        check_in: check_in?,
        check_out: check_out?,
        guests: everyone,
        rooms: occupancy.rooms(),
        occupancy,
    }))
}

/// A hospital search: a window of days from `from` to `to`, optionally one specialty.
/// Problems go to `params`; `None` when a date is missing.
pub(crate) fn slot_query(
    params: &mut QueryParams,
    limits: &SearchSettings,
    today: NaiveDate,
) -> Option<AvailabilityQuery> {
    let from = params.required_date("from");
    let to = params.required_date("to");
    let specialty = params.term("specialty");
    check_first_day(params, "from", from, today, limits);
    if let (Some(from), Some(to)) = (from, to) {
        let days = (to - from).num_days();
        if days < 0 {
            params.error("to", "must not be before from");
        } else if days >= i64::from(limits.max_window_days) {
            params.error(
                "to",
                format!("a window is at most {} days", limits.max_window_days),
            );
        }
    }
    Some(AvailabilityQuery::Slots(SlotQuery {
        specialty,
        from: from?,
        to: to?,
    }))
}

pub(super) async fn search_get(
    req: HttpRequest,
    search_limits: web::Data<SearchSettings>,
    searcher: web::Data<Searcher>,
) -> Result<HttpResponse, ApiError> {
    let (request, customer_id, view) = parse_search(&req, &search_limits)?;
    let fee_discount = fee_discount_for(&req, &searcher, customer_id).await?;
    let body = searcher.answer(request, fee_discount, &view).await?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// Whose plan prices a search: anyone signed out and staff on their own pay the full fee; a
/// signed-in customer gets their plan's discount, staff their client's (`customer_id`). A
/// token that is sent must be good (401 otherwise), so an expired one is renewed rather than
/// shown full prices.
async fn fee_discount_for(
    req: &HttpRequest,
    searcher: &Searcher,
    customer_id: Option<Uuid>,
) -> Result<i32, ApiError> {
    let caller = if req.headers().contains_key(header::AUTHORIZATION) {
        Some(Caller::extract(req).await?)
    } else {
        None
    };
    let shopper = match (caller, customer_id) {
        (Some(caller), Some(id)) if matches!(caller.role, Role::Agent | Role::Admin) => {
            Shopper::Customer(id)
        }
        (_, Some(_)) => return Err(ApiError::Forbidden),
        (Some(caller), None) if caller.role == Role::Customer => Shopper::User(caller.user_id),
        (_, None) => return Ok(0),
    };
    let plans = searcher.plans.clone();
    let found = run_blocking(&searcher.pool, move |conn| plans.percent(conn, shopper)).await?;
    match (found, shopper) {
        (Some(percent), _) => Ok(percent),
        (None, Shopper::Customer(_)) => Err(ApiError::InvalidQuery(vec![FieldError::new(
            "customer_id",
            "no such customer",
        )])),
        // A customer's first booking makes their customer row: no plan yet.
        (None, Shopper::User(_)) => Ok(0),
    }
}

/// What a search form can offer: each kind's cities with an active provider, by name in
/// both languages with the landmark distances are measured to, and the specialties of our
/// own clinics, in all and per city (an outside hospital's are matched by name when searched).
pub(super) async fn search_options(pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    let options = service::search_options(&pool).await?;
    let city = |slug: &String, kind: ProviderKind| {
        let named = options.named.iter().find(|city| &city.slug == slug);
        // A city nobody named yet reads as its slug, in both languages.
        let fallback = places::name_from_slug(slug);
        let mut shown = json!({
            "slug": slug,
            "name_ar": named.map_or(&fallback, |city| &city.name_ar),
            "name_en": named.map_or(&fallback, |city| &city.name_en),
            "landmark_ar": named.and_then(|city| city.landmark_ar.as_ref()),
            "landmark_en": named.and_then(|city| city.landmark_en.as_ref()),
        });
        if kind == ProviderKind::Hospital {
            shown["specialties"] = options
                .specialties
                .iter()
                .filter(|(of, _)| of == slug)
                .map(|(_, specialty)| specialty.as_str())
                .collect();
        }
        shown
    };
    let cities_of = |kind: ProviderKind| -> Vec<serde_json::Value> {
        options
            .cities
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, slug)| city(slug, kind))
            .collect()
    };
    let mut specialties: Vec<&str> = options
        .specialties
        .iter()
        .map(|(_, specialty)| specialty.as_str())
        .collect();
    specialties.sort_unstable();
    specialties.dedup();
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "public, max-age=60"))
        .json(json!({
            "hotel": { "cities": cities_of(ProviderKind::Hotel) },
            "hospital": { "cities": cities_of(ProviderKind::Hospital), "specialties": specialties },
        })))
}

/// Decodes an offer id, so a client can show an offer again or learn it went stale.
pub(super) async fn offers_get(
    searcher: web::Data<Searcher>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match searcher.signer.verify(&path.into_inner(), Utc::now()) {
        Ok(claims) => Ok(HttpResponse::Ok().json(json!({
            "provider_id": claims.provider_id,
            "unit_code": claims.unit_code,
            "start": claims.start,
            "end": claims.end,
            "quantity": claims.quantity,
            "guests": claims.guests,
            "total": claims.total.to_string(),
            "currency": "SAR",
            "expires_at": chrono::DateTime::from_timestamp(claims.expires_at, 0),
        }))),
        Err(OfferIdError::Invalid) => Err(ApiError::OfferInvalid),
        Err(OfferIdError::Expired) => Err(ApiError::OfferExpired),
    }
}
