//! The one error type handlers return, rendered as RFC 9457 `application/problem+json`.
//!
//! Every variant has a fixed HTTP status and a stable `code` clients may branch on.
//! Database errors are mapped in exactly one place ([`From<diesel::result::Error>`]).
//! Internal errors log their whole cause chain (inside the request's span, so with its
//! request id) and answer an opaque 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending input: a JSON path such as `email` or `guests[0].name`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // --- the request itself
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request failed validation")]
    Validation(Vec<FieldError>),
    /// Bad query-string parameters (400, as they are part of the URL, not a body).
    #[error("the query parameters are invalid")]
    InvalidQuery(Vec<FieldError>),
    /// A path segment carries a control character (`%00`).
    #[error("the path is malformed")]
    InvalidPath(Vec<FieldError>),
    #[error("the body must be sent as application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than the {limit} bytes this server accepts")]
    PayloadTooLarge { limit: usize },
    #[error("no route matches this path")]
    RouteNotFound,
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    /// A status the framework produced that no variant above names (the fallback
    /// middleware turns it into a problem rather than a plain-text body).
    #[error("{}", .0.canonical_reason().unwrap_or("HTTP error"))]
    Http(StatusCode),

    // --- authentication and authorisation
    #[error("this route needs a bearer access token")]
    MissingToken,
    #[error("the access token is invalid, expired or not meant for this service")]
    InvalidToken,
    #[error("the email or password is wrong")]
    InvalidCredentials,
    /// A signed callback (an SMS receipt or reply) whose signature is missing, stale or wrong.
    #[error("the request's signature is missing, stale or does not match")]
    SignatureRefused(Vec<FieldError>),
    #[error("the refresh token is invalid, expired or already used")]
    InvalidRefreshToken,
    #[error("your role may not do this")]
    Forbidden,
    /// Staff may refund up to `billing.staff_refund_limit` at once; more needs an admin.
    #[error("refunds above {limit} SAR need an admin")]
    RefundNeedsAdmin { limit: rust_decimal::Decimal },
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("an account with this email already exists")]
    EmailTaken,
    /// A rate limit (`http::rate_limit`) is spent; `code` names it, e.g. `signup.rate_limited`.
    #[error("too many requests from your address; try again in {retry_after_secs} s")]
    RateLimited {
        code: &'static str,
        retry_after_secs: u64,
    },
    /// An emailed link's token that is unknown, expired or already used (`errors` names it).
    #[error("the link is invalid, has expired or was already used")]
    InvalidLink(Vec<FieldError>),
    #[error("verify your email address first: open the link we emailed you")]
    AccountUnverified,

    // --- resources
    /// Not found and not yours look the same.
    #[error("no such resource")]
    NotFound,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the offer id is malformed or has been altered")]
    OfferInvalid,
    /// The offer's price or availability moved since it was issued; `fresh` is the offer
    /// as it stands now (or null when there is none).
    #[error("the offer changed since it was issued; see the fresh offer")]
    OfferChanged { fresh: Box<serde_json::Value> },
    #[error("this is no longer available")]
    SoldOut,
    #[error("the booking is {status}, which does not allow this")]
    InvalidState { status: &'static str },
    /// `If-Match` named a version of the resource that is no longer current.
    #[error(
        "the booking changed since you read it (If-Match does not match its ETag); read it again"
    )]
    PreconditionFailed,
    #[error("this route needs an Idempotency-Key header")]
    IdempotencyKeyRequired,
    #[error("the Idempotency-Key must be 1 to 255 printable ASCII characters")]
    IdempotencyKeyInvalid,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyInProgress,
    #[error("the offer has expired; search again for a fresh one")]
    OfferExpired,

    // --- money
    /// The gateway refused the card; `reason` is its code (`card_declined`,
    /// `insufficient_funds`, `expired_card`, `authentication_required`, …).
    #[error("the payment was declined: {message}")]
    PaymentDeclined { reason: String, message: String },

    // --- the service
    #[error("a dependency is unavailable; try again shortly")]
    Unavailable(#[source] anyhow::Error),
    #[error("an internal error occurred")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// An emailed link that cannot be used (again).
    pub fn invalid_link() -> Self {
        Self::InvalidLink(vec![FieldError::new(
            "token",
            "is invalid, has expired or was already used",
        )])
    }

    /// The message with its cause, for logs and job errors (never sent to clients).
    pub fn describe(&self) -> String {
        match self {
            Self::Internal(cause) | Self::Unavailable(cause) => format!("{self}: {cause:#}"),
            other => other.to_string(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "request.malformed_json",
            Self::Validation(_) => "validation.failed",
            Self::InvalidQuery(_) => "query.invalid",
            Self::InvalidPath(_) => "path.invalid",
            Self::UnsupportedMediaType => "request.unsupported_media_type",
            Self::PayloadTooLarge { .. } => "request.too_large",
            Self::RouteNotFound => "route.not_found",
            Self::MethodNotAllowed => "route.method_not_allowed",
            Self::Http(status) => http_code(*status),
            Self::MissingToken => "auth.missing_token",
            Self::InvalidToken => "auth.invalid_token",
            Self::InvalidCredentials => "auth.invalid_credentials",
            Self::InvalidRefreshToken => "auth.invalid_refresh_token",
            Self::SignatureRefused(_) => "signature.invalid",
            Self::Forbidden => "auth.forbidden",
            Self::RefundNeedsAdmin { .. } => "refund.needs_admin",
            Self::TooManyAttempts { .. } => "auth.too_many_attempts",
            Self::RateLimited { code, .. } => code,
            Self::EmailTaken => "auth.email_taken",
            Self::InvalidLink(_) => "auth.invalid_link",
            Self::AccountUnverified => "account.unverified",
            Self::NotFound => "resource.not_found",
            Self::Conflict { code, .. } => code,
            Self::OfferInvalid => "offer.invalid",
            Self::OfferChanged { .. } => "booking.offer_changed",
            Self::SoldOut => "booking.sold_out",
            Self::InvalidState { .. } => "booking.invalid_state",
            Self::PreconditionFailed => "booking.precondition_failed",
            Self::IdempotencyKeyRequired => "idempotency.key_required",
            Self::IdempotencyKeyInvalid => "idempotency.invalid_key",
            Self::IdempotencyMismatch => "idempotency.mismatch",
            Self::IdempotencyInProgress => "idempotency.in_progress",
            Self::OfferExpired => "offer.expired",
            Self::PaymentDeclined { .. } => "payment.declined",
            Self::Unavailable(_) => "service.unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "Malformed JSON",
            Self::Validation(_) => "Invalid input",
            Self::InvalidQuery(_) => "Invalid query parameters",
            Self::InvalidPath(_) => "Invalid path",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::PayloadTooLarge { .. } => "Request body too large",
            Self::RouteNotFound => "Route not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Http(status) => status.canonical_reason().unwrap_or("HTTP error"),
            Self::MissingToken | Self::InvalidToken => "Unauthenticated",
            Self::InvalidCredentials => "Invalid credentials",
            Self::InvalidRefreshToken => "Invalid refresh token",
            Self::SignatureRefused(_) => "Invalid signature",
            Self::Forbidden | Self::RefundNeedsAdmin { .. } => "Forbidden",
            Self::TooManyAttempts { .. } => "Too many attempts",
            Self::RateLimited { .. } => "Too many requests",
            Self::EmailTaken => "Email taken",
            Self::InvalidLink(_) => "Invalid link",
            Self::AccountUnverified => "Email not verified",
            Self::NotFound => "Not found",
            Self::Conflict { .. } => "Conflict",
            Self::OfferInvalid => "Invalid offer",
            Self::OfferChanged { .. } => "Offer changed",
            Self::SoldOut => "Sold out",
            Self::InvalidState { .. } => "Invalid state",
            Self::PreconditionFailed => "Precondition failed",
            Self::IdempotencyKeyRequired | Self::IdempotencyKeyInvalid => {
                "Idempotency key required"
            }
            Self::IdempotencyMismatch => "Idempotency key reused",
            Self::IdempotencyInProgress => "Request in progress",
            Self::OfferExpired => "Offer expired",
            Self::PaymentDeclined { .. } => "Payment declined",
            Self::Unavailable(_) => "Service unavailable",
            Self::Internal(_) => "Internal error",
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Validation(errors)
            | Self::InvalidQuery(errors)
            | Self::InvalidPath(errors)
            | Self::InvalidLink(errors)
            | Self::SignatureRefused(errors) => errors,
            _ => &[],
        }
    }
}

/// Codes for bare statuses, e.g. a 404 from the framework's default service.
fn http_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "route.not_found",
        StatusCode::METHOD_NOT_ALLOWED => "route.method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "request.too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "request.unsupported_media_type",
        StatusCode::URI_TOO_LONG => "request.uri_too_long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request.headers_too_large",
        StatusCode::REQUEST_TIMEOUT => "request.timeout",
        s if s.is_server_error() => "internal",
        _ => "request.invalid",
    }
}

