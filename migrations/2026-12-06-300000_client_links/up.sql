-- Links an agent sends a phone client (#16 points 3 and 4): one to approve or decline what was
-- booked for them (consent), one to pay for it on their own phone (pay). Only the token's
-- SHA-256 is kept; the token is derived from the row's id under a server key, so a retried
-- message job sends the same link. A link lives while its booking's hold does.

CREATE TABLE client_links (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('consent', 'pay')),
    -- What the link is about. A package (#16 point 1) gets a `package_id` column beside it,
    -- and the CHECK below counts it: exactly one payable per link.
    booking_id uuid REFERENCES bookings (id),
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    -- The agent who sent it (audited).
    sent_by uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- First time the client's page read it.
    opened_at timestamptz,
    -- Used once: consent approved or declined, or paid. The client's address and user agent
    -- are kept for a consent's record.
    outcome text CHECK (outcome IN ('approved', 'declined', 'paid')),
    used_at timestamptz,
    used_from text CHECK (length(used_from) <= 64),
    used_user_agent text CHECK (length(used_user_agent) <= 512),
    payment_id uuid REFERENCES payments (id),
    -- Replaced by a link sent again: the older one stops working.
    retired_at timestamptz,
    CHECK (num_nonnulls(booking_id) = 1),
    CHECK ((outcome IS NULL) = (used_at IS NULL)),
    CHECK (outcome IS NULL OR (kind = 'consent') = (outcome IN ('approved', 'declined'))),
    CHECK ((outcome = 'paid') = (payment_id IS NOT NULL))
);

-- One live link of each kind per booking: sending again retires the older one first.
CREATE UNIQUE INDEX client_links_one_live ON client_links (kind, booking_id)
    WHERE used_at IS NULL AND retired_at IS NULL;
CREATE INDEX client_links_booking ON client_links (booking_id, created_at DESC);
