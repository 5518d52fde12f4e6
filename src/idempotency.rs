//! `Idempotency-Key` for every side-effecting POST, with Stripe's semantics, as one
//! middleware rather than code in each handler:
//!
//! - the first request with a key runs and its answer (status, content type, body) is kept;
//! - the same key with the same request replays that answer without running it again
//!   (`idempotent-replayed: true`); a retry arriving while the first still runs waits for it,
//!   then replays, or after a few seconds gets 409 `idempotency.in_progress`: never a second run;
//! - the same key with a different request (method, path, query or body) is 422
//!   `idempotency.mismatch`;
//! - keys are scoped to the authenticated caller (one caller cannot replay another's answer);
//!   unauthenticated requests are not recorded (their answers may carry fresh tokens);
//! - a request is known by a keyed fingerprint ([`Fingerprints`]), never a plain hash of a
//!   body that may hold a card's number; answers are kept without secrets ([`kept`]);
//! - a 5xx answer is not kept, so the retry runs again; keys are purged after 24 hours;
//! - routes whose work is one transaction (a hold, a cancellation) save their answer in that
//!   transaction with [`IdempotencyClaim::save_in`], so work never commits without its
//!   answer; a claim left without an answer for `idempotency.lock_timeout_secs` belonged to
//!   a request that died, and a retry with its key runs again (as Stripe describes it);
//! - most routes have their key claimed by the middleware, in a commit of its own, before
//!   they run. Routes listed in [`Idempotency::claimed_in_work`] (a hold) take it themselves
//!   as the first statement of their work's transaction ([`IdempotencyClaim::take_in`]), so
//!   the key, the work and the answer are one commit: a twin sent at the same time waits on
//!   the key's unique index for that commit, then replays its answer; a rollback or a crash
//!   leaves no key behind. Such a route's error that wrote nothing is not kept (a retry runs
//!   again, as Stripe does for requests that never began), but the key is read before the
//!   error is answered, so a retry whose first attempt has finished gets that answer.
//!
//! Routes that must not run without a key (creating a booking) check for the header
//! themselves with [`require_key`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, web};
use diesel::prelude::*;

use crate::auth::AuthConfig;
use crate::db::{PgPool, run_blocking};
use crate::error::ApiError;
use crate::http::BodyLimit;
use crate::schema::idempotency_keys;

mod fingerprint;
pub mod kept;

pub use fingerprint::Fingerprints;
pub use kept::{KeptSecrets, Secrets};

/// What the middleware needs, built once from the settings (`state.rs`).
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// After this long without an answer, a key's first request is taken to have died.
    pub lock_timeout: chrono::Duration,
    pub fingerprints: Fingerprints,
    pub secrets: Secrets,
    /// Paths of the POST routes whose work takes the key in its own transaction
    /// ([`IdempotencyClaim::take_in`]) instead of the middleware claiming it first.
    pub claimed_in_work: &'static [&'static str],
}

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a retry waits for the first request with its key to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(5);
const POLL_EVERY: Duration = Duration::from_millis(25);

/// For routes where a key is mandatory: 400 `idempotency.key_required` without one.
pub fn require_key(req: &HttpRequest) -> Result<(), ApiError> {
    if req.headers().contains_key(IDEMPOTENCY_KEY) {
        Ok(())
    } else {
        Err(ApiError::IdempotencyKeyRequired)
    }
}

fn valid_key(value: &HeaderValue) -> Option<String> {
    let key = value.to_str().ok()?;
    let ok = !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| key.to_owned())
}

/// The authenticated caller's scope, or `None` (not recorded).
fn caller_scope(req: &ServiceRequest) -> Option<String> {
    let auth = req.app_data::<web::Data<AuthConfig>>()?;
    let token = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))?
        .1
        .trim();
    let claims = auth.tokens.verify_access(token)?;
    Some(format!("user:{}", claims.sub))
}

/// A key this request holds, or may take: handlers pass it to the service, which takes it
/// (routes in [`Idempotency::claimed_in_work`]) and saves the answer in the transaction that
/// does the work.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    caller: String,
    key: String,
    /// The request's fingerprint, written with the key when the work takes it.
    fingerprint: Arc<[u8]>,
    state: Arc<ClaimState>,
    secrets: Secrets,
}

/// What became of a claim while its request ran; read by the middleware afterwards.
#[derive(Debug, Default)]
struct ClaimState {
    /// The status saved in the work's transaction, if it was.
    saved: AtomicU16,
    /// The key is this request's, committed (by the middleware, or by `take_now`).
    taken: AtomicBool,
}

