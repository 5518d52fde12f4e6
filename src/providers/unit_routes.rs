//! `/v1/providers/{id}/units…`: admins add a provider's units (room types, clinic services)
//! and open, list or close their local availability.

use super::local::ClinicHours;
use super::rates::OccupancyRates;
use super::routes::{name, slug, validation};
use super::service::{self, CodeChoice, OpenAvailability};
use super::store::NewUnitRow;
use crate::auth::Admin;
use crate::db::PgPool;
use crate::domain::slug::{MAX_CODE_CHARS, is_unit_code, unit_code_from};
use crate::error::{ApiError, FieldError};
use crate::http::Json;
use crate::http::query::QueryParams;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, NaiveTime, Utc, Weekday};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CreateUnitRequest {
    RoomType {
        code: Option<String>,
        name_ar: String,
        name_en: String,
        max_guests: i32,
        rooms: i32,
        #[serde(with = "rust_decimal::serde::str")]
        nightly_price: Decimal,
        /// Prices by occupancy; without them the nightly price holds whoever stays.
        occupancy_rates: Option<serde_json::Value>,
    },
    ClinicService {
        code: Option<String>,
        name_ar: String,
        name_en: String,
        specialty: String,
        practitioner: Option<String>,
        slot_minutes: i32,
        #[serde(with = "rust_decimal::serde::str")]
        price: Decimal,
    },
}

/// A room type's prices by occupancy, checked (`providers::rates`); the stored JSON.
fn rates(errors: &mut Vec<FieldError>, value: serde_json::Value) -> Option<serde_json::Value> {
    match serde_path_to_error::deserialize::<_, OccupancyRates>(value.clone()) {
        Ok(rates) => match rates.problem() {
            None => Some(value),
            Some((field, message)) => {
                errors.push(FieldError::new(format!("occupancy_rates.{field}"), message));
                None
            }
        },
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                "occupancy_rates".to_owned()
            } else {
                format!("occupancy_rates.{path}")
            };
            errors.push(FieldError::new(field, e.into_inner().to_string()));
            None
        }
    }
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

/// The unit's code as the admin gave it (checked), or made from its English name.
fn unit_code(
    errors: &mut Vec<FieldError>,
    given: Option<String>,
    name_en: &str,
) -> (String, CodeChoice) {
    match given {
        Some(code) => {
            let code = code.trim().to_owned();
            if !is_unit_code(&code) {
                errors.push(FieldError::new(
                    "code",
                    format!(
                        "must be 1 to {} lower-case latin letters and digits in words joined by dashes, such as `deluxe-double`",
                        MAX_CODE_CHARS
                    ),
                ));
            }
            (code, CodeChoice::Exactly)
        }
        None => (unit_code_from(name_en), CodeChoice::OrNextFree),
    }
}

pub(super) async fn units_create(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
    Json(body): Json<CreateUnitRequest>,
) -> Result<HttpResponse, ApiError> {
    let provider_id = path.into_inner();
    let mut errors = Vec::new();
    let (row, choice) = match body {
        CreateUnitRequest::RoomType {
            code,
            name_ar,
            name_en,
            max_guests,
            rooms,
            nightly_price,
            occupancy_rates,
        } => {
            let (code, choice) = unit_code(&mut errors, code, &name_en);
            let occupancy_rates = occupancy_rates.and_then(|value| rates(&mut errors, value));
            let row = NewUnitRow {
                provider_id,
                code,
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
                occupancy_rates,
            };
            (row, choice)
        }
        CreateUnitRequest::ClinicService {
            code,
            name_ar,
            name_en,
            specialty,
            practitioner,
            slot_minutes,
            price: fee,
        } => {
            let (code, choice) = unit_code(&mut errors, code, &name_en);
            let row = NewUnitRow {
                provider_id,
                code,
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
                occupancy_rates: None,
            };
            (row, choice)
        }
    };
    validation(errors)?;
    let unit = service::create_unit(&pool, row, choice).await?;
    Ok(HttpResponse::Created().json(unit))
}

pub(super) async fn units_list(
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

pub(super) async fn availability_open(
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

pub(super) async fn availability_close(
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

pub(super) async fn availability_list(
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
