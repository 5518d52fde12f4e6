//! The connection pool, the one way handlers reach it, and the embedded migrations.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;

use crate::config::DatabaseSettings;
use crate::error::ApiError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The connection pool, and as many permits as it has connections: a request waits for a
/// permit without a thread, so under a burst (500 clients at once) only as many blocking
/// threads exist as could use a connection, instead of one parked thread per request.
#[derive(Clone)]
pub struct PgPool {
    pool: Pool<ConnectionManager<PgConnection>>,
    permits: Arc<Semaphore>,
    /// How long to wait for a permit before answering 503 (the pool's own connect timeout).
    wait: Duration,
}

impl std::ops::Deref for PgPool {
    type Target = Pool<ConnectionManager<PgConnection>>;

    fn deref(&self) -> &Self::Target {
        &self.pool
    }
}

/// PostgreSQL's timeouts, set on every connection the pool opens (`database.*_ms`).
#[derive(Debug, Clone, Copy)]
struct Guards {
    statement_ms: u64,
    lock_ms: u64,
    idle_in_transaction_ms: u64,
}

impl From<&DatabaseSettings> for Guards {
    fn from(settings: &DatabaseSettings) -> Self {
        Self {
            statement_ms: settings.statement_timeout_ms,
            lock_ms: settings.lock_timeout_ms,
            idle_in_transaction_ms: settings.idle_in_transaction_timeout_ms,
        }
    }
}

impl diesel::r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for Guards {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        diesel::connection::SimpleConnection::batch_execute(
            conn,
            &format!(
                "SET statement_timeout = {}; SET lock_timeout = {}; \
                 SET idle_in_transaction_session_timeout = {}",
                self.statement_ms, self.lock_ms, self.idle_in_transaction_ms
            ),
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Builds the pool without connecting, so the service starts (and reports not-ready) while
/// the database is down rather than refusing to start.
pub fn build_pool(settings: &DatabaseSettings) -> PgPool {
    pool_for(settings.url.expose_secret(), settings)
}

fn pool_for(url: &str, settings: &DatabaseSettings) -> PgPool {
    let manager = ConnectionManager::<PgConnection>::new(url);
    let pool = Pool::builder()
        .connection_customizer(Box::new(Guards::from(settings)))
        .max_size(settings.pool_max_size)
        .min_idle(Some(0))
        .connection_timeout(settings.connect_timeout())
        .test_on_check_out(false)
        .build_unchecked(manager);
    PgPool {
        pool,
        permits: Arc::new(Semaphore::new(settings.pool_max_size as usize)),
        wait: settings.connect_timeout(),
    }
}

/// Where read-only work goes: a streaming replica when one is configured and no further
/// behind than `database.replica_max_lag_ms`, else the primary. Only work that can live with
/// an answer that old reads here (searches): whatever it offers is checked again on the
/// primary when it is held, so a stale "available" costs at most a 409.
#[derive(Clone)]
pub struct ReadPool {
    primary: PgPool,
    replica: Option<Arc<Replica>>,
}

struct Replica {
    pool: PgPool,
    max_lag_ms: u64,
    /// The last measured lag; `u64::MAX` until measured, and while unreachable.
    lag_ms: std::sync::atomic::AtomicU64,
}

impl ReadPool {
    pub fn new(primary: PgPool, settings: &DatabaseSettings) -> Self {
        let url = settings.replica_url.expose_secret();
        let replica = (!url.is_empty()).then(|| {
            Arc::new(Replica {
                pool: pool_for(url, settings),
                max_lag_ms: settings.replica_max_lag_ms,
                lag_ms: std::sync::atomic::AtomicU64::new(u64::MAX),
            })
        });
        Self { primary, replica }
    }

    /// The pool to read from now.
    pub fn pool(&self) -> &PgPool {
        match &self.replica {
            Some(replica) if self.on_replica() => &replica.pool,
            _ => &self.primary,
        }
    }

    /// Whether reads go to the replica now.
    pub fn on_replica(&self) -> bool {
        self.replica.as_ref().is_some_and(|replica| {
            usable(replica.lag_ms.load(Ordering::Relaxed), replica.max_lag_ms)
        })
    }

    /// Measures the replica's lag and keeps it for `pool`: `None` without a replica,
    /// `Some(None)` when it does not answer.
    pub async fn measure_lag(&self) -> Option<Option<Duration>> {
        let replica = self.replica.as_ref()?;
        let measured = run_blocking(&replica.pool, |conn| Ok(replica_lag(conn)?))
            .await
            .ok();
        let millis = measured.map_or(u64::MAX, |lag| {
            lag.as_millis().min(u128::from(u64::MAX - 1)) as u64
        });
        replica.lag_ms.store(millis, Ordering::Relaxed);
        Some(measured)
    }
}

/// A replica is read from while it is measured and close enough.
fn usable(lag_ms: u64, max_lag_ms: u64) -> bool {
    lag_ms != u64::MAX && lag_ms <= max_lag_ms
}

/// How far behind its primary this server is: zero when it has replayed all it received
/// (an idle primary sends nothing new, so the last replay's age is not lag), or when it is
/// not a replica at all.
fn replica_lag(conn: &mut PgConnection) -> QueryResult<Duration> {
    #[derive(QueryableByName)]
    struct Lag {
        #[diesel(sql_type = diesel::sql_types::Double)]
        seconds: f64,
    }
    let lag: Lag = diesel::sql_query(
        "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 \
                     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
                     ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) \
                END::float8 AS seconds",
    )
    .get_result(conn)?;
    Ok(Duration::from_secs_f64(lag.seconds.max(0.0)))
}

/// Runs blocking diesel work on the blocking thread pool, inside the caller's tracing span,
/// so the async workers never wait on the database. The connection goes back to the pool
/// when `work` returns: never across an `.await`.
pub async fn run_blocking<T, F>(pool: &PgPool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let permit = tokio::time::timeout(pool.wait, pool.permits.clone().acquire_owned())
        .await
        .map_err(|_| {
            ApiError::Unavailable(anyhow::anyhow!(
                "every database connection stayed busy for {:?}",
                pool.wait
            ))
        })?
        .map_err(ApiError::internal)?;
    let pool = pool.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let _permit = permit;
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Applies every pending migration; returns the versions applied.
pub fn run_migrations(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

pub fn has_pending_migrations(conn: &mut PgConnection) -> anyhow::Result<bool> {
    conn.has_pending_migration(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("checking migrations: {e}"))
}

/// Splits a database URL into the URL of the server's maintenance database (`postgres`)
/// and the database name, for creating or dropping that database.
pub fn maintenance_url(url: &str) -> anyhow::Result<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (server, name) = base
        .rsplit_once('/')
        .filter(|(server, name)| {
            server.contains("://") && !server.ends_with('/') && !name.is_empty()
        })
        .ok_or_else(|| anyhow::anyhow!("database.url names no database"))?;
    let mut maintenance = format!("{server}/postgres");
    if let Some(query) = query {
        maintenance.push('?');
        maintenance.push_str(query);
    }
    Ok((maintenance, name.to_owned()))
}

/// Quotes an identifier for SQL that cannot take a bind parameter (CREATE/DROP DATABASE).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the database named by `url` when it does not exist yet.
pub fn create_database_if_missing(url: &str) -> anyhow::Result<bool> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let (maintenance, name) = maintenance_url(url)?;
    let mut conn = PgConnection::establish(&maintenance)
        .map_err(|e| anyhow::anyhow!("connecting to the database server: {e}"))?;
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut conn)?;
    if found.exists {
        return Ok(false);
    }
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name))).execute(&mut conn)?;
    Ok(true)
}