impl IdempotencyClaim {
    /// The claim the middleware took for this request, if any.
    pub fn of(req: &HttpRequest) -> Option<Self> {
        req.extensions().get::<Self>().cloned()
    }

    /// Takes the key as the first statement of the caller's transaction, which must then
    /// save its answer with [`Self::save_in`] before it commits (rolled back, the key was
    /// never taken). A twin holding the key uncommitted makes this wait for its commit; a
    /// key taken by another request is 409 `idempotency.in_progress`, which the middleware
    /// replaces with that request's answer. Nothing to do for a key already taken.
    pub fn take_in(&self, conn: &mut PgConnection) -> Result<(), ApiError> {
        if self.state.taken.load(Ordering::Acquire)
            || insert_claim(conn, (&self.caller, &self.key), &self.fingerprint)?
        {
            Ok(())
        } else {
            Err(ApiError::IdempotencyInProgress)
        }
    }

    /// Takes the key in a commit of its own, before work a rollback cannot undo (an outside
    /// provider's booking): a twin then waits for this request's answer instead of running.
    pub async fn take_now(&self, pool: &PgPool) -> Result<(), ApiError> {
        if self.state.taken.load(Ordering::Acquire) {
            return Ok(());
        }
        let claim = self.clone();
        run_blocking(pool, move |conn| {
            conn.transaction(|conn| {
                unflushed(conn)?;
                claim.take_in(conn)
            })
        })
        .await?;
        self.state.taken.store(true, Ordering::Release);
        Ok(())
    }

    /// Saves `body` as this key's answer with `status`, inside the caller's transaction: the
    /// work and its answer commit together or not at all. The handler must answer exactly
    /// this (`status` with `body` as JSON).
    pub fn save_in(
        &self,
        conn: &mut PgConnection,
        status: StatusCode,
        body: &impl serde::Serialize,
    ) -> QueryResult<()> {
        let mut body = serde_json::to_vec(body)
            .map_err(|e| diesel::result::Error::SerializationError(e.into()))?;
        if let Some(stripped) = self.secrets.stripped(&body) {
            body = stripped;
        }
        diesel::update(idempotency_keys::table.find((&self.caller, &self.key)))
            .set((
                idempotency_keys::response_status.eq(Some(status.as_u16() as i16)),
                idempotency_keys::response_content_type.eq(Some("application/json")),
                idempotency_keys::response_body.eq(Some(body)),
            ))
            .execute(conn)?;
        self.state.saved.store(status.as_u16(), Ordering::Release);
        Ok(())
    }
}

pub async fn idempotency(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_KEY).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(key) = valid_key(&raw_key) else {
        return Ok(req.error_response(ApiError::IdempotencyKeyInvalid));
    };
    let Some(caller) = caller_scope(&req) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let (Some(pool), Some(setup)) = (
        req.app_data::<web::Data<PgPool>>().cloned(),
        req.app_data::<web::Data<Idempotency>>().cloned(),
    ) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    run_claimed(req, next, &pool, caller, key, &setup).await
}

