//! `Json<T>`: actix's JSON extractor, but every failure is an [`ApiError`] naming the field.
//!
//! - wrong or missing `Content-Type` → 415 `request.unsupported_media_type`
//! - body over `server.max_body_bytes` → 413 `request.too_large` (checked on the declared
//!   length first, then while reading, so a lying client cannot stream more)
//! - not JSON at all → 400 `request.malformed_json`
//! - JSON of the wrong shape (missing or mistyped field, unknown enum value) →
//!   422 `validation.failed` with the field's path

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::mime;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

pub struct Json<T>(pub T);

impl<T> FromRequest for Json<T>
where
    T: DeserializeOwned + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(64 * 1024, |limit| limit.0);
        let checked = check_headers(req, limit);
        let body = web::Payload::from_request(req, payload).into_inner();
        Box::pin(async move {
            checked?;
            let body = body.map_err(|_| ApiError::Http(StatusCode::BAD_REQUEST))?;
            let bytes = match body.to_bytes_limited(limit).await {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(_)) => return Err(ApiError::Http(StatusCode::BAD_REQUEST)),
                Err(_) => return Err(ApiError::PayloadTooLarge { limit }),
            };
            parse(&bytes).map(Json)
        })
    }
}

fn check_headers(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(())
}

/// Parses in two steps so the two kinds of failure stay apart: text that is not JSON at
/// all (400), then JSON of the wrong shape (422, with the path of the value that failed).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::MalformedJson(message_without_position(&e)))?;
    // PostgreSQL text cannot hold NUL: refuse it here, naming the field, rather than fail
    // in SQL (found by schemathesis: a login with "\u0000" in the email was a 500).
    if let Some(field) = nul_at(&value, String::new()) {
        return Err(ApiError::Validation(vec![FieldError::new(
            if field.is_empty() {
                "body".to_owned()
            } else {
                field
            },
            "must not contain NUL characters",
        )]));
    }
    serde_path_to_error::deserialize(value).map_err(shape_error)
}

/// The path of the first string (or key) holding a NUL character.
fn nul_at(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                return Some(here);
            }
            nul_at(item, here)
        }),
        _ => None,
    }
}

fn shape_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let message = message_without_position(error.inner());
    let parent = if path == "." { String::new() } else { path };
    // serde reports a missing field at its parent, naming the field only in the message.
    let field = match missing_field_name(&message) {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None if parent.is_empty() => "body".to_owned(),
        None => parent,
    };
    ApiError::Validation(vec![FieldError::new(field, message)])
}

fn missing_field_name(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

/// serde_json appends " at line L column C", which means nothing to a form.
fn message_without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Guest {
        name: String,
        age: u8,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Kind {
        Hotel,
        Hospital,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Form {
        kind: Kind,
        guests: Vec<Guest>,
    }

    fn field_of(result: Result<Form, ApiError>) -> (String, String) {
        match result {
            Err(ApiError::Validation(errors)) => {
                (errors[0].field.clone(), errors[0].message.clone())
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        name: String,
    }

    #[test]
    fn unknown_fields_are_named() {
        match parse::<Strict>(br#"{"name":"a","nickname":"b"}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "nickname"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_fields_are_named_with_their_path() {
        assert_eq!(field_of(parse(br#"{"guests":[]}"#)).0, "kind");
        assert_eq!(
            field_of(parse(br#"{"kind":"hotel","guests":[{"name":"a"}]}"#)).0,
            "guests[0].age"
        );
    }

    #[test]
    fn mistyped_values_and_unknown_variants_are_named() {
        assert_eq!(
            field_of(parse(
                br#"{"kind":"hotel","guests":[{"name":"a","age":"x"}]}"#
            ))
            .0,
            "guests[0].age"
        );
        let (field, message) = field_of(parse(br#"{"kind":"castle","guests":[]}"#));
        assert_eq!(field, "kind");
        assert!(message.contains("unknown variant"), "{message}");
        assert!(!message.contains("line"), "{message}");
    }

    #[test]
    fn syntax_errors_and_trailing_garbage_are_malformed() {
        assert!(matches!(
            parse::<Form>(br#"{"kind":"#),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Form>(b""),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Form>(br#"{"kind":"hotel","guests":[]} x"#),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn a_body_of_the_wrong_type_is_a_validation_error_on_body() {
        assert_eq!(field_of(parse(b"[1,2]")).0, "[0]");
        assert_eq!(field_of(parse(br#""text""#)).0, "body");
        assert_eq!(field_of(parse(br#"{"kind":5,"guests":[]}"#)).0, "kind");
    }
}