/// The RFC 9457 body. `code` and `errors` are extension members.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'a str,
    pub status: u16,
    pub detail: String,
    pub code: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub errors: &'a [FieldError],
    /// `booking.offer_changed`: the offer as it stands now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<&'a serde_json::Value>,
    /// `payment.declined`: the gateway's reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_reason: Option<&'a str>,
}

/// `type` is a URN built from the stable code: it identifies the problem without
/// pretending there is a documentation page at some URL.
pub fn problem_type(code: &str) -> String {
    format!("urn:wasit:problem:{code}")
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_)
            | Self::InvalidQuery(_)
            | Self::InvalidPath(_)
            | Self::OfferInvalid
            | Self::IdempotencyKeyRequired
            | Self::IdempotencyKeyInvalid
            | Self::InvalidLink(_) => StatusCode::BAD_REQUEST,
            Self::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Self::OfferExpired => StatusCode::GONE,
            Self::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RouteNotFound | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Http(status) => *status,
            Self::MissingToken
            | Self::InvalidToken
            | Self::InvalidCredentials
            | Self::InvalidRefreshToken
            | Self::SignatureRefused(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::RefundNeedsAdmin { .. } | Self::AccountUnverified => {
                StatusCode::FORBIDDEN
            }
            Self::TooManyAttempts { .. } | Self::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::EmailTaken
            | Self::Conflict { .. }
            | Self::OfferChanged { .. }
            | Self::SoldOut
            | Self::InvalidState { .. }
            | Self::IdempotencyInProgress => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match self {
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                self.to_string()
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = ?cause, "dependency unavailable");
                self.to_string()
            }
            _ => self.to_string(),
        };
        let code = self.code();
        let body = Problem {
            kind: problem_type(code),
            title: self.title(),
            status: status.as_u16(),
            detail,
            code,
            errors: self.field_errors(),
            offer: match self {
                Self::OfferChanged { fresh } => Some(fresh),
                _ => None,
            },
            decline_reason: match self {
                Self::PaymentDeclined { reason, .. } => Some(reason),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            Self::TooManyAttempts { retry_after_secs }
            | Self::RateLimited {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            Self::MissingToken | Self::InvalidToken => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.body(serde_json::to_vec(&body).unwrap_or_default())
    }
}

/// Constraints whose violation is the client's doing, and what each one means. Any other
/// violation is a bug or a race the caller cannot fix, so it stays a 409 `conflict`.
fn constraint_error(constraint: Option<&str>) -> ApiError {
    let conflict = |code, detail: &str| ApiError::Conflict {
        code,
        detail: detail.into(),
    };
    match constraint {
        Some("users_email_key") => ApiError::EmailTaken,
        Some("inventory_cells_reserved_within_capacity") => conflict(
            "inventory.below_reserved",
            "capacity cannot go below what is already reserved",
        ),
        Some("inventory_cells_no_overlap") => conflict(
            "inventory.overlap",
            "these slots overlap slots the unit already has",
        ),
        Some("payments_one_live_per_booking") => conflict(
            "payment.in_progress",
            "this booking already has a payment under way or completed",
        ),
        Some("payments_one_live_per_package") => conflict(
            "payment.in_progress",
            "this package already has a payment under way or completed",
        ),
        Some("payments_one_live_per_change") => conflict(
            "payment.in_progress",
            "this change already has a payment under way or completed",
        ),
        Some("waitlist_entries_one_live") => conflict(
            "waitlist.duplicate",
            "this customer already waits for this stay or these days",
        ),
        Some("booking_changes_one_open") => conflict(
            "booking.change_in_progress",
            "another change of this booking is under way; read the booking again",
        ),
        Some("payments_one_signup_per_customer") => conflict(
            "payment.in_progress",
            "a subscription payment for this customer is already under way",
        ),
        Some("payments_one_per_period") => conflict(
            "payment.in_progress",
            "this subscription period is already paid or being paid",
        ),
        Some("payments_refund_within_captured") => conflict(
            "refund.exceeds_captured",
            "a refund cannot exceed what was captured and not yet refunded",
        ),
        Some("subscriptions_one_live_per_customer") => conflict(
            "subscription.exists",
            "this customer already has a live subscription; change its plan instead",
        ),
        Some("plans_code_key") => conflict("plan.code_taken", "a plan with this code exists"),
        Some("units_provider_code_key") => conflict(
            "unit.code_taken",
            "this provider already has a unit with this code",
        ),
        _ => conflict(
            "conflict",
            "the request conflicts with the current state of a resource",
        ),
    }
}

/// A reference to something that does not exist: the field the client named, where the
/// constraint says which; otherwise the thing referred to went away meanwhile (409).
fn foreign_key_error(constraint: Option<&str>) -> ApiError {
    match constraint {
        Some("users_provider_id_fkey") => {
            ApiError::Validation(vec![FieldError::new("provider_id", "no such provider")])
        }
        _ => ApiError::Conflict {
            code: "conflict",
            detail: "the request refers to something that no longer exists".into(),
        },
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => ApiError::NotFound,
            DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::ExclusionViolation,
                info,
            ) => constraint_error(info.constraint_name()),
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                foreign_key_error(info.constraint_name())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                ApiError::Unavailable(anyhow::Error::new(error))
            }
            // A pooled connection the database dropped (a restart) fails its next send; the
            // pool discards it after that error. Other send failures are our bugs.
            DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, ref info)
                if lost_connection(info.message()) =>
            {
                ApiError::Unavailable(anyhow::Error::new(error))
            }
            // The pool's guards (`database.*_timeout_ms`) cancelled a statement that waited
            // or ran too long: the database is too busy right now, try again.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if info.message().starts_with("canceling statement due to") =>
            {
                ApiError::Unavailable(anyhow::Error::new(error))
            }
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// libpq's words for a connection that is gone.
fn lost_connection(message: &str) -> bool {
    [
        "no connection to the server",
        "server closed the connection",
        "could not send data to server",
        "could not receive data from server",
        "SSL connection has been closed",
        "SSL SYSCALL error",
    ]
    .iter()
    .any(|words| message.contains(words))
}

