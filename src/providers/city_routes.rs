//! `PUT /v1/admin/cities/{slug}`: admins name a city in both languages and place its centre
//! and, optionally, the landmark distances there are measured to.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::places::{self, CityRow};
use super::routes::{name, slug, validation};
use crate::auth::Admin;
use crate::db::{PgPool, run_blocking};
use crate::error::{ApiError, FieldError};
use crate::http::Json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CityRequest {
    name_ar: String,
    name_en: String,
    centre_lat: f64,
    centre_lon: f64,
    /// Null or absent: distances there are measured to the centre.
    landmark: Option<LandmarkRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandmarkRequest {
    name_ar: String,
    name_en: String,
    lat: f64,
    lon: f64,
}

fn degrees(errors: &mut Vec<FieldError>, field: &str, value: f64, limit: f64) {
    if !(-limit..=limit).contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between -{limit} and {limit}"),
        ));
    }
}

pub(super) async fn cities_put(
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<String>,
    Json(body): Json<CityRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let slug = slug(&mut errors, "slug", &path.into_inner());
    degrees(&mut errors, "centre_lat", body.centre_lat, 90.0);
    degrees(&mut errors, "centre_lon", body.centre_lon, 180.0);
    if let Some(landmark) = &body.landmark {
        degrees(&mut errors, "landmark.lat", landmark.lat, 90.0);
        degrees(&mut errors, "landmark.lon", landmark.lon, 180.0);
    }
    let city = CityRow {
        slug,
        name_ar: name(&mut errors, "name_ar", &body.name_ar),
        name_en: name(&mut errors, "name_en", &body.name_en),
        centre_lat: body.centre_lat,
        centre_lon: body.centre_lon,
        landmark_ar: body
            .landmark
            .as_ref()
            .map(|l| name(&mut errors, "landmark.name_ar", &l.name_ar)),
        landmark_en: body
            .landmark
            .as_ref()
            .map(|l| name(&mut errors, "landmark.name_en", &l.name_en)),
        landmark_lat: body.landmark.as_ref().map(|l| l.lat),
        landmark_lon: body.landmark.as_ref().map(|l| l.lon),
    };
    validation(errors)?;
    let saved = run_blocking(&pool, move |conn| Ok(places::save_city(conn, &city)?)).await?;
    Ok(HttpResponse::Ok().json(saved))
}