/// Readiness: can we get a connection and run a trivial query right now?
pub fn ping(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}

/// Maps a fieldless enum to a `text` column (backed by a CHECK in the migration), so
/// queries can filter on it and rows read it back typed: `text_enum!(Role { Admin => "admin" })`.
/// The enum itself derives `AsExpression, FromSqlRow` with `#[diesel(sql_type = Text)]`.
#[macro_export]
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(value: &str) -> Result<Self, String> {
                match value {
                    $($text => Ok($ty::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($ty))),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $ty {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $ty {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    diesel::pg::Pg,
                >>::from_sql(value)?;
                text.parse().map_err(Into::into)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_read_from_only_when_measured_and_close_enough() {
        assert!(usable(0, 1000));
        assert!(usable(1000, 1000));
        assert!(!usable(1001, 1000));
        assert!(
            !usable(u64::MAX, u64::MAX - 1),
            "not measured yet, or unreachable"
        );
        assert!(!usable(5, 0));
    }

    #[test]
    fn maintenance_url_swaps_the_database_name() {
        assert_eq!(
            maintenance_url("postgres://u:p@h:5432/wasit").unwrap(),
            ("postgres://u:p@h:5432/postgres".into(), "wasit".into())
        );
        assert_eq!(
            maintenance_url("postgresql://h/wasit?sslmode=require").unwrap(),
            (
                "postgresql://h/postgres?sslmode=require".into(),
                "wasit".into()
            )
        );
        assert!(maintenance_url("postgres://h:5432").is_err());
        assert!(maintenance_url("postgres://h/").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("wasit"), "\"wasit\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
