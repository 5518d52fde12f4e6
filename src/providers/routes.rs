//! `/v1/providers…` (admins manage providers, units and local availability),
//! `/v1/search` (anyone) and `/v1/offers/{offer_id}`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, NaiveTime, Utc, Weekday};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use uuid::Uuid;

use super::local::ClinicHours;
use super::model::{AdapterSettings, AvailabilityQuery, ProviderKind, SlotQuery, StayQuery};
use super::offer::OfferIdError;
use super::search::SearchRequest;
use super::search::Searcher;
use super::service::{self, OpenAvailability, check_adapter_fits, parse_timezone};
use super::store::{NewProviderRow, NewUnitRow, ProviderChanges, ProviderFilter};
use crate::auth::Admin;
use crate::config::SearchSettings;
use crate::db::PgPool;
use crate::error::{ApiError, FieldError};
use crate::http::query::QueryParams;
use crate::http::{Json, RouteTable};
use crate::providers::policy::CancellationPolicy;

pub fn routes(table: &mut RouteTable) {
    table
        .post("/v1/providers", providers_create)
        .get("/v1/providers", providers_list)
        .get("/v1/providers/{provider_id}", providers_get)
        .patch("/v1/providers/{provider_id}", providers_update)
        .post(
            "/v1/providers/{provider_id}/deactivate",
            providers_deactivate,
        )
        .post(
            "/v1/providers/{provider_id}/webhook-secret",
            providers_rotate_secret,
        )
        .post("/v1/providers/{provider_id}/units", units_create)
        .get("/v1/providers/{provider_id}/units", units_list)
        .post(
            "/v1/providers/{provider_id}/units/{unit_id}/availability",
            availability_open,
        )
        .get(
            "/v1/providers/{provider_id}/units/{unit_id}/availability",
            availability_list,
        )
        .post(
            "/v1/providers/{provider_id}/units/{unit_id}/availability/close",
            availability_close,
        )
        .get("/v1/search", search_get)
        .get("/v1/search/options", search_options)
        .get("/v1/offers/{offer_id}", offers_get);
}

fn validation(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn name(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    let trimmed = value.trim().to_owned();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        errors.push(FieldError::new(field, "must be 1 to 200 characters"));
    }
    trimmed
}

/// City and specialty slugs: lower-case latin letters and dashes (`riyadh`, `cardiology`).
fn slug(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    let slug = value.trim().to_lowercase();
    let valid = (2..=50).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    if !valid {
        errors.push(FieldError::new(
            field,
            "must be a lower-case slug such as `riyadh`",
        ));
    }
    slug
}

fn webhook_url(errors: &mut Vec<FieldError>, value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(value.to_owned()),
        _ => {
            errors.push(FieldError::new("webhook_url", "must be an http(s) URL"));
            None
        }
    }
}

/// Refund tiers: each `{hours_before, refund_percent}` with a percentage of 0 to 100.
fn cancellation_policy(
    errors: &mut Vec<FieldError>,
    value: Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    let value = value?;
    match serde_path_to_error::deserialize::<_, CancellationPolicy>(value.clone()) {
        Ok(policy)
            if policy.0.iter().all(|tier| tier.refund_percent <= 100) && policy.0.len() <= 10 =>
        {
            Some(value)
        }
        Ok(_) => {
            errors.push(FieldError::new(
                "cancellation_policy",
                "at most 10 tiers, each refunding 0 to 100 percent",
            ));
            None
        }
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                "cancellation_policy".to_owned()
            } else {
                format!(
                    "cancellation_policy{}",
                    if path.starts_with('[') {
                        path
                    } else {
                        format!(".{path}")
                    }
                )
            };
            errors.push(FieldError::new(field, e.into_inner().to_string()));
            None
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderRequest {
    kind: ProviderKind,
    name_ar: String,
    name_en: String,
    city: String,
    timezone: Option<String>,
    adapter: String,
    #[serde(default)]
    adapter_settings: Option<serde_json::Value>,
    webhook_url: Option<String>,
    cancellation_policy: Option<serde_json::Value>,
    prepaid: Option<bool>,
}

async fn providers_create(
    pool: web::Data<PgPool>,
    _admin: Admin,
    Json(body): Json<CreateProviderRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let name_ar = name(&mut errors, "name_ar", &body.name_ar);
    let name_en = name(&mut errors, "name_en", &body.name_en);
    let city = slug(&mut errors, "city", &body.city);
    let timezone = body.timezone.unwrap_or_else(|| "Asia/Riyadh".into());
    if let Err(e) = parse_timezone(&timezone) {
        errors.push(e);
    }
    let policy = cancellation_policy(&mut errors, body.cancellation_policy);
    let settings = body.adapter_settings.unwrap_or_else(|| json!({}));
    match AdapterSettings::parse(&body.adapter, settings) {
        Ok(adapter) => {
            if let Err(e) = check_adapter_fits(body.kind, &adapter) {
                errors.push(e);
            }
            let webhook_url = webhook_url(&mut errors, body.webhook_url.as_deref());
            validation(errors)?;
            let row = NewProviderRow {
                kind: body.kind,
                name_ar,
                name_en,
                city,
                timezone,
                adapter: adapter.name().into(),
                adapter_settings: adapter.to_stored_json(),
                webhook_url,
                webhook_secret: String::new(),
                cancellation_policy: policy,
                prepaid: body.prepaid,
            };
            let created = service::create_provider(&pool, row).await?;
            Ok(HttpResponse::Created().json(created))
        }
        Err(e) => {
            errors.push(e);
            Err(ApiError::Validation(errors))
        }
    }
}

async fn providers_list(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    let mut params = QueryParams::from_request(&req)?;
    let kind = params.parsed::<ProviderKind>("kind", "hotel or hospital");
    let city = params.text("city").map(str::to_lowercase);
    let active = params.parsed::<bool>("active", "true or false");
    params.finish()?;
    let providers = service::list_providers(&pool, ProviderFilter { kind, city, active }).await?;
    Ok(HttpResponse::Ok().json(json!({ "providers": providers })))
}

async fn providers_get(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let provider = service::get_provider(&pool, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(service::ProviderView::from(provider)))
}

/// `Some(None)` when the field is present and null (clear it), `None` when absent.
fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProviderRequest {
    name_ar: Option<String>,
    name_en: Option<String>,
    city: Option<String>,
    timezone: Option<String>,
    adapter: Option<String>,
    adapter_settings: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "double_option")]
    webhook_url: Option<Option<String>>,
    active: Option<bool>,
    cancellation_policy: Option<serde_json::Value>,
    prepaid: Option<bool>,
}

