-- Customers (web sign-ups and phone clients), bookings with their event history,
-- idempotency keys for side-effecting POSTs, and the audit log of staff actions.

-- A provider login belongs to one provider and sees only its bookings (until an admin links
-- it to one, it sees none). Only provider logins belong to a provider.
ALTER TABLE users ADD COLUMN provider_id uuid REFERENCES providers (id);
ALTER TABLE users ADD CONSTRAINT users_provider_role
    CHECK (provider_id IS NULL OR role = 'provider');

-- Cancellation refund tiers, most generous first:
-- [{"hours_before": 72, "refund_percent": 100}, {"hours_before": 24, "refund_percent": 50}]
-- Cancelling at least `hours_before` hours before the start refunds that percentage; later, nothing.
ALTER TABLE providers ADD COLUMN cancellation_policy jsonb NOT NULL
    DEFAULT '[{"hours_before": 72, "refund_percent": 100}, {"hours_before": 24, "refund_percent": 50}]'::jsonb;

-- The person a booking is for. A web customer has a login (user_id); a client who phones the
-- office may have none, only a name and a phone number.
CREATE TABLE customers (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid REFERENCES users (id),
    full_name  text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    phone      text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    email      text CHECK (email = lower(email)),
    locale     text NOT NULL DEFAULT 'ar' CHECK (locale IN ('ar', 'en')),
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_user_id_key UNIQUE (user_id),
    CONSTRAINT customers_reachable CHECK (phone IS NOT NULL OR email IS NOT NULL OR user_id IS NOT NULL)
);

CREATE INDEX customers_phone_idx ON customers (phone);

CREATE TRIGGER customers_set_updated_at BEFORE UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE bookings (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- WS- and 6 characters without look-alikes (no 0/O, 1/I/L), read out on the phone.
    reference       text NOT NULL CHECK (reference ~ '^WS-[2-9A-HJKMNP-Z]{6}$'),
    customer_id     uuid NOT NULL REFERENCES customers (id),
    provider_id     uuid NOT NULL REFERENCES providers (id),
    -- The local unit (local providers), or the provider's own code (schedule, room type).
    unit_id         uuid REFERENCES units (id),
    unit_code       text NOT NULL,
    slot_ref        text,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    period          tstzrange GENERATED ALWAYS AS (tstzrange(starts_at, ends_at)) STORED,
    quantity        integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    guests          integer CHECK (guests BETWEEN 1 AND 100),
    status          text NOT NULL CHECK (status IN
                        ('held', 'pending', 'confirmed', 'completed', 'no_show', 'expired', 'failed', 'cancelled')),
    hold_expires_at timestamptz,
    channel         text NOT NULL CHECK (channel IN ('web', 'phone', 'api')),
    -- The staff member who booked on the customer's behalf (phone bookings).
    created_by      uuid REFERENCES users (id),
    provider_ref    text,
    currency        text NOT NULL DEFAULT 'SAR' CHECK (currency = 'SAR'),
    provider_price  numeric(12, 2) NOT NULL CHECK (provider_price >= 0),
    service_fee     numeric(12, 2) NOT NULL CHECK (service_fee >= 0),
    vat             numeric(12, 2) NOT NULL CHECK (vat >= 0),
    total           numeric(12, 2) NOT NULL CHECK (total = provider_price + service_fee + vat),
    refund_amount   numeric(12, 2) CHECK (refund_amount >= 0 AND refund_amount <= total),
    contact_name    text NOT NULL CHECK (length(contact_name) BETWEEN 1 AND 200),
    contact_phone   text CHECK (contact_phone ~ '^\+[1-9][0-9]{7,14}$'),
    contact_email   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bookings_reference_key UNIQUE (reference),
    CONSTRAINT bookings_positive_span CHECK (ends_at > starts_at),
    CONSTRAINT bookings_held_until CHECK (status <> 'held' OR hold_expires_at IS NOT NULL)
);

CREATE INDEX bookings_customer_idx ON bookings (customer_id, created_at DESC, id DESC);
CREATE INDEX bookings_provider_idx ON bookings (provider_id, starts_at);
CREATE INDEX bookings_status_idx ON bookings (status, starts_at);
CREATE INDEX bookings_created_idx ON bookings (created_at DESC, id DESC);
CREATE INDEX bookings_hold_expiry_idx ON bookings (hold_expires_at) WHERE status = 'held';

CREATE TRIGGER bookings_set_updated_at BEFORE UPDATE ON bookings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Every status change: who (NULL for the system), when, from, to, why.
CREATE TABLE booking_events (
    id          bigserial PRIMARY KEY,
    booking_id  uuid NOT NULL REFERENCES bookings (id),
    actor_id    uuid REFERENCES users (id),
    from_status text,
    to_status   text NOT NULL,
    reason      text,
    request_id  text,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX booking_events_booking_idx ON booking_events (booking_id, id);

-- Idempotency-Key records, scoped to the caller, purged after 24 hours.
CREATE TABLE idempotency_keys (
    caller          text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    bytea NOT NULL,
    -- NULL while the first request is still being served.
    response_status smallint,
    response_content_type text,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Who did what, on whose behalf: every write by an agent or admin.
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    actor_id     uuid NOT NULL REFERENCES users (id),
    actor_role   text NOT NULL,
    on_behalf_of uuid REFERENCES customers (id),
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    request_id   text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at DESC);
