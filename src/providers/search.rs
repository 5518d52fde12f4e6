//! Federated availability search: every matching active provider is asked at once, each
//! under its own timeout; their offers are priced (fee + VAT), signed and merged. A slow or
//! failing provider never fails the search: it is reported with its status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::domain::occupancy::{Occupancy, RoomGuests};

use actix_web::web::Bytes;

use super::adapter::{Adapter, AdapterError, HttpClients};
use super::answer_cache::{self, AnswerCache, CityRoster, Lookup};
use super::hints::{Hint, empty_answer_hints};
use super::local;
use super::model::{AvailabilityQuery, ProviderKind, ProviderOffer};
use super::offer::{OfferClaims, OfferSigner};
use super::places::{self, Distance};
use super::policy::ProviderTerms;
use super::result_view::ResultView;
use super::store::{self, ProviderRow, ProviderSummary};
use crate::db::{PgPool, ReadPool, run_blocking};
use crate::domain::money::{FeePolicy, Quote};
use crate::error::ApiError;

/// What one search needs, built once at start-up.
pub struct Searcher {
    pub pool: PgPool,
    /// Where the search reads (a replica when one is close enough): it only reads, and a
    /// hold checks what it offered again on the primary.
    pub read: ReadPool,
    pub clients: HttpClients,
    pub fees: FeePolicy,
    pub signer: OfferSigner,
    pub provider_timeout: Duration,
    pub offer_ttl: chrono::Duration,
    pub answers: AnswerCache,
    /// Plan discounts on our fee, from billing (which sits above providers).
    pub plans: Arc<dyn PlanDiscounts>,
}

/// Whose plan prices a search: a signed-in customer's own, or the client staff search for.
#[derive(Debug, Clone, Copy)]
pub enum Shopper {
    User(Uuid),
    Customer(Uuid),
}

