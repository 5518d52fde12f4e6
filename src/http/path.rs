//! Path parameters carry no control characters: `/v1/bookings/%00abc` answers 400
//! `path.invalid` naming the parameter, before any handler (or PostgreSQL, which refuses
//! NUL in text) sees it. Wrapped around every API resource by the route table, so it runs
//! after routing, when the parameters have their names.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::error::{ApiError, FieldError};

pub async fn refuse_control_characters(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let mut errors: Vec<FieldError> = req
        .match_info()
        .iter()
        .filter(|(_, value)| value.chars().any(char::is_control))
        .map(|(name, _)| FieldError::new(name, "must not contain control characters"))
        .collect();
    if errors.is_empty() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Ok(req
        .error_response(ApiError::InvalidPath(errors))
        .map_into_right_body())
}
