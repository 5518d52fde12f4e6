//! Recent answers to searches that only our own inventory served, kept for `search.cache_ms`.
//!
//! Without it every search costs PostgreSQL two queries, however often the same city and
//! dates are asked for. An answer is reused only while nothing in this process has changed
//! local inventory or providers since the answer was read: every function that writes them
//! calls [`inventory_changed`], which moves the epoch on and so retires every answer at once.
//! A search read in the instant between that call and the write's commit, and writes by
//! another instance, are seen when the answer expires: an answer is at most `cache_ms` old. What that can cost: an offer shown as free that a booking then finds sold out (the
//! hold re-checks under a row lock and answers 409), or a room freed elsewhere shown a moment
//! late. Answers that involved an outside provider, or where any provider failed, are never
//! kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

use super::model::{AvailabilityQuery, ProviderKind};
use super::search::SearchRequest;

/// Moves on whenever this process writes inventory, units or providers.
static INVENTORY_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Retires every kept answer. Call it when local inventory, a unit or a provider changes.
pub fn inventory_changed() {
    INVENTORY_EPOCH.fetch_add(1, Ordering::AcqRel);
}

/// The whole of what a search answer depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: ProviderKind,
    city: String,
    availability: AvailabilityQuery,
    limit: usize,
}

impl From<&SearchRequest> for Key {
    fn from(request: &SearchRequest) -> Self {
        Self {
            kind: request.kind,
            city: request.city.clone(),
            availability: request.availability.clone(),
            limit: request.limit,
        }
    }
}

struct Entry {
    body: Bytes,
    epoch: u64,
    stored: Instant,
}

struct Entries {
    map: HashMap<Key, Entry>,
    bytes: usize,
}

pub struct AnswerCache {
    changes: &'static AtomicU64,
    ttl: Duration,
    budget_bytes: usize,
    entries: Mutex<Entries>,
}

impl AnswerCache {
    /// `ttl` zero turns the cache off. At most `budget_bytes` of answers are kept.
    pub fn new(ttl: Duration, budget_bytes: usize) -> Self {
        Self::counting(&INVENTORY_EPOCH, ttl, budget_bytes)
    }

    /// A cache retired by `changes` rather than by [`inventory_changed`] (for tests).
    fn counting(changes: &'static AtomicU64, ttl: Duration, budget_bytes: usize) -> Self {
        Self {
            changes,
            ttl,
            budget_bytes,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                bytes: 0,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The epoch to read before a search starts and to hand to [`AnswerCache::put`].
    pub fn epoch(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// The kept answer to `request`, if it is recent and nothing changed since it was read.
    pub fn get(&self, request: &SearchRequest) -> Option<Bytes> {
        if !self.enabled() {
            return None;
        }
        let now = self.epoch();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.map.get(&Key::from(request))?;
        (entry.epoch == now && entry.stored.elapsed() < self.ttl).then(|| entry.body.clone())
    }

    /// Keeps `body` as the answer to `request`, read from the database under `read_at` (the
    /// epoch before the search began). An answer read across a change is not kept.
    pub fn put(&self, request: &SearchRequest, body: Bytes, read_at: u64) {
        if !self.enabled() || read_at != self.epoch() || body.len() > self.budget_bytes {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.bytes + body.len() > self.budget_bytes {
            let (ttl, current) = (self.ttl, self.epoch());
            entries
                .map
                .retain(|_, e| e.epoch == current && e.stored.elapsed() < ttl);
            entries.bytes = entries.map.values().map(|e| e.body.len()).sum();
            if entries.bytes + body.len() > self.budget_bytes {
                entries.map.clear();
                entries.bytes = 0;
            }
        }
        let size = body.len();
        let replaced = entries.map.insert(
            Key::from(request),
            Entry {
                body,
                epoch: read_at,
                stored: Instant::now(),
            },
        );
        entries.bytes = entries.bytes + size - replaced.map_or(0, |e| e.body.len());
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::providers::model::StayQuery;

    /// A cache of its own epoch, so tests running side by side cannot retire each other's.
    fn fresh_cache(ttl: Duration, budget: usize) -> AnswerCache {
        AnswerCache::counting(Box::leak(Box::new(AtomicU64::new(0))), ttl, budget)
    }

    fn request(city: &str, guests: u32) -> SearchRequest {
        SearchRequest {
            kind: ProviderKind::Hotel,
            city: city.into(),
            availability: AvailabilityQuery::Stay(StayQuery {
                check_in: NaiveDate::from_ymd_opt(2031, 1, 1).unwrap(),
                check_out: NaiveDate::from_ymd_opt(2031, 1, 3).unwrap(),
                guests,
                rooms: 1,
            }),
            limit: 50,
        }
    }

    #[test]
    fn an_answer_is_reused_for_the_same_question_only() {
        let cache = fresh_cache(Duration::from_secs(60), 1 << 20);
        cache.put(
            &request("jeddah", 2),
            Bytes::from_static(b"a"),
            cache.epoch(),
        );
        assert_eq!(cache.get(&request("jeddah", 2)).as_deref(), Some(&b"a"[..]));
        assert!(cache.get(&request("jeddah", 3)).is_none());
        assert!(cache.get(&request("riyadh", 2)).is_none());
    }

    #[test]
    fn a_change_retires_kept_answers_and_answers_read_across_it() {
        let cache = fresh_cache(Duration::from_secs(60), 1 << 20);
        let before = cache.epoch();
        cache.put(&request("mecca", 2), Bytes::from_static(b"old"), before);
        cache.changes.fetch_add(1, Ordering::AcqRel);
        assert!(cache.get(&request("mecca", 2)).is_none());
        // Read before the change, stored after it: never kept.
        cache.put(&request("mecca", 2), Bytes::from_static(b"stale"), before);
        assert!(cache.get(&request("mecca", 2)).is_none());
    }

    #[test]
    fn answers_expire_and_the_budget_holds() {
        let cache = fresh_cache(Duration::from_millis(1), 1 << 20);
        cache.put(&request("taif", 2), Bytes::from_static(b"x"), cache.epoch());
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&request("taif", 2)).is_none());

        let small = fresh_cache(Duration::from_secs(60), 10);
        small.put(
            &request("abha", 1),
            Bytes::from_static(b"123456"),
            small.epoch(),
        );
        small.put(
            &request("abha", 2),
            Bytes::from_static(b"123456"),
            small.epoch(),
        );
        let kept = small.entries.lock().unwrap();
        assert!(kept.bytes <= 10 && kept.map.len() == 1, "{}", kept.bytes);
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = fresh_cache(Duration::ZERO, 1 << 20);
        cache.put(
            &request("jeddah", 2),
            Bytes::from_static(b"a"),
            cache.epoch(),
        );
        assert!(cache.get(&request("jeddah", 2)).is_none());
    }
}