async fn run_claimed(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    pool: &PgPool,
    caller: String,
    key: String,
    setup: &Idempotency,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // Read the body to fingerprint the request, then hand it back for the handler.
    let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
    let payload = req.extract::<web::Payload>().await?;
    let bytes = match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Ok(req.error_response(ApiError::Http(StatusCode::BAD_REQUEST))),
        Err(_) => return Ok(req.error_response(ApiError::PayloadTooLarge { limit })),
    };
    let fingerprint = setup
        .fingerprints
        .of(req.method(), req.path(), req.query_string(), &bytes);
    req.set_payload(actix_web::dev::Payload::from(bytes));

    let in_work = setup.claimed_in_work.contains(&req.path());
    if !in_work {
        match claim(pool, (&caller, &key), &fingerprint, setup).await {
            Ok(Claim::First) => {}
            Ok(other) => return Ok(req.into_response(other.into_response())),
            Err(error) => return Ok(req.error_response(error)),
        }
    }
    let held = IdempotencyClaim {
        caller: caller.clone(),
        key: key.clone(),
        fingerprint: fingerprint.clone().into(),
        state: Arc::new(ClaimState {
            taken: AtomicBool::new(!in_work),
            ..ClaimState::default()
        }),
        secrets: setup.secrets.clone(),
    };
    req.extensions_mut().insert(held.clone());

    let response = next.call(req).await?;
    let status = response.status();
    let (http_request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = body::to_bytes(body)
        .await
        .map_err(|_| ApiError::internal(anyhow::anyhow!("reading a response body")))?;
    let content_type = head
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let unkept = status.is_server_error() || kept::no_store(head.headers());
    let outcome = if held.state.saved.load(Ordering::Acquire) == status.as_u16() {
        Ok(()) // saved with the work, in its transaction
    } else if !held.state.taken.load(Ordering::Acquire) {
        // Nothing was written under the key. Another request with it may have answered
        // meanwhile (a twin, or this retry's first attempt): its answer is this one's.
        if !unkept {
            match settled(pool, (&caller, &key), &fingerprint, setup).await {
                Ok(Claim::Absent) => {}
                Ok(other) => {
                    let response = other.into_response().map_into_boxed_body();
                    return Ok(ServiceResponse::new(http_request, response));
                }
                Err(error) => {
                    tracing::error!(error = %error, "could not read an idempotency key");
                }
            }
        }
        Ok(())
    } else if unkept {
        release(pool, &caller, &key).await
    } else {
        let kept = match content_type.as_deref() {
            Some(json) if json.contains("json") => setup.secrets.stripped(&bytes),
            _ => None,
        };
        let kept = kept.unwrap_or_else(|| bytes.to_vec());
        save(pool, &caller, &key, status, content_type, kept).await
    };
    if let Err(error) = outcome {
        // The work is done and answered; a lost record only means a retry would run again
        // (and meet the unique constraints that guard each write).
        tracing::error!(error = %error, "could not record an idempotent response");
    }
    let response = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(http_request, response))
}

struct SavedResponse {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl SavedResponse {
    fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = HttpResponse::build(status);
        if let Some(content_type) = self.content_type {
            response.insert_header((header::CONTENT_TYPE, content_type));
        }
        response.insert_header((REPLAYED, "true"));
        response.body(self.body)
    }
}

/// What became of a key: this request's to run, another request's answer, or neither yet.
enum Claim {
    First,
    Replay(SavedResponse),
    Mismatch,
    InProgress,
    /// No request holds the key (only [`settled`] says so: [`claim`] takes it instead).
    Absent,
}

impl Claim {
    /// The answer for a request that does not run: a replay or a problem.
    fn into_response(self) -> HttpResponse {
        match self {
            Self::Replay(saved) => saved.into_response(),
            Self::Mismatch => HttpResponse::from_error(ApiError::IdempotencyMismatch),
            Self::First | Self::InProgress | Self::Absent => {
                HttpResponse::from_error(ApiError::IdempotencyInProgress)
            }
        }
    }
}

#[derive(Queryable)]
struct KeyRow {
    request_hash: Vec<u8>,
    response_status: Option<i16>,
    response_content_type: Option<String>,
    response_body: Option<Vec<u8>>,
}

/// The claim needs no WAL flush of its own: the request's own commit comes after it in the
/// WAL and flushes it too; if that never happens, a lost claim only lets a retry claim again.
fn unflushed(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SET LOCAL synchronous_commit = off")
        .execute(conn)
        .map(drop)
}

/// Inserts the key for this request; `false` when another request has it (committed: an
/// uncommitted one makes this wait for its outcome).
fn insert_claim(
    conn: &mut PgConnection,
    (caller, key): (&str, &str),
    fingerprint: &[u8],
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::caller.eq(caller),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(fingerprint),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted == 1)
}

/// What another request left under the key: `None` without a row, `Some(Claim::InProgress)`
/// for one still without an answer.
fn found(
    conn: &mut PgConnection,
    (caller, key): (&str, &str),
    fingerprint: &[u8],
    secrets: &Secrets,
) -> QueryResult<Option<Claim>> {
    let row: Option<KeyRow> = idempotency_keys::table
        .find((caller, key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::response_status,
            idempotency_keys::response_content_type,
            idempotency_keys::response_body,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => None,
        Some(row) if row.request_hash != fingerprint => Some(Claim::Mismatch),
        Some(KeyRow {
            response_status: Some(status),
            response_content_type,
            response_body,
            ..
        }) => {
            let kept = response_body.unwrap_or_default();
            let body = match response_content_type.as_deref() {
                Some(json) if json.contains("json") => secrets.restored(conn, &kept)?,
                _ => None,
            };
            Some(Claim::Replay(SavedResponse {
                status: u16::try_from(status).unwrap_or(200),
                content_type: response_content_type,
                body: body.unwrap_or(kept),
            }))
        }
        Some(_) => Some(Claim::InProgress),
    })
}

