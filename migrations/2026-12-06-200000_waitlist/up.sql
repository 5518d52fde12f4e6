-- Waitlists (#16 point 2): a customer (or an agent for a client) waits for a sold-out stay
-- at one of our room types, or for any slot of one of our clinics within a range. When
-- inventory frees up the first waiter in line whose request fits is offered it: a real
-- hold booking for them (`booking_id`), which they accept by paying it.

CREATE TABLE waitlist_entries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers (id),
    provider_id uuid NOT NULL REFERENCES providers (id),
    unit_id uuid NOT NULL REFERENCES units (id),
    -- A stay waits for exactly its nights [starts_at, ends_at); a slot for any one slot
    -- starting in [starts_at, ends_at).
    kind text NOT NULL CHECK (kind IN ('stay', 'slot')),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    rooms integer NOT NULL DEFAULT 1 CHECK (rooms BETWEEN 1 AND 9),
    guests integer CHECK (guests BETWEEN 1 AND 100),
    -- A clinic's patient, given when joining, so an offer can be held for them (a hospital
    -- booking needs one). Never shown back; emptied once offered or left (the offer's
    -- booking keeps its own copy).
    patient_name text,
    patient_birth_date date,
    patient_id_type text,
    patient_id_number text,
    patient_passport_country text,
    -- waiting: in line; offered: `booking_id` is held for them; booked: they paid it;
    -- lapsed: the offer ended unpaid; left: they (or staff) took it off the list.
    status text NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'offered', 'booked', 'lapsed', 'left')),
    booking_id uuid REFERENCES bookings (id),
    channel text NOT NULL CHECK (channel IN ('web', 'phone')),
    created_by uuid REFERENCES users (id),
    joined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    offered_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    -- A stay has guests, never a patient.
    CHECK (kind = 'slot' OR patient_name IS NULL),
    CHECK ((patient_name IS NULL) = (patient_id_number IS NULL)),
    CHECK (status NOT IN ('offered', 'booked', 'lapsed') OR booking_id IS NOT NULL)
);

-- One live entry per customer and request: joining twice is 409 `waitlist.duplicate`.
CREATE UNIQUE INDEX waitlist_entries_one_live
    ON waitlist_entries (customer_id, unit_id, kind, starts_at, ends_at)
    WHERE status IN ('waiting', 'offered');
-- The line: first come, first offered.
CREATE INDEX waitlist_entries_line
    ON waitlist_entries (unit_id, joined_at, id) WHERE status = 'waiting';
-- An offer's hold is one waiter's.
CREATE UNIQUE INDEX waitlist_entries_offer ON waitlist_entries (booking_id)
    WHERE booking_id IS NOT NULL;
CREATE INDEX waitlist_entries_customer ON waitlist_entries (customer_id, joined_at DESC, id DESC);
