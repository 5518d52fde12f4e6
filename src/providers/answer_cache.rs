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
//!
//! When a question is missing, one request asks the providers and the others asking the same
//! question meanwhile wait for its answer, so an expiry under load costs one database search,
//! not one per waiting client, and a burst of one question reaches an outside provider once.
//! Such a shared answer is as fresh as each waiter's own lookup would be; only answers from
//! our own inventory are kept beyond it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use tokio::sync::watch;

use super::model::{AvailabilityQuery, ProviderKind};
use super::places::Place;
use super::search::SearchRequest;
use super::store::ProviderRow;

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

impl Key {
    /// What keeping an answer under this key costs besides the answer's body: the key and
    /// its slot in the map. Counted in the budget, so many small answers cannot outgrow it.
    fn cost(&self) -> usize {
        let specialty = match &self.availability {
            AvailabilityQuery::Slots(slots) => slots.specialty.as_ref().map_or(0, String::len),
            AvailabilityQuery::Stay(_) => 0,
        };
        // The map keeps the key and the slot side by side, plus its control byte.
        std::mem::size_of::<Key>() + std::mem::size_of::<Slot>() + 1 + self.city.len() + specialty
    }
}

/// The bytes a kept answer costs: its body and its key.
fn entry_cost(key: &Key, body: &Bytes) -> usize {
    key.cost() + body.len()
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

enum Slot {
    Ready {
        body: Bytes,
        epoch: u64,
        stored: Instant,
    },
    /// A request is asking the providers; its answer arrives on `done`.
    Filling {
        epoch: u64,
        done: watch::Receiver<Option<Bytes>>,
    },
}

struct Slots {
    map: HashMap<Key, Slot>,
    /// Bytes of the ready answers, keys included (`entry_cost`).
    bytes: usize,
}

impl Slots {
    /// Records the kept bytes, and shows them in `wasit_search_cache_bytes`.
    fn set_bytes(&mut self, bytes: usize) {
        self.bytes = bytes;
        crate::metrics::METRICS.search_cache_bytes(bytes);
    }
}

/// The active providers of one kind in one city, as a search asks them, and the point their
/// distances are measured to (none when the city is not named).
#[derive(Debug, Default)]
pub struct CityRoster {
    pub providers: Vec<ProviderRow>,
    pub place: Option<Place>,
}

pub type Roster = std::sync::Arc<CityRoster>;

/// Rosters kept like answers (same epoch, same time), so a search the answer cache cannot
/// answer still skips the provider query. Cities are typed by clients: past this many kept
/// rosters, all are dropped.
const MAX_ROSTERS: usize = 1024;

pub struct AnswerCache {
    changes: &'static AtomicU64,
    ttl: Duration,
    budget_bytes: usize,
    slots: Mutex<Slots>,
    rosters: Mutex<HashMap<(ProviderKind, String), KeptRoster>>,
}

/// A roster with the epoch it was read under and when.
type KeptRoster = (u64, Instant, Roster);

/// What to do about one search.
pub enum Lookup<'a> {
    /// A recent answer.
    Hit(Bytes),
    /// Another request is asking the same question: [`wait`] for its answer.
    Wait(watch::Receiver<Option<Bytes>>),
    /// Ask the providers, then [`Fill::finish`] with the answer.
    Fill(Fill<'a>),
    /// The cache is off.
    Off,
}

/// The answer another request is fetching, or `None` if that request failed or was abandoned
/// (then ask).
pub async fn wait(mut done: watch::Receiver<Option<Bytes>>) -> Option<Bytes> {
    done.wait_for(Option::is_some).await.ok()?.clone()
}

/// The duty of answering a missing question. Dropped without [`Fill::finish`] (the search
/// failed or the request was abandoned), it frees the question for the next asker and sends
/// its waiters to ask for themselves.
pub struct Fill<'a> {
    cache: &'a AnswerCache,
    key: Key,
    epoch: u64,
    sender: watch::Sender<Option<Bytes>>,
}