async fn providers_update(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
    Json(body): Json<UpdateProviderRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let current = service::get_provider(&pool, id).await?;
    let mut errors = Vec::new();
    let mut changes = ProviderChanges {
        name_ar: body.name_ar.map(|v| name(&mut errors, "name_ar", &v)),
        name_en: body.name_en.map(|v| name(&mut errors, "name_en", &v)),
        city: body.city.map(|v| slug(&mut errors, "city", &v)),
        active: body.active,
        prepaid: body.prepaid,
        ..Default::default()
    };
    changes.cancellation_policy = cancellation_policy(&mut errors, body.cancellation_policy);
    if let Some(timezone) = body.timezone {
        if let Err(e) = parse_timezone(&timezone) {
            errors.push(e);
        }
        changes.timezone = Some(timezone);
    }
    if let Some(url) = body.webhook_url {
        changes.webhook_url = Some(url.and_then(|u| webhook_url(&mut errors, Some(&u))));
        changes.webhook_disabled_at = Some(None);
    }
    if body.adapter.is_some() || body.adapter_settings.is_some() {
        let adapter_name = body.adapter.unwrap_or_else(|| current.adapter.clone());
        let settings = body
            .adapter_settings
            .unwrap_or_else(|| current.adapter_settings.clone());
        match AdapterSettings::parse(&adapter_name, settings) {
            Ok(adapter) => {
                if let Err(e) = check_adapter_fits(current.kind, &adapter) {
                    errors.push(e);
                }
                changes.adapter = Some(adapter.name().into());
                changes.adapter_settings = Some(adapter.to_stored_json());
            }
            Err(e) => errors.push(e),
        }
    }
    validation(errors)?;
    let updated = service::update_provider(&pool, id, changes).await?;
    Ok(HttpResponse::Ok().json(updated))
}

async fn providers_deactivate(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let changes = ProviderChanges {
        active: Some(false),
        ..Default::default()
    };
    let updated = service::update_provider(&pool, path.into_inner(), changes).await?;
    Ok(HttpResponse::Ok().json(updated))
}

