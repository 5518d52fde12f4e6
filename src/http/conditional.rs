//! Conditional GETs: whether a client's `If-None-Match` already names the current ETag, so
//! the answer can be a bodiless 304.

use actix_web::HttpRequest;
use actix_web::http::header;

/// `tag` is a quoted strong ETag; `*` or any listed candidate that equals it matches.
pub fn none_match(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|candidate| matches!(candidate.trim(), "*") || candidate.trim() == tag)
        })
}
