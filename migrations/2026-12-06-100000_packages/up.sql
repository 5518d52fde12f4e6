-- Medical-travel packages (#16, point 1): a clinic appointment and a hotel stay near it,
-- held, paid and ended together. The parts are ordinary bookings (the bookings table is at
-- diesel's column limit, so the link lives here); a package's status is derived from them.
CREATE TABLE packages (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reference    text NOT NULL UNIQUE CHECK (reference ~ '^WP-[2-9A-HJKMNP-Z]{6}$'),
    customer_id  uuid NOT NULL REFERENCES customers (id),
    -- The agent who built it for a phone client.
    created_by   uuid REFERENCES users (id),
    -- Where the saga stands: `holding` (parts being held), `open` (both held; the parts'
    -- statuses say the rest), `released` (a hold failed and what was held is given back).
    phase        text NOT NULL DEFAULT 'holding' CHECK (phase IN ('holding', 'open', 'released')),
    -- A part was refused after payment and the office's setting asks an agent to offer an
    -- alternative before refunding (`packages.on_part_refused = "flag_agent"`).
    flagged_at   timestamptz,
    flag_reason  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER packages_set_updated_at BEFORE UPDATE ON packages
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE INDEX packages_customer_idx ON packages (customer_id, created_at DESC, id DESC);
CREATE INDEX packages_created_idx ON packages (created_at DESC, id DESC);

CREATE TABLE package_parts (
    package_id  uuid NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    part        text NOT NULL CHECK (part IN ('appointment', 'stay')),
    booking_id  uuid NOT NULL UNIQUE REFERENCES bookings (id),
    PRIMARY KEY (package_id, part)
);

-- The saga's log: every step and compensation, in order, so what happened to a package is
-- read from the database, never from a process's memory.
CREATE TABLE package_steps (
    id          bigserial PRIMARY KEY,
    package_id  uuid NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    step        text NOT NULL CHECK (step IN ('hold_appointment', 'hold_stay', 'release',
                    'pay', 'part_refused', 'cancel_other', 'flag_agent', 'cancel')),
    outcome     text NOT NULL CHECK (outcome IN ('done', 'failed')),
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX package_steps_package_idx ON package_steps (package_id, id);

-- One payment for a package's bookings: purpose `package`, and what of it pays for each
-- booking, so a booking's refund (by its policy, or in full) comes from its own share.
ALTER TABLE payments ADD COLUMN package_id uuid REFERENCES packages (id);
ALTER TABLE payments DROP CONSTRAINT payments_purpose_check;
ALTER TABLE payments ADD CONSTRAINT payments_purpose_check
    CHECK (purpose IN ('booking', 'booking_change', 'subscription', 'package'));
ALTER TABLE payments ADD CONSTRAINT payments_package_purpose
    CHECK ((purpose = 'package') = (package_id IS NOT NULL));
CREATE UNIQUE INDEX payments_one_live_per_package ON payments (package_id)
    WHERE status IN ('processing', 'requires_action', 'succeeded');

CREATE TABLE payment_allotments (
    payment_id  uuid NOT NULL REFERENCES payments (id),
    booking_id  uuid NOT NULL REFERENCES bookings (id),
    amount      numeric(12, 2) NOT NULL CHECK (amount > 0),
    refunded    numeric(12, 2) NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    PRIMARY KEY (payment_id, booking_id)
);
CREATE INDEX payment_allotments_booking_idx ON payment_allotments (booking_id);

-- Which booking's share a refund of such a payment came out of: a refund the gateway refuses
-- for good gives its amount back to that share too.
CREATE TABLE refund_shares (
    refund_id   uuid PRIMARY KEY REFERENCES refunds (id),
    booking_id  uuid NOT NULL REFERENCES bookings (id)
);
