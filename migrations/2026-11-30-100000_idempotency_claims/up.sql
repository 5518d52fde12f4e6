-- When a key's request was last taken up. A claim with no answer older than
-- idempotency.lock_timeout_secs belonged to a request that died: a retry takes it over.
ALTER TABLE idempotency_keys ADD COLUMN locked_at timestamptz NOT NULL DEFAULT now();