async fn providers_rotate_secret(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let rotated = service::rotate_webhook_secret(&pool, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(rotated))
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CreateUnitRequest {
    RoomType {
        name_ar: String,
        name_en: String,
        max_guests: i32,
        rooms: i32,
        #[serde(with = "rust_decimal::serde::str")]
        nightly_price: Decimal,
    },
    ClinicService {
        name_ar: String,
        name_en: String,
        specialty: String,
        practitioner: Option<String>,
        slot_minutes: i32,
        #[serde(with = "rust_decimal::serde::str")]
        price: Decimal,
    },
}

fn price(errors: &mut Vec<FieldError>, field: &str, value: Decimal) -> Decimal {
    if value.is_sign_negative() || value.scale() > 2 || value > Decimal::from(1_000_000) {
        errors.push(FieldError::new(
            field,
            "must be an amount in SAR between 0 and 1000000 with at most 2 decimals",
        ));
    }
    value
}

fn in_range(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: i32,
    range: std::ops::RangeInclusive<i32>,
) -> i32 {
    if !range.contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
    value
}

async fn units_create(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
    Json(body): Json<CreateUnitRequest>,
) -> Result<HttpResponse, ApiError> {
    let provider_id = path.into_inner();
    let mut errors = Vec::new();
    let row = match body {
        CreateUnitRequest::RoomType {
            name_ar,
            name_en,
            max_guests,
            rooms,
            nightly_price,
        } => NewUnitRow {
            provider_id,
            kind: "room_type".into(),
            name_ar: name(&mut errors, "name_ar", &name_ar),
            name_en: name(&mut errors, "name_en", &name_en),
            max_guests: Some(in_range(&mut errors, "max_guests", max_guests, 1..=20)),
            rooms: Some(in_range(&mut errors, "rooms", rooms, 1..=10_000)),
            nightly_price: Some(price(&mut errors, "nightly_price", nightly_price)),
            specialty: None,
            practitioner: None,
            slot_minutes: None,
            price: None,
        },
        CreateUnitRequest::ClinicService {
            name_ar,
            name_en,
            specialty,
            practitioner,
            slot_minutes,
            price: fee,
        } => NewUnitRow {
            provider_id,
            kind: "clinic_service".into(),
            name_ar: name(&mut errors, "name_ar", &name_ar),
            name_en: name(&mut errors, "name_en", &name_en),
            max_guests: None,
            rooms: None,
            nightly_price: None,
            specialty: Some(slug(&mut errors, "specialty", &specialty)),
            practitioner: practitioner.map(|p| name(&mut errors, "practitioner", &p)),
            slot_minutes: Some(in_range(&mut errors, "slot_minutes", slot_minutes, 5..=480)),
            price: Some(price(&mut errors, "price", fee)),
        },
    };
    validation(errors)?;
    let unit = service::create_unit(&pool, row).await?;
    Ok(HttpResponse::Created().json(unit))
}

async fn units_list(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let units = service::list_units(&pool, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "units": units })))
}

/// The longest range one availability call may open or list.
const MAX_AVAILABILITY_DAYS: i64 = 366;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAvailabilityRequest {
    from: NaiveDate,
    to: NaiveDate,
    rooms: Option<i32>,
    day_start: Option<String>,
    day_end: Option<String>,
    weekdays: Option<Vec<String>>,
}

fn check_range(errors: &mut Vec<FieldError>, from: NaiveDate, to: NaiveDate) {
    let today = Utc::now().date_naive();
    if from < today.pred_opt().unwrap_or(today) {
        errors.push(FieldError::new("from", "must not be in the past"));
    }
    if to < from {
        errors.push(FieldError::new("to", "must not be before from"));
    } else if (to - from).num_days() > MAX_AVAILABILITY_DAYS {
        errors.push(FieldError::new(
            "to",
            format!("must be within {MAX_AVAILABILITY_DAYS} days of from"),
        ));
    }
}

fn clock_time(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&str>,
    default: NaiveTime,
) -> NaiveTime {
    match value {
        None => default,
        Some(raw) => NaiveTime::parse_from_str(raw, "%H:%M").unwrap_or_else(|_| {
            errors.push(FieldError::new(field, "must be a time such as 09:00"));
            default
        }),
    }
}

