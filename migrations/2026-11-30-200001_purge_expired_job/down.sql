UPDATE jobs SET kind = 'purge_idempotency_keys', payload = '{"kind": "purge_idempotency_keys"}'
 WHERE kind = 'purge_expired';
