//! The hotel's DAV server as a plain HTTP client: calendar-query REPORTs, conditional PUTs of
//! our events, GETs to recognise them and DELETEs, with HTTP statuses mapped to adapter errors.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use icalendar::Component;
use reqwest::{Method, RequestBuilder, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};

use super::event::OurEvent;
use super::excerpt;
use super::multistatus::multistatus_calendar_data;
use super::occupancy::{Night, Occupancy, occupancies, parse_calendar};
use crate::http::outbound::Outbound;
use crate::providers::adapter::AdapterError;

const CALENDAR_CONTENT_TYPE: &str = "text/calendar; charset=utf-8";
const XML_CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// The server, its credentials and the hotel's zone: owned, so searches can run in tasks.
pub(super) struct Dav {
    pub(super) client: Outbound,
    pub(super) base_url: String,
    pub(super) username: Option<String>,
    pub(super) password: Option<SecretString>,
    pub(super) timezone: Tz,
}

pub(super) enum Created {
    New,
    /// A retry: the href already holds our event.
    AlreadyOurs,
    /// Someone else's event sits at our href.
    Foreign,
}

impl Dav {
    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match &self.username {
            Some(username) => builder.basic_auth(
                username,
                self.password.as_ref().map(|p| p.expose_secret().to_owned()),
            ),
            None => builder,
        }
    }

    /// Sends and reads the whole body (capped). The client's own timeout applies; its length
    /// is not known here, so a timeout reports how long this request actually waited.
    async fn exchange(
        &self,
        builder: RequestBuilder,
    ) -> Result<(StatusCode, String), AdapterError> {
        let started = Instant::now();
        let reply = self.client.fetch(builder).await.map_err(|e| {
            let waited = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            AdapterError::from_outbound(e, Duration::from_millis(waited))
        })?;
        Ok((
            reply.status,
            String::from_utf8_lossy(&reply.body).into_owned(),
        ))
    }

    /// The occupancies of the events around these nights. The query window is a day wider on
    /// each side: servers place all-day and floating events in their own zone (Radicale: UTC),
    /// so a tight window in the hotel's zone could miss one. The exact count is ours.
    pub(super) async fn occupancies(
        &self,
        calendar_path: &str,
        nights: &[Night],
    ) -> Result<Vec<Occupancy>, AdapterError> {
        let (Some(first), Some(last)) = (nights.first(), nights.last()) else {
            return Ok(Vec::new());
        };
        let start = first.start - TimeDelta::days(1);
        let end = last.end + TimeDelta::days(1);
        let path = format!("{}/", calendar_path.trim_end_matches('/'));
        let report =
            Method::from_bytes(b"REPORT").map_err(|e| AdapterError::Internal(e.to_string()))?;
        let builder = self
            .request(report, &path)
            .header("Depth", "1")
            .header(header::CONTENT_TYPE, XML_CONTENT_TYPE)
            .body(calendar_query(start, end));
        let (status, body) = self.exchange(builder).await?;
        if status != StatusCode::MULTI_STATUS {
            return Err(unexpected(status, &format!("REPORT {path}"), &body));
        }
        let mut held = Vec::new();
        for ics in multistatus_calendar_data(&body)? {
            held.extend(occupancies(&ics, self.timezone)?);
        }
        Ok(held)
    }

    /// PUT only if the href is free; a taken href is ours (a retry) or someone else's.
    pub(super) async fn create(
        &self,
        event: &OurEvent,
        ics: &str,
    ) -> Result<Created, AdapterError> {
        let builder = self
            .request(Method::PUT, &event.path)
            .header(header::IF_NONE_MATCH, "*")
            .header(header::CONTENT_TYPE, CALENDAR_CONTENT_TYPE)
            .body(ics.to_owned());
        let (status, body) = self.exchange(builder).await?;
        match status {
            s if s.is_success() => Ok(Created::New),
            StatusCode::PRECONDITION_FAILED if self.holds_our_event(event).await? => {
                Ok(Created::AlreadyOurs)
            }
            StatusCode::PRECONDITION_FAILED => Ok(Created::Foreign),
            s => Err(unexpected(s, &format!("PUT {}", event.path), &body)),
        }
    }

    pub(super) async fn holds_our_event(&self, event: &OurEvent) -> Result<bool, AdapterError> {
        let (status, body) = self
            .exchange(self.request(Method::GET, &event.path))
            .await?;
        match status {
            StatusCode::NOT_FOUND | StatusCode::GONE => Ok(false),
            s if s.is_success() => {
                let calendar = parse_calendar(&body)?;
                Ok(calendar
                    .events()
                    .any(|e| e.get_uid() == Some(event.uid.as_str())))
            }
            s => Err(unexpected(s, &format!("GET {}", event.path), &body)),
        }
    }

    pub(super) async fn delete(&self, path: &str) -> Result<(), AdapterError> {
        let (status, body) = self.exchange(self.request(Method::DELETE, path)).await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND | StatusCode::GONE => Ok(()),
            s => Err(unexpected(s, &format!("DELETE {path}"), &body)),
        }
    }

    /// Best effort: deletes what this booking wrote, checking each is ours first (an
    /// unanswered PUT may have met someone else's event). A failure leaves a room blocked,
    /// never sold twice, so it is logged rather than returned.
    pub(super) async fn roll_back(&self, written: &[&OurEvent]) {
        for event in written {
            let outcome = match self.holds_our_event(event).await {
                Ok(true) => self.delete(&event.path).await,
                Ok(false) => Ok(()),
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                tracing::warn!(path = %event.path, %error, "CalDAV roll-back failed: the room stays blocked");
            }
        }
    }
}

/// A calendar-query for VEVENTs over [start, end), recurring ones expanded into instances.
/// The values are our own UTC stamps (digits, `T`, `Z`): nothing to escape.
fn calendar_query(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let start = start.format("%Y%m%dT%H%M%SZ");
    let end = end.format("%Y%m%dT%H%M%SZ");
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <C:calendar-data>
      <C:expand start="{start}" end="{end}"/>
    </C:calendar-data>
  </D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VEVENT">
        <C:time-range start="{start}" end="{end}"/>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>
"#
    )
}

fn unexpected(status: StatusCode, what: &str, body: &str) -> AdapterError {
    let message = format!("{what}: HTTP {status}: {}", excerpt(body));
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        AdapterError::Unavailable(message)
    } else if status.is_client_error() {
        AdapterError::Rejected(message)
    } else {
        AdapterError::InvalidResponse(message)
    }
}
