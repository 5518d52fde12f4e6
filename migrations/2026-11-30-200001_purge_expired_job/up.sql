-- The idempotency-key sweep became the sweep of every table's retention: every copy of
-- the old job kind becomes the new one.
UPDATE jobs SET kind = 'purge_expired', payload = '{"kind": "purge_expired"}'
 WHERE kind = 'purge_idempotency_keys';