impl AnswerCache {
    /// `ttl` zero turns the cache off. At most `budget_bytes` of answers (keys included) are
    /// kept.
    pub fn new(ttl: Duration, budget_bytes: usize) -> Self {
        Self::counting(&INVENTORY_EPOCH, ttl, budget_bytes)
    }

    /// A cache retired by `changes` rather than by [`inventory_changed`] (for tests).
    fn counting(changes: &'static AtomicU64, ttl: Duration, budget_bytes: usize) -> Self {
        Self {
            changes,
            ttl,
            budget_bytes,
            slots: Mutex::new(Slots {
                map: HashMap::new(),
                bytes: 0,
            }),
            rosters: Mutex::new(HashMap::new()),
        }
    }

    /// Read it before a lookup whose result is then kept with [`AnswerCache::keep_roster`].
    pub fn epoch(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Whether something read under `epoch` and kept at `stored` may still be used.
    fn fresh(&self, epoch: u64, stored: Instant) -> bool {
        epoch == self.epoch() && stored.elapsed() < self.ttl
    }

    /// The active providers of `kind` in `city`, if read recently and nothing changed since.
    pub fn roster(&self, kind: ProviderKind, city: &str) -> Option<Roster> {
        if self.ttl.is_zero() {
            return None;
        }
        let rosters = self.rosters.lock().unwrap_or_else(|e| e.into_inner());
        let (epoch, stored, roster) = rosters.get(&(kind, city.to_owned()))?;
        self.fresh(*epoch, *stored).then(|| roster.clone())
    }

    /// Keeps the providers of `kind` in `city` as read under the epoch `read_at`.
    pub fn keep_roster(&self, kind: ProviderKind, city: String, roster: Roster, read_at: u64) {
        if self.ttl.is_zero() || read_at != self.epoch() {
            return;
        }
        let mut rosters = self.rosters.lock().unwrap_or_else(|e| e.into_inner());
        if rosters.len() >= MAX_ROSTERS {
            rosters.clear();
        }
        rosters.insert((kind, city), (read_at, Instant::now(), roster));
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lookup(&self, request: &SearchRequest) -> Lookup<'_> {
        if self.ttl.is_zero() {
            return Lookup::Off;
        }
        let key = Key::from(request);
        let now = self.epoch();
        let mut slots = self.slots();
        match slots.map.get(&key) {
            Some(Slot::Ready {
                body,
                epoch,
                stored,
            }) if self.fresh(*epoch, *stored) => return Lookup::Hit(body.clone()),
            Some(Slot::Filling { epoch, done }) if *epoch == now => {
                return Lookup::Wait(done.clone());
            }
            _ => {}
        }
        let (sender, done) = watch::channel(None);
        if let Some(Slot::Ready { body, .. }) = slots
            .map
            .insert(key.clone(), Slot::Filling { epoch: now, done })
        {
            let bytes = slots.bytes - entry_cost(&key, &body);
            slots.set_bytes(bytes);
        }
        Lookup::Fill(Fill {
            cache: self,
            key,
            epoch: now,
            sender,
        })
    }
}

impl Fill<'_> {
    /// Whether the question's slot is still this fill's (not retired and taken by another).
    fn holds(&self, slots: &Slots) -> bool {
        let mine = self.sender.subscribe();
        matches!(slots.map.get(&self.key), Some(Slot::Filling { done, .. }) if done.same_channel(&mine))
    }

    /// Hands `body` to the requests waiting for it (they asked while it was being read, so it
    /// is as fresh as their own lookup would be), and keeps it for later askers when `keep`
    /// and inventory did not change while it was read.
    pub fn finish(self, body: Bytes, keep: bool) {
        let cache = self.cache;
        let mut slots = cache.slots();
        if self.holds(&slots) {
            slots.map.remove(&self.key);
            let cost = entry_cost(&self.key, &body);
            if keep && self.epoch == cache.epoch() && cost <= cache.budget_bytes {
                make_room(&mut slots, cache, cost);
                let bytes = slots.bytes + cost;
                slots.set_bytes(bytes);
                slots.map.insert(
                    self.key.clone(),
                    Slot::Ready {
                        body: body.clone(),
                        epoch: self.epoch,
                        stored: Instant::now(),
                    },
                );
            }
        }
        drop(slots);
        self.sender.send_replace(Some(body));
    }
}

