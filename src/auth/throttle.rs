//! Slows password guessing: after `max` failed logins for one account (or from one client
//! address) within the window, further attempts get 429 until a lock-out passes, and each
//! failure after that doubles the lock-out. State lives in PostgreSQL so every instance
//! shares it.
//!
//! An attempt is counted as a failure *before* its password is checked ([`reserve`]): the
//! check and the count happen under one row lock, so however many attempts arrive at once,
//! at most `max` get their password checked and the rest are refused without hashing. An
//! attempt whose password turns out right takes its count back ([`clear`], [`release`]).
//!
//! The same counters limit mail anyone may ask for (password-reset links, another
//! verification link) under keys of their own ([`ThrottlePolicy::for_mail`]): there every
//! request counts and none is taken back.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use sha2::{Digest, Sha256};

use crate::config::{LoginThrottleSettings, MailThrottleSettings};
use crate::schema::login_throttles;

#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Starts every key, so mail limits never share a count with logins.
    pub scope: &'static str,
    pub account_max_failures: u32,
    pub address_max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub max_lockout: Duration,
}

impl From<&LoginThrottleSettings> for ThrottlePolicy {
    fn from(settings: &LoginThrottleSettings) -> Self {
        Self {
            scope: "",
            account_max_failures: settings.account_max_failures,
            address_max_failures: settings.address_max_failures,
            window: Duration::seconds(settings.window_secs as i64),
            lockout: Duration::seconds(settings.lockout_secs as i64),
            max_lockout: Duration::seconds(settings.max_lockout_secs as i64),
        }
    }
}

/// Who is being throttled, and after how many failures.
#[derive(Debug, Clone)]
pub struct Subject {
    pub key: String,
    pub max_failures: u32,
}

impl ThrottlePolicy {
    /// Mail requests: at most the limit per window, then none until the window has passed.
    pub fn for_mail(settings: &MailThrottleSettings) -> Self {
        let window = Duration::seconds(settings.window_secs as i64);
        Self {
            scope: "mail:",
            account_max_failures: settings.email_max_requests,
            address_max_failures: settings.address_max_requests,
            window,
            lockout: window,
            max_lockout: window,
        }
    }

