-- Samples what the database's client backends are doing every 10 ms, :samples times (psql -v
-- samples=N); report.py turns the samples into shares of connection-time by state and wait:
-- "active" with no wait is PostgreSQL working; Lock:* is waiting for a row lock; IO:WALSync /
-- LWLock:WALWrite is a commit waiting for its flush; "idle in transaction" + ClientRead is
-- PostgreSQL waiting, inside a transaction, for the server's next statement; "idle" +
-- ClientRead is a connection with no statement to run (in the pool, or between statements).
CREATE TEMP TABLE samples (t int, at timestamptz, state text, wait text, n int);
SELECT set_config('bench.samples', :'samples', false) \gset
DO $$
DECLARE
  sampled_at timestamptz;
BEGIN
  FOR i IN 1..current_setting('bench.samples')::int LOOP
    PERFORM pg_stat_clear_snapshot();
    sampled_at := clock_timestamp();
    INSERT INTO samples
    SELECT i, sampled_at, coalesce(state, '?'), coalesce(wait_event_type || ':' || wait_event, '-'), count(*)
      FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
     GROUP BY 1, 2, 3, 4;
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
-- One line per sample and kind: epoch seconds, state, wait, connections. report.py sums them
-- over the window that matters (e.g. from the race's start to its last answer).
SELECT format('%s|%s|%s|%s', extract(epoch FROM at), state, wait, n) FROM samples ORDER BY t;
