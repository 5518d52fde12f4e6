-- The admin job list and a provider's webhook deliveries page by `cursor` like every other
-- list: newest first by (time, id), so their indexes follow that order.
DROP INDEX jobs_state_idx;
CREATE INDEX jobs_state_created_idx ON jobs (state, created_at DESC, id DESC);
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);

DROP INDEX webhook_deliveries_provider_idx;
CREATE INDEX webhook_deliveries_provider_at_idx ON webhook_deliveries (provider_id, at DESC, id DESC);
