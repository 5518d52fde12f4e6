-- Changing a booking in one step (#15, point 1): the provider's change terms, the change
-- itself (its claim while it runs, then its record), and the payment of a price rise.

-- Change tiers, like the cancellation tiers: changing at least `hours_before` hours before the
-- start costs `fee_percent` of the provider's price; closer to the start than every tier, no
-- change. A held booking (nothing sold yet) changes free.
ALTER TABLE providers ADD COLUMN change_policy jsonb NOT NULL
    DEFAULT '[{"hours_before": 48, "fee_percent": 0}, {"hours_before": 24, "fee_percent": 10}]'::jsonb;

-- A booking's refund is bounded by what its payments captured (their own checks); a change's
-- fee is paid beside the booking's total, so the refund may exceed the total now.
ALTER TABLE bookings DROP CONSTRAINT bookings_check1;
ALTER TABLE bookings ADD CONSTRAINT bookings_refund_amount_check CHECK (refund_amount >= 0);

-- What a history row changed, when more than the status did: {"before": …, "after": …}.
ALTER TABLE booking_events ADD COLUMN details jsonb;

CREATE TABLE booking_changes (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id      uuid NOT NULL REFERENCES bookings (id),
    -- open: claimed and running (at most one per booking); applied; failed (nothing changed).
    status          text NOT NULL CHECK (status IN ('open', 'applied', 'failed')),
    -- The booking as the change was decided on (its `updated_at`, also its ETag): the change
    -- is applied only if the booking has not moved since.
    decided_on      timestamptz NOT NULL,
    -- The new terms: unit, dates, quantity, guests, prices (the signed offer's claims).
    terms           jsonb NOT NULL,
    -- The provider's handle on the new booking, once an outside provider holds it.
    provider_ref    text,
    change_fee      numeric(12, 2) NOT NULL DEFAULT 0 CHECK (change_fee >= 0),
    -- Charged (> 0) or refunded (< 0) when the change is applied.
    difference      numeric(12, 2) NOT NULL DEFAULT 0,
    requested_by    uuid REFERENCES users (id),
    failure         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX booking_changes_one_open ON booking_changes (booking_id) WHERE status = 'open';
CREATE INDEX booking_changes_booking_idx ON booking_changes (booking_id, created_at);

CREATE TRIGGER booking_changes_set_updated_at BEFORE UPDATE ON booking_changes
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A price rise is paid by a payment of its own, tied to the change.
ALTER TABLE payments ADD COLUMN booking_change_id uuid REFERENCES booking_changes (id);
ALTER TABLE payments DROP CONSTRAINT payments_purpose_check;
ALTER TABLE payments ADD CONSTRAINT payments_purpose_check
    CHECK (purpose IN ('booking', 'booking_change', 'subscription'));
ALTER TABLE payments DROP CONSTRAINT payments_booking_purpose;
ALTER TABLE payments ADD CONSTRAINT payments_booking_purpose
    CHECK ((purpose IN ('booking', 'booking_change')) = (booking_id IS NOT NULL));
ALTER TABLE payments ADD CONSTRAINT payments_change_purpose
    CHECK ((purpose = 'booking_change') = (booking_change_id IS NOT NULL));
DROP INDEX payments_one_live_per_booking;
CREATE UNIQUE INDEX payments_one_live_per_booking ON payments (booking_id)
    WHERE purpose = 'booking' AND status IN ('processing', 'requires_action', 'succeeded');
CREATE UNIQUE INDEX payments_one_live_per_change ON payments (booking_change_id)
    WHERE status IN ('processing', 'requires_action', 'succeeded');
