-- SMS as a channel (#16 point 5): each customer's consent, and every message we queued,
-- sent or decided not to send (with why), with what the gateway and its receipts said.

CREATE TABLE sms_consents (
    customer_id uuid PRIMARY KEY REFERENCES customers (id),
    -- Opted in when opted_in_at is set and no later opt-out: an opt-out keeps the opt-in's
    -- time, a new opt-in clears the opt-out.
    opted_in_at timestamptz,
    opted_out_at timestamptz,
    -- Who recorded the last change: the customer's profile, an agent on the phone, or a
    -- STOP reply to one of our messages.
    source text NOT NULL CHECK (source IN ('profile', 'agent', 'inbound_reply')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (opted_in_at IS NOT NULL OR opted_out_at IS NOT NULL)
);

CREATE TABLE sms_messages (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    to_phone text NOT NULL CHECK (to_phone ~ '^\+[1-9][0-9]{7,14}$'),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 1000),
    -- What it is for (booking_confirmed, booking_reminder, …).
    purpose text NOT NULL CHECK (purpose ~ '^[a-z_]{1,40}$'),
    encoding text NOT NULL CHECK (encoding IN ('gsm7', 'ucs2')),
    segments integer NOT NULL CHECK (segments >= 1),
    status text NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'failed',
        'undelivered', 'skipped_opted_out', 'skipped_no_consent')),
    -- One message per occasion (e.g. `booking_confirmed:{booking id}`).
    dedup_key text NOT NULL UNIQUE,
    provider_message_id text,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    status_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX sms_messages_provider_message_id ON sms_messages (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX sms_messages_customer ON sms_messages (customer_id, created_at DESC);
