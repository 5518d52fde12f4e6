-- Every attempt to deliver a webhook to a provider, and the switch a 410 Gone flips.
ALTER TABLE providers ADD COLUMN webhook_disabled_at timestamptz;

CREATE TABLE webhook_deliveries (
    id          bigserial PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES providers (id),
    -- The Standard Webhooks `webhook-id`: the same on every retry of one message.
    message_id  text NOT NULL CHECK (message_id LIKE 'msg\_%'),
    event_type  text NOT NULL,
    payload     jsonb NOT NULL,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    status_code integer,
    latency_ms  integer NOT NULL CHECK (latency_ms >= 0),
    error       text,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_deliveries_provider_idx ON webhook_deliveries (provider_id, id DESC);
CREATE INDEX webhook_deliveries_message_idx ON webhook_deliveries (message_id);
