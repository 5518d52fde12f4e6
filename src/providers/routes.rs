//! `/v1/providers…`: admins manage providers (their adapters, webhooks, policies). The
//! routes of units and availability are `unit_routes`, of search and offers `search_routes`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use uuid::Uuid;

use super::model::{AdapterSettings, ProviderKind};
use super::service::{self, check_adapter_fits, parse_timezone};
use super::store::{NewProviderRow, ProviderChanges, ProviderFilter};
use crate::auth::Admin;
use crate::db::PgPool;
use crate::domain::text;
use crate::error::{ApiError, FieldError};
use crate::http::outbound::AddressPolicy;
use crate::http::query::QueryParams;
use crate::http::{Json, RouteTable};
use crate::providers::policy::{CancellationPolicy, ChangePolicy, NoShowFee};

use super::city_routes::cities_put;
use super::photo_routes::{provider_photo_get, provider_photo_put};
use super::search_routes::{offers_get, search_get, search_options};
use super::unit_routes::{
    availability_close, availability_list, availability_open, units_create, units_list,
};

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
        .put("/v1/admin/cities/{slug}", cities_put)
        .put(
            "/v1/admin/providers/{provider_id}/photo",
            provider_photo_put,
        )
        .get("/v1/providers/{provider_id}/photo", provider_photo_get)
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

pub(super) fn validation(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

pub(super) fn name(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    text::name(value, 200).unwrap_or_else(|reason| {
        errors.push(FieldError::new(field, reason));
        String::new()
    })
}

/// City and specialty slugs: lower-case latin letters and dashes (`riyadh`, `cardiology`).
pub(super) fn slug(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    let slug = value.trim().to_lowercase();
    if !crate::domain::slug::is_slug(&slug) {
        errors.push(FieldError::new(
            field,
            "must be a lower-case slug such as `riyadh`",
        ));
    }
    slug
}

/// An http(s) URL whose host the outbound policy does not refuse (as far as can be told
/// without DNS; the outbound client checks again on every connection).
fn webhook_url(
    errors: &mut Vec<FieldError>,
    addresses: &AddressPolicy,
    value: Option<&str>,
) -> Option<String> {
    let value = value?.trim();
    // The URL parser drops tabs and line breaks silently; the stored text must not hold them.
    let checked = if value.contains(char::is_control) {
        Err("must not contain control characters".to_owned())
    } else {
        addresses.check_url(value)
    };
    match checked {
        Ok(()) => Some(value.to_owned()),
        Err(message) => {
            errors.push(FieldError::new("webhook_url", message));
            None
        }
    }
}

/// The adapter's server URL, held to the same rule as a webhook URL.
fn adapter_address(
    errors: &mut Vec<FieldError>,
    addresses: &AddressPolicy,
    adapter: &AdapterSettings,
) {
    if let Some(Err(message)) = adapter.base_url().map(|url| addresses.check_url(url)) {
        errors.push(FieldError::new("adapter_settings.base_url", message));
    }
}

/// Refund tiers: each `{hours_before, refund_percent}` with a percentage of 0 to 100.
fn cancellation_policy(
    errors: &mut Vec<FieldError>,
    value: Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    policy_tiers::<CancellationPolicy>(errors, "cancellation_policy", value, |policy| {
        policy.0.iter().all(|tier| tier.refund_percent <= 100) && policy.0.len() <= 10
    })
}

/// Change tiers: each `{hours_before, fee_percent}` with a percentage of 0 to 100; closer to
/// the start than every tier, no change.
fn change_policy(
    errors: &mut Vec<FieldError>,
    value: Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    policy_tiers::<ChangePolicy>(errors, "change_policy", value, |policy| {
        policy.0.iter().all(|tier| tier.fee_percent <= 100) && policy.0.len() <= 10
    })
}

/// A policy of tiers by notice, checked by `fits` (at most 10 tiers, percentages 0 to 100);
/// the stored JSON, or an error naming the offending tier.
fn policy_tiers<T: serde::de::DeserializeOwned>(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: Option<serde_json::Value>,
    fits: impl FnOnce(&T) -> bool,
) -> Option<serde_json::Value> {
    let value = value?;
    match serde_path_to_error::deserialize::<_, T>(value.clone()) {
        Ok(policy) if fits(&policy) => Some(value),
        Ok(_) => {
            errors.push(FieldError::new(
                name,
                "at most 10 tiers, each with a percentage of 0 to 100",
            ));
            None
        }
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                name.to_owned()
            } else if path.starts_with('[') {
                format!("{name}{path}")
            } else {
                format!("{name}.{path}")
            };
            errors.push(FieldError::new(field, e.into_inner().to_string()));
            None
        }
    }
}

/// An address: one line of up to 300 characters; empty clears it.
fn address(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    if value.trim().is_empty() {
        return String::new();
    }
    text::name(value, 300).unwrap_or_else(|reason| {
        errors.push(FieldError::new(field, reason));
        String::new()
    })
}

