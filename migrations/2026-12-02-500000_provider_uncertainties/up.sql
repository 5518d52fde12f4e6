-- Uncertain outcomes at outside providers (#15, point 3): a call to book or cancel that was
-- sent and got no answer (a timeout, a dropped connection) leaves the booking unconfirmed at
-- that step until the `reconcile_provider` job (or the cancel job's retry) has asked the
-- provider by our reference and completed or rolled back the step. Its own table: the
-- bookings table is at diesel's column limit.
CREATE TABLE provider_uncertainties (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id  uuid NOT NULL REFERENCES bookings (id),
    -- book: the hold's booking at the provider; cancel: giving an ended booking's copy back.
    step        text NOT NULL CHECK (step IN ('book', 'cancel')),
    -- What the provider knows the booking by (our booking reference).
    reference   text NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    -- Times the provider was asked since, without a definite answer.
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    resolved_at timestamptz,
    -- booked (found and completed), not_taken (the provider has none: the booking ended),
    -- released (the booking ended first: the provider's copy was given back), cancelled.
    outcome     text CHECK (outcome IN ('booked', 'not_taken', 'released', 'cancelled')),
    CHECK ((resolved_at IS NULL) = (outcome IS NULL))
);

-- One open uncertainty per booking and step.
CREATE UNIQUE INDEX provider_uncertainties_one_open
    ON provider_uncertainties (booking_id, step) WHERE resolved_at IS NULL;
