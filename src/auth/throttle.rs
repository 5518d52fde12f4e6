//! Slows password guessing: after `max` failed logins for one account (or from one client
//! address) within the window, further attempts get 429 until a lock-out passes, and each
//! failure after that doubles the lock-out. State lives in PostgreSQL so every instance
//! shares it; the row lock serialises concurrent failures, so a burst cannot slip past.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::config::LoginThrottleSettings;
use crate::schema::login_throttles;

#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    pub account_max_failures: u32,
    pub address_max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub max_lockout: Duration,
}

impl From<&LoginThrottleSettings> for ThrottlePolicy {
    fn from(settings: &LoginThrottleSettings) -> Self {
        Self {
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
    pub fn account(&self, email: &str) -> Subject {
        Subject {
            key: format!("account:{email}"),
            max_failures: self.account_max_failures,
        }
    }

    pub fn address(&self, address: &str) -> Subject {
        Subject {
            key: format!("address:{address}"),
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

/// How long the longest current block among `subjects` still lasts, if any.
pub fn blocked_for(
    conn: &mut PgConnection,
    subjects: &[&Subject],
    now: DateTime<Utc>,
) -> QueryResult<Option<Duration>> {
    let keys: Vec<&str> = subjects.iter().map(|s| s.key.as_str()).collect();
    let until: Option<DateTime<Utc>> = login_throttles::table
        .filter(login_throttles::subject.eq_any(keys))
        .filter(login_throttles::blocked_until.gt(now))
        .select(diesel::dsl::max(login_throttles::blocked_until))
        .first::<Option<DateTime<Utc>>>(conn)?;
    Ok(until.map(|until| until - now))
}

pub fn record_failure(
    conn: &mut PgConnection,
    policy: &ThrottlePolicy,
    subject: &Subject,
    now: DateTime<Utc>,
) -> QueryResult<ThrottleRow> {
    conn.transaction(|conn| {
        // Make sure a row exists, then lock it: concurrent failures queue on the lock.
        diesel::insert_into(login_throttles::table)
            .values(ThrottleRow {
                subject: subject.key.clone(),
                failures: 0,
                last_failure_at: now,
                blocked_until: None,
            })
            .on_conflict_do_nothing()
            .execute(conn)?;
        let previous: ThrottleRow = login_throttles::table
            .find(&subject.key)
            .select(ThrottleRow::as_select())
            .for_update()
            .first(conn)?;
        let previous = (previous.failures > 0).then_some(previous);
        let next = policy.after_failure(subject, previous.as_ref(), now);
        diesel::update(login_throttles::table.find(&subject.key))
            .set(&next)
            .execute(conn)?;
        Ok(next)
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