/// A customer's plan discount on our fee, in percent (0 without a plan in good standing);
/// `None` when there is no such customer.
pub trait PlanDiscounts: Send + Sync {
    fn percent(
        &self,
        conn: &mut diesel::PgConnection,
        shopper: Shopper,
    ) -> Result<Option<i32>, ApiError>;
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub kind: ProviderKind,
    pub city: String,
    pub availability: AvailabilityQuery,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderStatusKind {
    Ok,
    Timeout,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderStatus {
    pub id: Uuid,
    pub name_ar: String,
    pub name_en: String,
    pub adapter: String,
    pub status: ProviderStatusKind,
    pub latency_ms: u64,
    pub offer_count: usize,
    /// A short, stable reason ([`AdapterError::reason`]): anyone may search, so never a URL
    /// or what the provider sent; those go to the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// What is offered or booked within a provider: a room type, a clinic service, a schedule.
#[derive(Debug, Clone, Serialize)]
pub struct UnitSummary {
    pub code: String,
    pub name_ar: String,
    pub name_en: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Offer {
    pub offer_id: String,
    pub provider: ProviderSummary,
    pub unit: UnitSummary,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nights: Option<u32>,
    pub quantity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guests: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_guests: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specialty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub practitioner: Option<String>,
    pub price: Quote,
    /// What booking it charges now (our fee and VAT, and the provider's price when the
    /// provider is prepaid) and what is left to pay at the provider.
    #[serde(with = "rust_decimal::serde::str")]
    pub due_now: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub due_at_provider: Decimal,
    /// A stay's rooms: who stays in each and its price for the stay (the provider's share;
    /// they add up to `price.provider_price`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<super::rates::RoomLine>,
    /// How many more of these are free for every night asked ("2 left"), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<u32>,
    /// The provider's cancellation and change terms for this offer, as dated steps.
    pub terms: super::policy::OfferTerms,
    /// How far the provider is from its city's landmark or centre, when it is placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<Distance>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    pub offers: Vec<Offer>,
    /// More offers matched than `limit`; narrow the search to see the rest.
    pub truncated: bool,
    pub providers: Vec<ProviderStatus>,
    /// Why nothing was found, when nothing was (`hints::Hint`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
}

/// One provider's answer, or why there is none.
enum Outcome {
    Offers(Vec<ProviderOffer>),
    Failed(ProviderStatusKind, &'static str),
}

impl Searcher {
    /// The search's JSON answer: a recent one from the answer cache when only our own
    /// inventory answered it, the one another request is fetching for the same question, or
    /// else asked of every provider; then priced for the customer's plan (`fee_discount`,
    /// percent off our fee), after the cache, which holds the answer everyone gets; then
    /// sorted and filtered as `view` asks.
    pub async fn answer(
        self: &Arc<Self>,
        request: SearchRequest,
        fee_discount: i32,
        view: &ResultView,
    ) -> Result<Bytes, ApiError> {
        let body = self.shared_answer(request).await?;
        if fee_discount == 0 && view.is_default() {
            return Ok(body);
        }
        let mut answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(ApiError::internal)?;
        if fee_discount != 0 {
            self.discount(&mut answer, fee_discount)?;
        }
        view.apply(&mut answer);
        serde_json::to_vec(&answer)
            .map(Bytes::from)
            .map_err(ApiError::internal)
    }

    /// The answer as everyone gets it (no plan discount), cached or fresh.
    async fn shared_answer(self: &Arc<Self>, request: SearchRequest) -> Result<Bytes, ApiError> {
        let (fill, shared) = match self.answers.lookup(&request) {
            Lookup::Hit(body) => (None, Some(body)),
            Lookup::Wait(done) => (None, answer_cache::wait(done).await),
            Lookup::Fill(fill) => (Some(fill), None),
            Lookup::Off => (None, None),
        };
        if let Some(body) = shared {
            crate::metrics::METRICS.search_answer("cache");
            return Ok(body);
        }
        crate::metrics::METRICS.search_answer("providers");
        let results = self.search(request).await?;
        let mut json = serde_json::to_vec(&results).map_err(ApiError::internal)?;
        // A kept answer holds its whole allocation: no spare capacity.
        json.shrink_to_fit();
        let body = Bytes::from(json);
        let only_local = results
            .providers
            .iter()
            .all(|p| p.adapter == "local" && p.status == ProviderStatusKind::Ok);
        if let Some(fill) = fill {
            fill.finish(body.clone(), only_local);
        }
        Ok(body)
    }

    /// A search answer repriced for a subscriber: each offer's quote with the discount line,
    /// its amounts due, and its id signed again with the discount it now carries. The order
    /// holds: the discount takes the same amount off every offer.
    fn discount(&self, answer: &mut serde_json::Value, fee_discount: i32) -> Result<(), ApiError> {
        let now = Utc::now();
        let offers = answer
            .get_mut("offers")
            .and_then(|offers| offers.as_array_mut())
            .into_iter()
            .flatten();
        for offer in offers {
            let Some(mut claims) = offer["offer_id"]
                .as_str()
                .and_then(|id| self.signer.verify(id, now).ok())
            else {
                continue;
            };
            let prepaid = offer["provider"]["prepaid"].as_bool().unwrap_or(false);
            let price = self
                .fees
                .quote_with_discount(claims.provider_price, fee_discount);
            let (due_now, due_at_provider) = price.split(prepaid);
            claims.total = price.total();
            claims.fee_discount = fee_discount;
            offer["offer_id"] = self.signer.sign(&claims).into();
            offer["price"] = serde_json::to_value(price).map_err(ApiError::internal)?;
            offer["due_now"] = due_now.to_string().into();
            offer["due_at_provider"] = due_at_provider.to_string().into();
        }
        Ok(())
    }

    async fn search(self: &Arc<Self>, request: SearchRequest) -> Result<SearchResults, ApiError> {
        let (kind, city) = (request.kind, request.city.clone());
        let roster = match self.answers.roster(kind, &city) {
            Some(roster) => roster,
            None => {
                let read_at = self.answers.epoch();
                let lookup = city.clone();
                let roster = Arc::new(
                    run_blocking(self.read.pool(), move |conn| {
                        Ok(CityRoster {
                            providers: store::active_providers(conn, kind, &lookup)?,
                            place: places::city(conn, &lookup)?.map(|city| city.place()),
                        })
                    })
                    .await?,
                );
                self.answers
                    .keep_roster(kind, city, roster.clone(), read_at);
                roster
            }
        };
        // Our own providers in one query, asked here; each outside one in a task of its own.
        let local: Vec<&ProviderRow> = roster
            .providers
            .iter()
            .filter(|p| p.adapter == "local")
            .collect();
        let mut tasks: JoinSet<Vec<(Uuid, Outcome, Duration)>> = JoinSet::new();
        for provider in roster.providers.iter().filter(|p| p.adapter != "local") {
            tasks.spawn(
                self.clone()
                    .search_external(provider.clone(), request.availability.clone()),
            );
        }
        let mut outcomes = if local.is_empty() {
            Vec::new()
        } else {
            self.search_local(local, &request).await
        };
        while let Some(joined) = tasks.join_next().await {
            outcomes.extend(joined.map_err(ApiError::internal)?);
        }
        let mut results = self.merge(&roster, outcomes, &request);
        if results.offers.is_empty() {
            let roster = roster.clone();
            let availability = request.availability.clone();
            results.hints = run_blocking(self.read.pool(), move |conn| {
                Ok(empty_answer_hints(conn, &roster.providers, &availability)?)
            })
            .await?;
        }
        Ok(results)
    }

    /// Every local provider in one query: one round trip, however many there are.
    async fn search_local(
        &self,
        providers: Vec<&ProviderRow>,
        request: &SearchRequest,
    ) -> Vec<(Uuid, Outcome, Duration)> {
        let started = Instant::now();
        // Time zones are checked when a provider is saved; one that does not parse has no nights.
        let zones: Vec<(Uuid, chrono_tz::Tz)> = providers
            .iter()
            .filter_map(|p| Some((p.id, p.timezone.parse().ok()?)))
            .collect();
        let query = request.availability.clone();
        let limit = i64::try_from(request.limit + 1).unwrap_or(i64::MAX);
        let lookup = run_blocking(self.read.pool(), move |conn| {
            Ok(match &query {
                AvailabilityQuery::Stay(stay) => local::search_stays(conn, &zones, stay)?,
                AvailabilityQuery::Slots(slots) => local::search_slots(conn, &zones, slots, limit)?,
            })
        });
        let answer = tokio::time::timeout(self.provider_timeout, lookup).await;
        let elapsed = started.elapsed();
        providers
            .iter()
            .map(|&&ProviderRow { id: provider, .. }| {
                let outcome = match &answer {
                    Ok(Ok(offers)) => Outcome::Offers(
                        offers.iter().filter(|(id, _)| *id == provider).map(|(_, offer)| offer.clone()).collect(),
                    ),
                    Ok(Err(error)) => {
                        tracing::warn!(provider_id = %provider, error = %error, "local search failed");
                        Outcome::Failed(ProviderStatusKind::Error, "unavailable")
                    }
                    Err(_) => Outcome::Failed(ProviderStatusKind::Timeout, "timeout"),
                };
                (provider, outcome, elapsed)
            })
            .collect()
    }

    async fn search_external(
        self: Arc<Self>,
        provider: ProviderRow,
        query: AvailabilityQuery,
    ) -> Vec<(Uuid, Outcome, Duration)> {
        let started = Instant::now();
        let outcome = match Adapter::for_provider(&provider, &self.clients) {
            Err(error) => {
                tracing::warn!(provider_id = %provider.id, %error, "provider is misconfigured");
                Outcome::Failed(ProviderStatusKind::Error, "misconfigured")
            }
            Ok(adapter) => {
                match tokio::time::timeout(self.provider_timeout, adapter.search(&query)).await {
                    Ok(Ok(offers)) => Outcome::Offers(offers),
                    Ok(Err(AdapterError::Timeout(_))) | Err(_) => {
                        Outcome::Failed(ProviderStatusKind::Timeout, "timeout")
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(provider_id = %provider.id, %error, "provider search failed");
                        Outcome::Failed(ProviderStatusKind::Error, error.reason())
                    }
                }
            }
        };
        vec![(provider.id, outcome, started.elapsed())]
    }

    fn merge(
        &self,
        roster: &CityRoster,
        outcomes: Vec<(Uuid, Outcome, Duration)>,
        request: &SearchRequest,
    ) -> SearchResults {
        let now = Utc::now();
        let (guests, nights) = match &request.availability {
            AvailabilityQuery::Stay(stay) => (Some(stay.guests), Some(stay.nights())),
            AvailabilityQuery::Slots(_) => (None, None),
        };
        let mut offers = Vec::new();
        let mut statuses = Vec::new();
        for (provider_id, outcome, latency) in outcomes {
            let Some(provider) = roster.providers.iter().find(|p| p.id == provider_id) else {
                continue;
            };
            let (status, offer_count, error) = match outcome {
                Outcome::Offers(found) => {
                    let count = found.len();
                    let distance = roster
                        .place
                        .as_ref()
                        .and_then(|place| place.distance_to(provider));
                    let terms = ProviderTerms::of(provider);
                    offers.extend(found.into_iter().map(|offer| Offer {
                        distance: distance.clone(),
                        ..self.offer_for_until(provider, &terms, offer, (guests, nights), now, 0)
                    }));
                    (ProviderStatusKind::Ok, count, None)
                }
                Outcome::Failed(status, reason) => (status, 0, Some(reason)),
            };
            crate::metrics::METRICS.observe_provider(
                &provider.id.to_string(),
                &provider.adapter,
                latency.as_secs_f64(),
                match status {
                    ProviderStatusKind::Ok => None,
                    ProviderStatusKind::Timeout => Some("timeout"),
                    _ => Some("error"),
                },
            );
            statuses.push(ProviderStatus {
                id: provider.id,
                name_ar: provider.name_ar.clone(),
                name_en: provider.name_en.clone(),
                adapter: provider.adapter.clone(),
                status,
                latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                offer_count,
                error,
            });
        }
        offers.sort_by(|a, b| {
            a.price
                .total()
                .cmp(&b.price.total())
                .then(a.start.cmp(&b.start))
                .then(a.offer_id.cmp(&b.offer_id))
        });
        let truncated = offers.len() > request.limit;
        offers.truncate(request.limit);
        statuses.sort_by(|a, b| a.name_en.cmp(&b.name_en).then(a.id.cmp(&b.id)));
        SearchResults {
            offers,
            truncated,
            providers: statuses,
            hints: Vec::new(),
        }
    }

    /// A priced, signed offer valid for the usual time (used again when a booking finds that
    /// an offer's price moved, to hand back the fresh one, priced for the customer's plan).
    pub fn offer_for(
        &self,
        provider: &ProviderRow,
        offer: ProviderOffer,
        guests: Option<u32>,
        nights: Option<u32>,
        fee_discount: i32,
    ) -> Offer {
        let terms = ProviderTerms::of(provider);
        self.offer_for_until(
            provider,
            &terms,
            offer,
            (guests, nights),
            Utc::now(),
            fee_discount,
        )
    }

    /// An offer made `now` (it expires `offer_ttl` later), with `provider`'s `terms` read once
    /// for all its offers; `stay` is the guests and nights asked for, if a stay.
    fn offer_for_until(
        &self,
        provider: &ProviderRow,
        terms: &ProviderTerms,
        offer: ProviderOffer,
        (guests, nights): (Option<u32>, Option<u32>),
        now: DateTime<Utc>,
        fee_discount: i32,
    ) -> Offer {
        let expires_at = now + self.offer_ttl;
        let price = self
            .fees
            .quote_with_discount(offer.provider_price, fee_discount);
        let claims = OfferClaims {
            provider_id: provider.id,
            unit_code: offer.unit_code.clone(),
            unit_name_ar: offer.unit_name_ar.clone(),
            unit_name_en: offer.unit_name_en.clone(),
            slot_ref: offer.slot_ref.clone(),
            start: offer.start,
            end: offer.end,
            quantity: offer.quantity,
            guests,
            occupancy: occupancy_of(&offer.rooms),
            provider_price: price.provider_price,
            total: price.total(),
            fee_discount,
            expires_at: expires_at.timestamp(),
        };
        let (due_now, due_at_provider) = price.split(provider.prepaid);
        Offer {
            offer_id: self.signer.sign(&claims),
            provider: ProviderSummary::from(provider),
            unit: UnitSummary {
                code: offer.unit_code,
                name_ar: offer.unit_name_ar,
                name_en: offer.unit_name_en,
            },
            start: offer.start,
            end: offer.end,
            nights,
            quantity: offer.quantity,
            guests,
            max_guests: offer.max_guests,
            specialty: offer.specialty,
            practitioner: offer.practitioner,
            price,
            due_now,
            due_at_provider,
            rooms: offer.rooms,
            available: offer.available,
            terms: terms.for_offer(offer.start, now),
            distance: None,
            expires_at,
        }
    }
}

/// Who stays in each room of an offer, from its room lines (none for an appointment).
pub fn occupancy_of(rooms: &[super::rates::RoomLine]) -> Option<Occupancy> {
    (!rooms.is_empty()).then(|| {
        Occupancy(
            rooms
                .iter()
                .map(|line| RoomGuests {
                    adults: line.adults,
                    children: line.children.clone(),
                })
                .collect(),
        )
    })
}