/// A local time of day, `HH:MM`; only hotels have check-in and check-out times (a
/// hospital's appointment has its own).
fn clock_time(
    errors: &mut Vec<FieldError>,
    kind: ProviderKind,
    field: &str,
    value: Option<&str>,
) -> Option<chrono::NaiveTime> {
    let value = value?;
    if kind != ProviderKind::Hotel {
        errors.push(FieldError::new(
            field,
            "only hotels have check-in and check-out times",
        ));
        return None;
    }
    let parsed = crate::domain::parse_hh_mm(value);
    if parsed.is_none() {
        errors.push(FieldError::new(
            field,
            "must be a time of day, HH:MM (24 hours)",
        ));
    }
    parsed
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
    change_policy: Option<serde_json::Value>,
    prepaid: Option<bool>,
    no_show_fee: Option<NoShowFee>,
    address_ar: Option<String>,
    address_en: Option<String>,
    check_in_time: Option<String>,
    check_out_time: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// Where a provider is: latitude and longitude in degrees, both or neither.
fn position(errors: &mut Vec<FieldError>, latitude: Option<f64>, longitude: Option<f64>) {
    match (latitude, longitude) {
        (Some(_), None) => errors.push(FieldError::new("longitude", "is required with latitude")),
        (None, Some(_)) => errors.push(FieldError::new("latitude", "is required with longitude")),
        _ => {}
    }
    if latitude.is_some_and(|lat| !(-90.0..=90.0).contains(&lat)) {
        errors.push(FieldError::new("latitude", "must be between -90 and 90"));
    }
    if longitude.is_some_and(|lon| !(-180.0..=180.0).contains(&lon)) {
        errors.push(FieldError::new("longitude", "must be between -180 and 180"));
    }
}

async fn providers_create(
    pool: web::Data<PgPool>,
    addresses: web::Data<AddressPolicy>,
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
    let changes = change_policy(&mut errors, body.change_policy);
    let address_ar = address(
        &mut errors,
        "address_ar",
        body.address_ar.as_deref().unwrap_or(""),
    );
    let address_en = address(
        &mut errors,
        "address_en",
        body.address_en.as_deref().unwrap_or(""),
    );
    let check_in_time = clock_time(
        &mut errors,
        body.kind,
        "check_in_time",
        body.check_in_time.as_deref(),
    );
    let check_out_time = clock_time(
        &mut errors,
        body.kind,
        "check_out_time",
        body.check_out_time.as_deref(),
    );
    position(&mut errors, body.latitude, body.longitude);
    let settings = body.adapter_settings.unwrap_or_else(|| json!({}));
    match AdapterSettings::parse_input(&body.adapter, settings) {
        Ok(adapter) => {
            if let Err(e) = check_adapter_fits(body.kind, &adapter) {
                errors.push(e);
            }
            adapter_address(&mut errors, &addresses, &adapter);
            let webhook_url = webhook_url(&mut errors, &addresses, body.webhook_url.as_deref());
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
                change_policy: changes,
                prepaid: body.prepaid,
                no_show_fee: body.no_show_fee,
                address_ar,
                address_en,
                check_in_time,
                check_out_time,
                latitude: body.latitude,
                longitude: body.longitude,
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
    let city = params.slug("city");
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
    change_policy: Option<serde_json::Value>,
    prepaid: Option<bool>,
    no_show_fee: Option<NoShowFee>,
    address_ar: Option<String>,
    address_en: Option<String>,
    /// Null clears a time.
    #[serde(default, deserialize_with = "double_option")]
    check_in_time: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    check_out_time: Option<Option<String>>,
    /// Null clears the position (send both).
    #[serde(default, deserialize_with = "double_option")]
    latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    longitude: Option<Option<f64>>,
}

async fn providers_update(
    pool: web::Data<PgPool>,
    addresses: web::Data<AddressPolicy>,
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
        no_show_fee: body.no_show_fee,
        address_ar: body
            .address_ar
            .map(|v| address(&mut errors, "address_ar", &v)),
        address_en: body
            .address_en
            .map(|v| address(&mut errors, "address_en", &v)),
        ..Default::default()
    };
    for (field, sent, change) in [
        (
            "check_in_time",
            body.check_in_time,
            &mut changes.check_in_time,
        ),
        (
            "check_out_time",
            body.check_out_time,
            &mut changes.check_out_time,
        ),
    ] {
        *change = sent.map(|time| clock_time(&mut errors, current.kind, field, time.as_deref()));
    }
    if body.latitude.is_some() || body.longitude.is_some() {
        let latitude = body.latitude.unwrap_or(current.latitude);
        let longitude = body.longitude.unwrap_or(current.longitude);
        position(&mut errors, latitude, longitude);
        changes.latitude = Some(latitude);
        changes.longitude = Some(longitude);
    }
    changes.cancellation_policy = cancellation_policy(&mut errors, body.cancellation_policy);
    changes.change_policy = change_policy(&mut errors, body.change_policy);
    if let Some(timezone) = body.timezone {
        if let Err(e) = parse_timezone(&timezone) {
            errors.push(e);
        }
        changes.timezone = Some(timezone);
    }
    if let Some(url) = body.webhook_url {
        changes.webhook_url =
            Some(url.and_then(|u| webhook_url(&mut errors, &addresses, Some(&u))));
        changes.webhook_disabled_at = Some(None);
    }
    if body.adapter.is_some() || body.adapter_settings.is_some() {
        let adapter_name = body.adapter.unwrap_or_else(|| current.adapter.clone());
        let settings = match body.adapter_settings {
            Some(sent) if adapter_name == current.adapter => {
                AdapterSettings::keep_stored_credentials(sent, &current.adapter_settings)
            }
            Some(sent) => sent,
            None => current.adapter_settings.clone(),
        };
        match AdapterSettings::parse_input(&adapter_name, settings) {
            Ok(adapter) => {
                if let Err(e) = check_adapter_fits(current.kind, &adapter) {
                    errors.push(e);
                }
                adapter_address(&mut errors, &addresses, &adapter);
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
