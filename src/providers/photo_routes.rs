//! `PUT /v1/admin/providers/{id}/photo` (admins upload a provider's photo: the raw image as
//! the body) and `GET /v1/providers/{id}/photo` (anyone: the photo, cacheable).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use super::photos::{self, ImageType, MAX_PHOTO_BYTES};
use crate::auth::Admin;
use crate::db::{PgPool, run_blocking};
use crate::error::{ApiError, FieldError};

pub(super) async fn provider_photo_put(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    _admin: Admin,
    path: web::Path<Uuid>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .and_then(|value| ImageType::from_content_type(&value))
        .ok_or(ApiError::Http(StatusCode::UNSUPPORTED_MEDIA_TYPE))?;
    let too_large = ApiError::PayloadTooLarge {
        limit: MAX_PHOTO_BYTES,
    };
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > MAX_PHOTO_BYTES) {
        return Err(too_large);
    }
    let bytes = match body.to_bytes_limited(MAX_PHOTO_BYTES).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(ApiError::Http(StatusCode::BAD_REQUEST)),
        Err(_) => return Err(too_large),
    };
    // The bytes decide: a browser shown this photo trusts our Content-Type, not the upload's.
    if ImageType::sniff(&bytes) != Some(declared) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "photo",
            format!("is not a {} image", declared.content_type()),
        )]));
    }
    let provider_id = path.into_inner();
    let saved = run_blocking(&pool, move |conn| {
        Ok(photos::save_photo(conn, provider_id, declared, &bytes)?)
    })
    .await?;
    if !saved {
        return Err(ApiError::NotFound);
    }
    let provider = super::service::get_provider(&pool, provider_id).await?;
    Ok(HttpResponse::Ok().json(super::service::ProviderView::from(provider)))
}

pub(super) async fn provider_photo_get(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let provider_id = path.into_inner();
    let photo = run_blocking(&pool, move |conn| {
        Ok(photos::find_photo(conn, provider_id)?)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    let tag = format!("\"{}\"", photo.etag);
    // Links carry the ETag (`?v=`), so a day's caching never shows an old photo there.
    let cache = "public, max-age=86400";
    if crate::http::conditional::none_match(&req, &tag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .content_type(photo.content_type)
        .body(photo.bytes))
}
