//! The customer site (`/`) and the agent console (`/agent`): hand-written HTML, CSS and
//! JavaScript modules compiled into the binary, so one file deploys and nothing is fetched
//! from elsewhere at run time. The pages talk only to the public `/v1` API.
//!
//! These routes are not part of the API contract (no RouteTable, no openapi.yaml entry).
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from
//! files on this origin, never inline, so an injected string cannot run.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, guard, web};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// `blob:` frames: an invoice is fetched with the bearer token and shown from a Blob URL
/// for printing (a plain navigation could not send the token).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Files change only with a new build, but their names carry no hash, so the browser
/// revalidates each time (a cheap 304 thanks to the ETag) and never mixes two versions.
const CACHE_CONTROL: &str = "no-cache";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("assets/", $name)),
        }
    };
}

/// Everything under `/assets/{name}`.
const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("lang.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("card.js", "text/javascript; charset=utf-8"),
    asset!("auth.js", "text/javascript; charset=utf-8"),
    asset!("account.js", "text/javascript; charset=utf-8"),
    asset!("search.js", "text/javascript; charset=utf-8"),
    asset!("search-dialogs.js", "text/javascript; charset=utf-8"),
    asset!("hotel-results.js", "text/javascript; charset=utf-8"),
    asset!("search-dates.js", "text/javascript; charset=utf-8"),
    asset!("rooms.js", "text/javascript; charset=utf-8"),
    asset!("booking.js", "text/javascript; charset=utf-8"),
    asset!("bookings.js", "text/javascript; charset=utf-8"),
    asset!("invoices.js", "text/javascript; charset=utf-8"),
    asset!("plans.js", "text/javascript; charset=utf-8"),
    asset!("site.js", "text/javascript; charset=utf-8"),
    asset!("agent.js", "text/javascript; charset=utf-8"),
    asset!("agent-client.js", "text/javascript; charset=utf-8"),
    asset!("agent-queues.js", "text/javascript; charset=utf-8"),
    // Medical-travel packages (#16, point 1).
    asset!("packages.js", "text/javascript; charset=utf-8"),
    // Waitlists (#16 point 2).
    asset!("waitlist.js", "text/javascript; charset=utf-8"),
    // Client links (#16 points 3 and 4).
    asset!("client-links.js", "text/javascript; charset=utf-8"),
    asset!("agent-links.js", "text/javascript; charset=utf-8"),
];

const SITE_PAGE: Asset = asset!("index.html", "text/html; charset=utf-8");
const AGENT_PAGE: Asset = asset!("agent.html", "text/html; charset=utf-8");

/// Registers `GET /`, `GET /agent` and `GET /assets/{name}` (HEAD too). The method is part
/// of each route's match, so any other method falls through to the API's 404 problem.
pub fn mount(config: &mut web::ServiceConfig) {
    config
        .route("/", read().to(site_page))
        .route("/agent", read().to(agent_page))
        .route("/assets/{name}", read().to(asset_get));
}

fn read() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

async fn site_page(req: HttpRequest) -> HttpResponse {
    serve(&req, &SITE_PAGE)
}

async fn agent_page(req: HttpRequest) -> HttpResponse {
    serve(&req, &AGENT_PAGE)
}

async fn asset_get(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name.as_str())
        .ok_or(ApiError::RouteNotFound)?;
    Ok(serve(&req, asset))
}

/// A strong ETag per file, computed once per process.
fn etag(asset: &Asset) -> &'static str {
    static ETAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    let etags = ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .chain([&SITE_PAGE, &AGENT_PAGE])
            .map(|asset| {
                let digest = Sha256::digest(asset.body);
                let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
                (asset.name, format!("\"{hex}\""))
            })
            .collect()
    });
    etags.get(asset.name).map(String::as_str).unwrap_or("\"\"")
}

fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let tag = etag(asset);
    let unchanged = crate::http::conditional::none_match(req, tag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    if unchanged {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_unique_name_and_a_body() {
        let mut names: Vec<&str> = ASSETS.iter().map(|asset| asset.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        assert!(ASSETS.iter().all(|asset| !asset.body.is_empty()));
    }

    #[test]
    fn pages_load_scripts_from_files_only() {
        for page in [&SITE_PAGE, &AGENT_PAGE] {
            let html = std::str::from_utf8(page.body).unwrap();
            assert!(html.contains(r#"<html lang="ar" dir="rtl">"#));
            // No inline script or style: the CSP would refuse them.
            assert!(
                !html.contains("<script>"),
                "{} has an inline script",
                page.name
            );
            assert!(
                !html.contains("<style"),
                "{} has an inline style",
                page.name
            );
            assert!(
                !html.contains(" style="),
                "{} has a style attribute",
                page.name
            );
            let event_attribute = html.split(" on").skip(1).any(|rest| {
                let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(!event_attribute, "{} has an event attribute", page.name);
        }
    }

    #[test]
    fn every_module_import_is_served() {
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
            let source = std::str::from_utf8(asset.body).unwrap();
            for line in source.lines().filter(|line| line.starts_with("import ")) {
                let Some(start) = line.find("'./") else {
                    continue;
                };
                let rest = &line[start + 3..];
                let name = &rest[..rest.find('\'').unwrap()];
                assert!(
                    ASSETS.iter().any(|asset| asset.name == name),
                    "{} imports {name}, which is not served",
                    asset.name
                );
            }
        }
    }
}