impl From<diesel::r2d2::PoolError> for ApiError {
    /// No connection within `database.connect_timeout_secs`: the database is down or saturated.
    fn from(error: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(anyhow::Error::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[test]
    fn a_connection_the_database_dropped_is_503_and_other_send_failures_500() {
        let send_failed = |message: &str| {
            ApiError::from(DieselError::DatabaseError(
                DatabaseErrorKind::UnableToSendCommand,
                Box::new(message.to_owned()),
            ))
            .status_code()
        };
        assert_eq!(
            send_failed("no connection to the server\n"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            send_failed("server closed the connection unexpectedly"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            send_failed("number of parameters must be between 0 and 65535"),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    async fn render(error: ApiError) -> (StatusCode, String, serde_json::Value) {
        let response = error.error_response();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let status = response.status();
        let body = to_bytes(response.into_body()).await.unwrap();
        (status, content_type, serde_json::from_slice(&body).unwrap())
    }

    #[actix_web::test]
    async fn validation_errors_list_their_fields() {
        let (status, content_type, body) = render(ApiError::Validation(vec![FieldError::new(
            "email",
            "not an email address",
        )]))
        .await;
        assert_eq!(status, 422);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["type"], "urn:wasit:problem:validation.failed");
        assert_eq!(body["code"], "validation.failed");
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][0]["field"], "email");
    }

    #[actix_web::test]
    async fn internal_errors_hide_their_cause() {
        let (status, _, body) = render(ApiError::internal(anyhow::anyhow!(
            "password=hunter2 leaked"
        )))
        .await;
        assert_eq!(status, 500);
        assert_eq!(body["code"], "internal");
        assert!(!body.to_string().contains("hunter2"));
        assert!(body.get("errors").is_none());
    }

    #[test]
    fn diesel_errors_map_in_one_place() {
        assert!(matches!(
            ApiError::from(DieselError::NotFound),
            ApiError::NotFound
        ));
        assert!(matches!(
            ApiError::from(DieselError::RollbackTransaction),
            ApiError::Internal(_)
        ));
        assert!(matches!(
            constraint_error(Some("users_email_key")),
            ApiError::EmailTaken
        ));
        assert_eq!(constraint_error(Some("other_key")).code(), "conflict");
        assert_eq!(
            constraint_error(Some("inventory_cells_reserved_within_capacity")).code(),
            "inventory.below_reserved"
        );
    }
}
