DROP INDEX webhook_deliveries_provider_at_idx;
CREATE INDEX webhook_deliveries_provider_idx ON webhook_deliveries (provider_id, id DESC);

DROP INDEX jobs_created_idx;
DROP INDEX jobs_state_created_idx;
CREATE INDEX jobs_state_idx ON jobs (state, id DESC);