async fn availability_open(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<(Uuid, Uuid)>,
    Json(body): Json<OpenAvailabilityRequest>,
) -> Result<HttpResponse, ApiError> {
    let (provider_id, unit_id) = path.into_inner();
    let mut errors = Vec::new();
    check_range(&mut errors, body.from, body.to);
    if let Some(rooms) = body.rooms {
        in_range(&mut errors, "rooms", rooms, 0..=10_000);
    }
    let day_start = clock_time(
        &mut errors,
        "day_start",
        body.day_start.as_deref(),
        NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
    );
    let day_end = clock_time(
        &mut errors,
        "day_end",
        body.day_end.as_deref(),
        NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
    );
    if day_end <= day_start {
        errors.push(FieldError::new("day_end", "must be after day_start"));
    }
    // The Saudi working week by default: Sunday to Thursday.
    let weekdays = match body.weekdays {
        None => vec![
            Weekday::Sun,
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
        ],
        Some(days) => days
            .iter()
            .enumerate()
            .filter_map(|(i, day)| {
                day.parse::<Weekday>()
                    .map_err(|_| {
                        errors.push(FieldError::new(
                            format!("weekdays[{i}]"),
                            "must be a weekday such as sun",
                        ))
                    })
                    .ok()
            })
            .collect(),
    };
    validation(errors)?;
    let open = OpenAvailability {
        from: body.from,
        to: body.to,
        rooms: body.rooms,
        hours: ClinicHours {
            day_start,
            day_end,
            weekdays,
        },
    };
    let written = service::open_availability(&pool, provider_id, unit_id, open).await?;
    Ok(HttpResponse::Ok().json(json!({ "cells_written": written })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseAvailabilityRequest {
    from: NaiveDate,
    /// Inclusive: the last day closed.
    to: NaiveDate,
}

async fn availability_close(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<(Uuid, Uuid)>,
    Json(body): Json<CloseAvailabilityRequest>,
) -> Result<HttpResponse, ApiError> {
    let (provider_id, unit_id) = path.into_inner();
    let mut errors = Vec::new();
    check_range(&mut errors, body.from, body.to);
    validation(errors)?;
    let closed =
        service::close_availability(&pool, provider_id, unit_id, body.from, body.to).await?;
    Ok(HttpResponse::Ok().json(json!({ "cells_closed": closed })))
}

async fn availability_list(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (provider_id, unit_id) = path.into_inner();
    let mut params = QueryParams::from_request(&req)?;
    let from = params.required_date("from");
    let to = params.required_date("to");
    if let (Some(from), Some(to)) = (from, to)
        && (to < from || (to - from).num_days() > MAX_AVAILABILITY_DAYS)
    {
        params.error(
            "to",
            format!("must be from `from` to {MAX_AVAILABILITY_DAYS} days after it"),
        );
    }
    params.finish()?;
    let (Some(from), Some(to)) = (from, to) else {
        // finish() has already reported a missing date; a handler never panics.
        return Err(ApiError::internal(anyhow::anyhow!(
            "dates passed checks but are missing"
        )));
    };
    let cells = service::list_availability(&pool, provider_id, unit_id, from, to).await?;
    Ok(HttpResponse::Ok().json(json!({ "cells": cells })))
}

/// Reads and checks the search parameters; every problem is named.
fn parse_search(req: &HttpRequest, limits: &SearchSettings) -> Result<SearchRequest, ApiError> {
    let mut params = QueryParams::from_request(req)?;
    let kind = params.required::<ProviderKind>("kind", "hotel or hospital");
    let city = params.required_text("city").map(|c| c.to_lowercase());
    let limit = usize::try_from(params.limit()).unwrap_or(50);
    let today = Utc::now().date_naive();
    let availability = match kind {
        Some(ProviderKind::Hotel) => stay_query(&mut params, limits, today),
        Some(ProviderKind::Hospital) => slot_query(&mut params, limits, today),
        None => None,
    };
    params.finish()?;
    match (kind, city, availability) {
        (Some(kind), Some(city), Some(availability)) => Ok(SearchRequest {
            kind,
            city,
            availability,
            limit,
        }),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "search parameters passed checks but did not parse"
        ))),
    }
}

/// A search's first day (`check_in`, `from`) is today or later, within the horizon.
fn check_first_day(
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
    let guests = params.required::<u32>("guests", "a whole number");
    let rooms = params.parsed::<u32>("rooms", "a whole number").unwrap_or(1);
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
    if rooms == 0 || rooms > limits.max_rooms {
        params.error(
            "rooms",
            format!("must be between 1 and {}", limits.max_rooms),
        );
    } else if guests_valid && guests.is_some_and(|g| rooms > g) {
        params.error("rooms", "cannot exceed guests");
    }
    Some(AvailabilityQuery::Stay(StayQuery {
        check_in: check_in?,
        check_out: check_out?,
        guests: guests?,
        rooms,
    }))
}

/// A hospital search: a window of days from `from` to `to`, optionally one specialty.
/// Problems go to `params`; `None` when a date is missing.
fn slot_query(
    params: &mut QueryParams,
    limits: &SearchSettings,
    today: NaiveDate,
) -> Option<AvailabilityQuery> {
    let from = params.required_date("from");
    let to = params.required_date("to");
    let specialty = params.text("specialty").map(str::to_lowercase);
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

async fn search_get(
    req: HttpRequest,
    search_limits: web::Data<SearchSettings>,
    searcher: web::Data<Searcher>,
) -> Result<HttpResponse, ApiError> {
    let request = parse_search(&req, &search_limits)?;
    let body = searcher.answer(request).await?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// What a search form can offer: each kind's cities with an active provider, and the
/// specialties of our own clinics (an outside hospital's are matched by name when searched).
async fn search_options(pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    let (cities, specialties) = service::search_options(&pool).await?;
    let cities_of = |kind: ProviderKind| -> Vec<&String> {
        cities
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, city)| city)
            .collect()
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "public, max-age=60"))
        .json(json!({
            "hotel": { "cities": cities_of(ProviderKind::Hotel) },
            "hospital": { "cities": cities_of(ProviderKind::Hospital), "specialties": specialties },
        })))
}

/// Decodes an offer id, so a client can show an offer again or learn it went stale.
async fn offers_get(
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