    /// Keyed by a digest of what was typed: bounded however long, and no email address
    /// (or password typed into the email field) kept in plain text.
    pub fn account(&self, email: &str) -> Subject {
        let digest = Sha256::digest(email.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Subject {
            key: format!("{}account:{hex}", self.scope),
            max_failures: self.account_max_failures,
        }
    }

    pub fn address(&self, address: &str) -> Subject {
        Subject {
            key: format!("{}address:{address}", self.scope),
            max_failures: self.address_max_failures,
        }
    }

    /// The row after one more failure: the pure rule, kept apart from the SQL.
    pub fn after_failure(
        &self,
        subject: &Subject,
        previous: Option<&ThrottleRow>,
        now: DateTime<Utc>,
    ) -> ThrottleRow {
        let failures = match previous {
            Some(row) if row.last_failure_at > now - self.window => row.failures.saturating_add(1),
            _ => 1,
        };
        let max = i32::try_from(subject.max_failures).unwrap_or(i32::MAX);
        let blocked_until = (failures >= max).then(|| {
            let doublings = u32::try_from(failures - max).unwrap_or(0).min(20);
            let lockout = (self.lockout * 2_i32.pow(doublings)).min(self.max_lockout);
            now + lockout
        });
        ThrottleRow {
            subject: subject.key.clone(),
            failures,
            last_failure_at: now,
            blocked_until,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = login_throttles, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct ThrottleRow {
    pub subject: String,
    pub failures: i32,
    pub last_failure_at: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
}

/// One attempt's place in one subject's count, taken before its password was checked.
#[derive(Debug, Clone)]
pub struct Reserved {
    /// The row before this attempt was counted; `None` if it had no failures.
    previous: Option<ThrottleRow>,
    /// The row as this attempt left it.
    counted: ThrottleRow,
    max_failures: u32,
}

impl Reserved {
    pub fn key(&self) -> &str {
        &self.counted.subject
    }
}

#[derive(Debug)]
pub enum Reservation {
    /// The attempt may go ahead; it already counts as a failure for every subject.
    Granted(Vec<Reserved>),
    /// A subject is locked out for this much longer; nothing was counted.
    Blocked(Duration),
}

/// Why the reserving transaction rolls back.
enum Abort {
    Blocked(Duration),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Abort {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(error)
    }
}

/// Checks every subject for a block and, if none is blocked, counts one failure for each,
/// in one transaction holding their rows locked: concurrent attempts queue on the locks, so
/// the attempt that reaches the limit blocks every one after it.
pub fn reserve(
    conn: &mut PgConnection,
    policy: &ThrottlePolicy,
    subjects: &[&Subject],
    now: DateTime<Utc>,
) -> QueryResult<Reservation> {
    // Rows are always locked in key order, so two attempts can never deadlock.
    let mut subjects = subjects.to_vec();
    subjects.sort_by(|a, b| a.key.cmp(&b.key));
    subjects.dedup_by(|a, b| a.key == b.key);
    let outcome = conn.transaction(|conn| {
        let mut locked = Vec::with_capacity(subjects.len());
        for subject in &subjects {
            locked.push(lock(conn, subject, now)?);
        }
        let blocked_until = locked
            .iter()
            .filter_map(|row| row.blocked_until)
            .filter(|until| *until > now)
            .max();
        if let Some(until) = blocked_until {
            // Rolls back, so the rows made only to be locked do not stay behind.
            return Err(Abort::Blocked(until - now));
        }
        let mut reserved = Vec::with_capacity(subjects.len());
        for (subject, row) in subjects.iter().zip(locked) {
            let previous = (row.failures > 0).then_some(row);
            let next = policy.after_failure(subject, previous.as_ref(), now);
            let counted = diesel::update(login_throttles::table.find(&subject.key))
                .set(&next)
                .returning(ThrottleRow::as_returning())
                .get_result(conn)?;
            reserved.push(Reserved {
                previous,
                counted,
                max_failures: subject.max_failures,
            });
        }
        Ok(reserved)
    });
    match outcome {
        Ok(reserved) => Ok(Reservation::Granted(reserved)),
        Err(Abort::Blocked(wait)) => Ok(Reservation::Blocked(wait)),
        Err(Abort::Db(error)) => Err(error),
    }
}

/// The subject's row, made (with no failures) if missing, locked until the transaction ends.
fn lock(
    conn: &mut PgConnection,
    subject: &Subject,
    now: DateTime<Utc>,
) -> QueryResult<ThrottleRow> {
    diesel::insert_into(login_throttles::table)
        .values(ThrottleRow {
            subject: subject.key.clone(),
            failures: 0,
            last_failure_at: now,
            blocked_until: None,
        })
        .on_conflict(login_throttles::subject)
        .do_update()
        .set(login_throttles::subject.eq(excluded(login_throttles::subject)))
        .returning(ThrottleRow::as_returning())
        .get_result(conn)
}

/// Takes back a reservation whose password was right. If nothing was counted since, the row
/// goes back to what it was; otherwise one failure comes off, lifting the block if that
/// brings the count under the limit.
pub fn release(conn: &mut PgConnection, reserved: &Reserved) -> QueryResult<()> {
    conn.transaction(|conn| {
        let key = reserved.key();
        let Some(current) = login_throttles::table
            .find(key)
            .select(ThrottleRow::as_select())
            .for_update()
            .first(conn)
            .optional()?
        else {
            return Ok(());
        };
        let restored = if current == reserved.counted {
            reserved.previous.clone()
        } else {
            let failures = current.failures - 1;
            let under_limit = u32::try_from(failures).is_ok_and(|f| f < reserved.max_failures);
            (failures > 0).then(|| ThrottleRow {
                failures,
                blocked_until: current.blocked_until.filter(|_| !under_limit),
                ..current
            })
        };
        match restored {
            Some(row) => diesel::update(login_throttles::table.find(key))
                .set(&row)
                .execute(conn)?,
            None => diesel::delete(login_throttles::table.find(key)).execute(conn)?,
        };
        Ok(())
    })
}

pub fn clear(conn: &mut PgConnection, subject: &Subject) -> QueryResult<()> {
    diesel::delete(login_throttles::table.find(&subject.key))
        .execute(conn)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            scope: "",
            account_max_failures: 3,
            address_max_failures: 10,
            window: Duration::minutes(15),
            lockout: Duration::seconds(60),
            max_lockout: Duration::seconds(300),
        }
    }

    fn fail_times(
        policy: &ThrottlePolicy,
        subject: &Subject,
        times: usize,
        now: DateTime<Utc>,
    ) -> ThrottleRow {
        let mut row = None;
        for _ in 0..times {
            row = Some(policy.after_failure(subject, row.as_ref(), now));
        }
        row.unwrap()
    }

    #[test]
    fn blocks_at_the_limit_and_doubles_up_to_the_cap() {
        let policy = policy();
        let subject = policy.account("a@example.com");
        let now = Utc::now();
        assert_eq!(fail_times(&policy, &subject, 2, now).blocked_until, None);
        let lockouts: Vec<i64> = (3..=7)
            .map(|n| {
                (fail_times(&policy, &subject, n, now).blocked_until.unwrap() - now).num_seconds()
            })
            .collect();
        assert_eq!(lockouts, [60, 120, 240, 300, 300]);
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let policy = policy();
        let subject = policy.account("a@example.com");
        let then = Utc::now() - Duration::minutes(16);
        let stale = fail_times(&policy, &subject, 2, then);
        let fresh = policy.after_failure(&subject, Some(&stale), Utc::now());
        assert_eq!(fresh.failures, 1);
        let recent = fail_times(&policy, &subject, 2, Utc::now() - Duration::minutes(1));
        assert_eq!(
            policy
                .after_failure(&subject, Some(&recent), Utc::now())
                .failures,
            3
        );
    }

    #[test]
    fn account_keys_are_bounded_and_keep_no_address() {
        let policy = policy();
        let typed = format!("{}@example.com", "x".repeat(10_000));
        let key = policy.account(&typed).key;
        assert_eq!(key.len(), "account:".len() + 32);
        assert!(!key.contains("example"));
        assert_eq!(key, policy.account(&typed).key);
    }

    #[test]
    fn mail_limits_keep_their_own_keys_and_block_for_the_window() {
        let mail = ThrottlePolicy::for_mail(&MailThrottleSettings {
            email_max_requests: 2,
            address_max_requests: 5,
            window_secs: 600,
        });
        let subject = mail.account("a@example.com");
        assert!(subject.key.starts_with("mail:account:"), "{}", subject.key);
        assert_ne!(subject.key, policy().account("a@example.com").key);
        let now = Utc::now();
        let blocked = fail_times(&mail, &subject, 3, now).blocked_until.unwrap();
        assert_eq!((blocked - now).num_seconds(), 600);
    }

    #[test]
    fn addresses_tolerate_more_failures_than_accounts() {
        let policy = policy();
        let address = policy.address("10.0.0.1");
        assert_eq!(
            fail_times(&policy, &address, 9, Utc::now()).blocked_until,
            None
        );
        assert!(
            fail_times(&policy, &address, 10, Utc::now())
                .blocked_until
                .is_some()
        );
    }
}