/// Runs `attempt` until it says something other than [`Claim::InProgress`], for up to
/// [`WAIT_FOR_FIRST`]: a retry waits for the first request with its key.
async fn wait_for_first<F>(pool: &PgPool, attempt: F) -> Result<Claim, ApiError>
where
    F: Fn(&mut PgConnection) -> Result<Claim, ApiError> + Clone + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
        match run_blocking(pool, attempt.clone()).await? {
            Claim::InProgress if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(POLL_EVERY).await
            }
            other => return Ok(other),
        }
    }
}

/// Takes the key for this request, or says what became of it.
async fn claim(
    pool: &PgPool,
    (caller, key): (&str, &str),
    fingerprint: &[u8],
    setup: &Idempotency,
) -> Result<Claim, ApiError> {
    let lock_timeout = setup.lock_timeout;
    let (caller, key, fingerprint) = (caller.to_owned(), key.to_owned(), fingerprint.to_vec());
    let secrets = setup.secrets.clone();
    wait_for_first(pool, move |conn| {
        conn.transaction(|conn| {
            unflushed(conn)?;
            if insert_claim(conn, (&caller, &key), &fingerprint)? {
                return Ok(Claim::First);
            }
            Ok(
                match found(conn, (&caller, &key), &fingerprint, &secrets)? {
                    // Released by a failed first attempt between our insert and select: try again.
                    None => Claim::InProgress,
                    // No answer: its request may still run, or may have died. A claim older
                    // than the lock timeout is taken over, by one retry only.
                    Some(Claim::InProgress) => {
                        let taken = diesel::update(idempotency_keys::table.find((&caller, &key)))
                            .filter(idempotency_keys::response_status.is_null())
                            .filter(
                                idempotency_keys::locked_at.lt(chrono::Utc::now() - lock_timeout),
                            )
                            .set(idempotency_keys::locked_at.eq(chrono::Utc::now()))
                            .execute(conn)?;
                        if taken == 1 {
                            Claim::First
                        } else {
                            Claim::InProgress
                        }
                    }
                    Some(other) => other,
                },
            )
        })
    })
    .await
}

/// What another request with the key answered, waiting for one still running; `Absent` when
/// none holds it. Read without taking it: the request asking has run already.
async fn settled(
    pool: &PgPool,
    (caller, key): (&str, &str),
    fingerprint: &[u8],
    setup: &Idempotency,
) -> Result<Claim, ApiError> {
    let (caller, key, fingerprint) = (caller.to_owned(), key.to_owned(), fingerprint.to_vec());
    let secrets = setup.secrets.clone();
    wait_for_first(pool, move |conn| {
        Ok(found(conn, (&caller, &key), &fingerprint, &secrets)?.unwrap_or(Claim::Absent))
    })
    .await
}

async fn save(
    pool: &PgPool,
    caller: &str,
    key: &str,
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
) -> Result<(), ApiError> {
    let (caller, key) = (caller.to_owned(), key.to_owned());
    run_blocking(pool, move |conn| {
        diesel::update(idempotency_keys::table.find((&caller, &key)))
            .set((
                idempotency_keys::response_status.eq(Some(status.as_u16() as i16)),
                idempotency_keys::response_content_type.eq(content_type),
                idempotency_keys::response_body.eq(Some(body)),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
}

/// Forgets a key whose first request failed on our side, so a retry runs again (unless its
/// work saved an answer before the failure: that answer stays).
async fn release(pool: &PgPool, caller: &str, key: &str) -> Result<(), ApiError> {
    let (caller, key) = (caller.to_owned(), key.to_owned());
    run_blocking(pool, move |conn| {
        diesel::delete(
            idempotency_keys::table
                .find((&caller, &key))
                .filter(idempotency_keys::response_status.is_null()),
        )
        .execute(conn)?;
        Ok(())
    })
    .await
}

/// Deletes keys older than `age` (24 hours in production); returns how many.
pub fn purge_older_than(conn: &mut PgConnection, age: chrono::Duration) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.lt(chrono::Utc::now() - age)),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_printable_ascii() {
        assert!(valid_key(&HeaderValue::from_static("7f3a-retry-1")).is_some());
        assert!(valid_key(&HeaderValue::from_static("")).is_none());
        assert!(valid_key(&HeaderValue::from_static("has space")).is_none());
        assert!(valid_key(&HeaderValue::from_str(&"k".repeat(256)).unwrap()).is_none());
    }
}