impl Drop for Fill<'_> {
    fn drop(&mut self) {
        if self.sender.borrow().is_some() {
            return;
        }
        let mut slots = self.cache.slots();
        if self.holds(&slots) {
            slots.map.remove(&self.key);
        }
    }
}

/// Drops answers that can no longer be used, then, if `incoming` bytes still do not fit,
/// every ready answer.
fn make_room(slots: &mut Slots, cache: &AnswerCache, incoming: usize) {
    if slots.bytes + incoming <= cache.budget_bytes {
        return;
    }
    let usable = |slot: &Slot| match slot {
        Slot::Ready { epoch, stored, .. } => cache.fresh(*epoch, *stored),
        Slot::Filling { .. } => true,
    };
    slots.map.retain(|_, slot| usable(slot));
    if ready_bytes(slots) + incoming > cache.budget_bytes {
        slots
            .map
            .retain(|_, slot| matches!(slot, Slot::Filling { .. }));
    }
    let bytes = ready_bytes(slots);
    slots.set_bytes(bytes);
}

fn ready_bytes(slots: &Slots) -> usize {
    slots
        .map
        .iter()
        .map(|(key, slot)| match slot {
            Slot::Ready { body, .. } => entry_cost(key, body),
            Slot::Filling { .. } => 0,
        })
        .sum()
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
                occupancy: crate::domain::occupancy::Occupancy::spread(guests, 1),
            }),
            limit: 50,
        }
    }

    fn hit(cache: &AnswerCache, request: &SearchRequest) -> Option<Bytes> {
        match cache.lookup(request) {
            Lookup::Hit(body) => Some(body),
            _ => None,
        }
    }

    fn fill(cache: &AnswerCache, request: &SearchRequest, body: &'static [u8]) {
        match cache.lookup(request) {
            Lookup::Fill(fill) => fill.finish(Bytes::from_static(body), true),
            _ => panic!("expected to fill"),
        }
    }

    #[test]
    fn an_answer_is_reused_for_the_same_question_only() {
        let cache = fresh_cache(Duration::from_secs(60), 1 << 20);
        fill(&cache, &request("jeddah", 2), b"a");
        assert_eq!(
            hit(&cache, &request("jeddah", 2)).as_deref(),
            Some(&b"a"[..])
        );
        assert!(matches!(
            cache.lookup(&request("jeddah", 3)),
            Lookup::Fill(_)
        ));
        assert!(matches!(
            cache.lookup(&request("riyadh", 2)),
            Lookup::Fill(_)
        ));
    }

    #[test]
    fn a_change_retires_kept_answers_and_answers_read_across_it() {
        let cache = fresh_cache(Duration::from_secs(60), 1 << 20);
        fill(&cache, &request("mecca", 2), b"old");
        cache.changes.fetch_add(1, Ordering::AcqRel);
        let Lookup::Fill(reading) = cache.lookup(&request("mecca", 2)) else {
            panic!("a change must retire the kept answer");
        };
        // Read before a change, finished after it: handed to waiters but not kept.
        cache.changes.fetch_add(1, Ordering::AcqRel);
        reading.finish(Bytes::from_static(b"stale"), true);
        assert!(hit(&cache, &request("mecca", 2)).is_none());
    }

    #[test]
    fn answers_expire_and_the_budget_holds() {
        let cache = fresh_cache(Duration::from_millis(1), 1 << 20);
        fill(&cache, &request("taif", 2), b"x");
        std::thread::sleep(Duration::from_millis(5));
        assert!(hit(&cache, &request("taif", 2)).is_none());

        let one = Key::from(&request("abha", 1)).cost() + 6;
        let small = fresh_cache(Duration::from_secs(60), one + 3);
        fill(&small, &request("abha", 1), b"123456");
        fill(&small, &request("abha", 2), b"123456");
        let kept = small.slots();
        assert!(
            kept.bytes <= one + 3 && kept.map.len() == 1,
            "{}",
            kept.bytes
        );
    }

    #[test]
    fn many_empty_answers_count_their_keys_against_the_budget() {
        let budget = 64 << 10;
        let cache = fresh_cache(Duration::from_secs(60), budget);
        for n in 0..2000 {
            fill(&cache, &request(&format!("junk-city-{n:0>30}"), 1), b"{}");
        }
        let kept = cache.slots();
        let each = Key::from(&request(&format!("junk-city-{:0>30}", 0), 1)).cost() + 2;
        assert!(kept.bytes <= budget, "{} > {budget}", kept.bytes);
        assert!(
            kept.map.len() * each <= budget,
            "{} answers kept",
            kept.map.len()
        );
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = fresh_cache(Duration::ZERO, 1 << 20);
        assert!(matches!(cache.lookup(&request("jeddah", 2)), Lookup::Off));
    }

    #[test]
    fn rosters_are_kept_until_a_change_and_per_kind_and_city() {
        let cache = fresh_cache(Duration::from_secs(60), 1 << 20);
        let empty: Roster = std::sync::Arc::new(CityRoster::default());
        cache.keep_roster(
            ProviderKind::Hotel,
            "jeddah".into(),
            empty.clone(),
            cache.epoch(),
        );
        assert!(cache.roster(ProviderKind::Hotel, "jeddah").is_some());
        assert!(cache.roster(ProviderKind::Hospital, "jeddah").is_none());
        assert!(cache.roster(ProviderKind::Hotel, "riyadh").is_none());
        let before = cache.epoch();
        cache.changes.fetch_add(1, Ordering::AcqRel);
        assert!(cache.roster(ProviderKind::Hotel, "jeddah").is_none());
        cache.keep_roster(ProviderKind::Hotel, "jeddah".into(), empty, before);
        assert!(
            cache.roster(ProviderKind::Hotel, "jeddah").is_none(),
            "read across a change"
        );
    }

    #[tokio::test]
    async fn one_request_asks_and_the_others_wait_for_its_answer() {
        let cache = fresh_cache(Duration::from_secs(60), 1 << 20);
        let Lookup::Fill(asking) = cache.lookup(&request("tabuk", 2)) else {
            panic!("the first asks");
        };
        let waiters: Vec<_> = (0..5)
            .map(|_| match cache.lookup(&request("tabuk", 2)) {
                Lookup::Wait(done) => tokio::spawn(wait(done)),
                _ => panic!("the others wait"),
            })
            .collect();
        asking.finish(Bytes::from_static(b"answer"), true);
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap().as_deref(), Some(&b"answer"[..]));
        }
        assert!(hit(&cache, &request("tabuk", 2)).is_some());
    }

    #[tokio::test]
    async fn an_answer_that_may_not_be_kept_still_reaches_its_waiters() {
        let cache = fresh_cache(Duration::from_secs(60), 1 << 20);
        let Lookup::Fill(asking) = cache.lookup(&request("najran", 2)) else {
            panic!("the first asks");
        };
        let Lookup::Wait(done) = cache.lookup(&request("najran", 2)) else {
            panic!("the second waits");
        };
        let waiter = tokio::spawn(wait(done));
        asking.finish(Bytes::from_static(b"from outside"), false);
        assert_eq!(waiter.await.unwrap().as_deref(), Some(&b"from outside"[..]));
        assert!(matches!(
            cache.lookup(&request("najran", 2)),
            Lookup::Fill(_)
        ));
    }

    #[tokio::test]
    async fn an_abandoned_question_sends_its_waiters_to_ask_for_themselves() {
        let cache = fresh_cache(Duration::from_secs(60), 1 << 20);
        let Lookup::Fill(asking) = cache.lookup(&request("hail", 2)) else {
            panic!("the first asks");
        };
        let Lookup::Wait(done) = cache.lookup(&request("hail", 2)) else {
            panic!("the second waits");
        };
        let waiter = tokio::spawn(wait(done));
        drop(asking);
        assert_eq!(waiter.await.unwrap(), None);
        assert!(matches!(cache.lookup(&request("hail", 2)), Lookup::Fill(_)));
    }
}
