//! Query-string parameters read one by one, collecting every problem with its name, so a
//! bad search answers 400 `query.invalid` listing each offending parameter.

use std::collections::HashMap;
use std::str::FromStr;

use actix_web::HttpRequest;
use chrono::NaiveDate;

use crate::domain::slug;
use crate::error::{ApiError, FieldError};

/// What a problem repeats of a bad value: its start, so a huge value makes no huge answer.
fn echo(raw: &str) -> String {
    const SHOWN: usize = 40;
    match raw.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &raw[..cut]),
        None => raw.to_owned(),
    }
}

pub struct QueryParams {
    values: HashMap<String, String>,
    pub errors: Vec<FieldError>,
}

impl QueryParams {
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        let values =
            actix_web::web::Query::<HashMap<String, String>>::from_query(req.query_string())
                .map_err(|e| ApiError::InvalidQuery(vec![FieldError::new("query", e.to_string())]))?
                .into_inner();
        // NUL and other control characters never belong in a parameter, and PostgreSQL
        // refuses NUL in text: answer 400 naming each one, before any lookup.
        let mut controls: Vec<FieldError> = values
            .iter()
            .filter(|(_, value)| value.chars().any(char::is_control))
            .map(|(name, _)| FieldError::new(name, "must not contain control characters"))
            .collect();
        if !controls.is_empty() {
            controls.sort_by(|a, b| a.field.cmp(&b.field));
            return Err(ApiError::InvalidQuery(controls));
        }
        Ok(Self {
            values,
            errors: Vec::new(),
        })
    }

    /// The raw value, trimmed; empty counts as absent.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// An optional slug (a city), lower-cased; anything else is recorded as an error.
    pub fn slug(&mut self, name: &str) -> Option<String> {
        let value = self.text(name)?.to_lowercase();
        if slug::is_slug(&value) {
            Some(value)
        } else {
            self.error(name, "must be a lower-case slug such as `riyadh`");
            None
        }
    }

    pub fn required_slug(&mut self, name: &str) -> Option<String> {
        if self.text(name).is_none() {
            self.errors.push(FieldError::new(name, "is required"));
            return None;
        }
        self.slug(name)
    }

    /// An optional search term (a specialty), lower-cased.
    pub fn term(&mut self, name: &str) -> Option<String> {
        let value = self.text(name)?.to_lowercase();
        if slug::is_search_term(&value) {
            Some(value)
        } else {
            self.error(
                name,
                format!(
                    "must be at most {} letters, digits, spaces, dashes or dots",
                    slug::MAX_KEY_CHARS
                ),
            );
            None
        }
    }

    pub fn required_text(&mut self, name: &str) -> Option<String> {
        let value = self.text(name).map(str::to_owned);
        if value.is_none() {
            self.errors.push(FieldError::new(name, "is required"));
        }
        value
    }

    /// A parsed optional value; an unparseable one is recorded as an error.
    pub fn parsed<T: FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        let raw = self.text(name)?.to_owned();
        match raw.parse() {
            Ok(value) => Some(value),
            Err(_) => {
                self.errors.push(FieldError::new(
                    name,
                    format!("`{}` is not {expected}", echo(&raw)),
                ));
                None
            }
        }
    }

    pub fn required<T: FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        if self.text(name).is_none() {
            self.errors.push(FieldError::new(name, "is required"));
            return None;
        }
        self.parsed(name, expected)
    }

    pub fn required_date(&mut self, name: &str) -> Option<NaiveDate> {
        self.required(name, "a date (YYYY-MM-DD)")
    }

    /// `limit`: a page size from 1 to 200, 50 when absent.
    pub fn limit(&mut self) -> i64 {
        let limit = self.parsed::<i64>("limit", "a whole number").unwrap_or(50);
        if !(1..=200).contains(&limit) {
            self.error("limit", "must be between 1 and 200");
        }
        limit
    }

    /// `cursor`: a `next_cursor` this API gave out (see `http::cursor`).
    pub fn cursor<T: FromStr>(&mut self) -> Option<(chrono::DateTime<chrono::Utc>, T)> {
        let raw = self.text("cursor")?.to_owned();
        let decoded = super::cursor::decode(&raw);
        if decoded.is_none() {
            self.error("cursor", "is not a cursor this API gave out");
        }
        decoded
    }

    /// Records every parameter not in `known`: a client still sending one this route no
    /// longer reads (`before` of the old pages) learns it, instead of getting page one
    /// again and again.
    pub fn only(&mut self, known: &[&str]) {
        let mut unknown: Vec<String> = self
            .values
            .keys()
            .filter(|name| !known.contains(&name.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        for name in unknown {
            self.error(&name, "is not a parameter of this route");
        }
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    /// Err with every problem found, or Ok.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidQuery(self.errors))
        }
    }
}
