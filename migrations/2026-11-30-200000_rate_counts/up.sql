-- Fixed-window counters for rate limits (sign-ups and holds per client address), shared by
-- every instance. A row is one key's current window; the retention job deletes windows
-- that ended.
CREATE TABLE rate_counts (
    key text PRIMARY KEY,
    window_started_at timestamptz NOT NULL,
    count integer NOT NULL CHECK (count > 0)
);
CREATE INDEX rate_counts_window_idx ON rate_counts (window_started_at);
