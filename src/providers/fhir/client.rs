//! The FHIR server over HTTP: reads that keep the resource version, conditional updates,
//! and search bundles followed page by page. HTTP statuses become adapter errors here.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, HeaderValue, IF_MATCH};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::FhirAdapter;
use crate::providers::adapter::AdapterError;

pub(super) const FHIR_JSON: &str = "application/fhir+json";

impl FhirAdapter {
    /// `base_url` joined with a relative path, whether or not the base ends with '/'.
    pub(super) fn endpoint(&self, path: &str) -> Result<Url, AdapterError> {
        let base = format!("{}/", self.settings.base_url.trim_end_matches('/'));
        Url::parse(&base)
            .and_then(|base| base.join(path))
            .map_err(|e| AdapterError::Internal(format!("bad FHIR base URL: {e}")))
    }

    pub(super) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self
            .client
            .request(method, url)
            .header(ACCEPT, HeaderValue::from_static(FHIR_JSON));
        match &self.settings.bearer_token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    /// Sends and reads the whole body (capped). Transport failures become Timeout,
    /// Unavailable or Refused; HTTP statuses (a redirect too) are left to the caller.
    pub(super) async fn send(&self, request: RequestBuilder) -> Result<Reply, AdapterError> {
        let started = Instant::now();
        let reply = self.client.fetch(request).await.map_err(|e| {
            AdapterError::from_outbound(
                e,
                Duration::from_millis(started.elapsed().as_millis() as u64),
            )
        })?;
        let etag = reply
            .headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(version_of_etag);
        Ok(Reply {
            status: reply.status,
            etag,
            body: reply.body,
        })
    }

    /// GET `<type>/<id>`: the resource, its version and a typed view of it.
    pub(super) async fn read<T: DeserializeOwned>(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Versioned<T>, AdapterError> {
        self.read_optional(resource_type, id)
            .await?
            .ok_or_else(|| AdapterError::Rejected(format!("{resource_type}/{id} does not exist")))
    }

    /// Like `read`, but a missing (404 or 410) resource is `None`.
    pub(super) async fn read_optional<T: DeserializeOwned>(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, AdapterError> {
        let url = self.endpoint(&format!("{resource_type}/{id}"))?;
        let reply = self.send(self.request(Method::GET, url)).await?;
        if matches!(reply.status, StatusCode::NOT_FOUND | StatusCode::GONE) {
            return Ok(None);
        }
        let etag = reply.etag.clone();
        let resource = reply.json(&format!("{resource_type}/{id}"))?;
        Versioned::parse(resource, etag, resource_type).map(Some)
    }

    /// PUT `<type>/<id>` with `If-Match` on the version we read; 412 is `Write::Conflict`.
    pub(super) async fn update(
        &self,
        resource_type: &str,
        id: &str,
        resource: &Value,
        version: Option<&str>,
    ) -> Result<Write, AdapterError> {
        // Without a version the write could not detect a concurrent booker: refuse it.
        let version = version.ok_or_else(|| {
            AdapterError::InvalidResponse(format!("{resource_type}/{id} has no version"))
        })?;
        let url = self.endpoint(&format!("{resource_type}/{id}"))?;
        let reply = self
            .send(
                self.request(Method::PUT, url)
                    .header(CONTENT_TYPE, FHIR_JSON)
                    .header(IF_MATCH, format!("W/\"{version}\""))
                    .header("Prefer", "return=minimal")
                    .body(resource.to_string()),
            )
            .await?;
        if reply.status == StatusCode::PRECONDITION_FAILED {
            return Ok(Write::Conflict);
        }
        reply.check(&format!("{resource_type}/{id}"))?;
        Ok(Write::Done)
    }

    /// One page of a search: its `resource_type` entries and the `next` page, if any.
    pub(super) async fn search_page<T: DeserializeOwned>(
        &self,
        url: Url,
        resource_type: &str,
    ) -> Result<Page<T>, AdapterError> {
        let what = format!("{resource_type} search");
        let reply = self.send(self.request(Method::GET, url.clone())).await?;
        let bundle: Bundle = parse_resource(&reply.json(&what)?, "Bundle")?;
        let mut resources = Vec::new();
        for entry in bundle.entry {
            // Included resources and warnings are not results.
            if matches!(entry.search_mode(), Some("include" | "outcome")) {
                continue;
            }
            let resource = entry.resource.ok_or_else(|| {
                AdapterError::InvalidResponse(format!("{what}: an entry without a resource"))
            })?;
            resources.push(parse_resource(&resource, resource_type)?);
        }
        let next = match bundle.link.iter().find(|l| l.relation == "next") {
            Some(link) => Some(self.next_page_url(&url, &link.url)?),
            None => None,
        };
        Ok(Page { resources, next })
    }

    /// The `next` link, resolved against the page it came from. It must stay on our server:
    /// we would otherwise send the bearer token wherever a server points us.
    fn next_page_url(&self, current: &Url, link: &str) -> Result<Url, AdapterError> {
        let next = current
            .join(link)
            .map_err(|e| AdapterError::InvalidResponse(format!("bad next link `{link}`: {e}")))?;
        if next.origin() != self.endpoint("")?.origin() {
            return Err(AdapterError::InvalidResponse(format!(
                "next link `{link}` leaves the FHIR server"
            )));
        }
        Ok(next)
    }
}

/// `W/"3"` or `"3"` → `3`.
fn version_of_etag(etag: &str) -> Option<String> {
    let tag = etag.trim().trim_start_matches("W/");
    let version = tag.strip_prefix('"')?.strip_suffix('"')?;
    (!version.is_empty()).then(|| version.to_owned())
}

/// Checks `resourceType` and reads the fields we use; anything else is the server's garbage.
fn parse_resource<T: DeserializeOwned>(
    resource: &Value,
    expected: &str,
) -> Result<T, AdapterError> {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some(found) if found == expected => {}
        Some("OperationOutcome") => {
            return Err(AdapterError::InvalidResponse(format!(
                "expected a {expected}, got an OperationOutcome: {}",
                outcome_text(resource)
            )));
        }
        Some(found) => {
            return Err(AdapterError::InvalidResponse(format!(
                "expected a {expected}, got a {found}"
            )));
        }
        None => {
            return Err(AdapterError::InvalidResponse(format!(
                "expected a {expected}, got JSON without a resourceType"
            )));
        }
    }
    serde_path_to_error::deserialize(resource)
        .map_err(|e| AdapterError::InvalidResponse(format!("{expected}: {e}")))
}

/// The first issue of an OperationOutcome, for error messages.
fn outcome_text(outcome: &Value) -> String {
    let issue = &outcome["issue"][0];
    let text = issue["diagnostics"]
        .as_str()
        .or_else(|| issue["details"]["text"].as_str())
        .unwrap_or("no details");
    text.chars().take(200).collect()
}

pub(super) struct Reply {
    pub(super) status: StatusCode,
    /// The version from the `ETag` header.
    etag: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    /// The JSON body of a 2xx answer.
    pub(super) fn json(&self, what: &str) -> Result<Value, AdapterError> {
        self.check(what)?;
        serde_json::from_slice(&self.body)
            .map_err(|e| AdapterError::InvalidResponse(format!("{what}: not JSON: {e}")))
    }

    /// A 4xx is Rejected, a 5xx Unavailable, anything else but 2xx garbage.
    fn check(&self, what: &str) -> Result<(), AdapterError> {
        if !self.status.is_success() {
            let detail = serde_json::from_slice::<Value>(&self.body)
                .map(|outcome| outcome_text(&outcome))
                .unwrap_or_default();
            let message = format!("{what}: HTTP {} {detail}", self.status.as_u16());
            return Err(if self.status.is_server_error() {
                AdapterError::Unavailable(message)
            } else if self.status.is_client_error() {
                AdapterError::Rejected(message)
            } else {
                AdapterError::InvalidResponse(message)
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    Done,
    /// 412: the resource changed since we read it.
    Conflict,
}

/// A resource as read (to write it back whole), its version and the fields we use.
pub(super) struct Versioned<T> {
    pub(super) resource: Value,
    pub(super) version: Option<String>,
    pub(super) view: T,
}

impl<T: DeserializeOwned> Versioned<T> {
    pub(super) fn parse(
        resource: Value,
        etag: Option<String>,
        expected: &str,
    ) -> Result<Self, AdapterError> {
        let view = parse_resource(&resource, expected)?;
        let version = resource["meta"]["versionId"]
            .as_str()
            .map(str::to_owned)
            .or(etag);
        Ok(Self {
            resource,
            version,
            view,
        })
    }
}

pub(super) struct Page<T> {
    pub(super) resources: Vec<T>,
    pub(super) next: Option<Url>,
}

#[derive(Deserialize)]
struct Bundle {
    #[serde(default)]
    entry: Vec<BundleEntry>,
    #[serde(default)]
    link: Vec<BundleLink>,
}

#[derive(Deserialize)]
struct BundleEntry {
    resource: Option<Value>,
    search: Option<Value>,
}

impl BundleEntry {
    fn search_mode(&self) -> Option<&str> {
        self.search.as_ref()?.get("mode")?.as_str()
    }
}

#[derive(Deserialize)]
struct BundleLink {
    relation: String,
    url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_versions() {
        assert_eq!(version_of_etag("W/\"3\"").as_deref(), Some("3"));
        assert_eq!(version_of_etag("\"abc\"").as_deref(), Some("abc"));
        assert_eq!(version_of_etag("W/\"\""), None);
        assert_eq!(version_of_etag("3"), None);
    }
}
