-- Providers, their units, and the office-managed inventory (the `local` adapter).

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE providers (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind             text NOT NULL CHECK (kind IN ('hotel', 'hospital')),
    name_ar          text NOT NULL CHECK (length(name_ar) BETWEEN 1 AND 200),
    name_en          text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 200),
    -- A lower-case slug (riyadh, jeddah, makkah): what search filters on.
    city             text NOT NULL CHECK (city ~ '^[a-z][a-z-]{1,49}$'),
    timezone         text NOT NULL DEFAULT 'Asia/Riyadh',
    adapter          text NOT NULL CHECK (adapter IN ('local', 'fhir', 'caldav')),
    -- The adapter's settings (base URL, credentials, schedules or calendars), validated by the app.
    adapter_settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    webhook_url      text CHECK (webhook_url ~ '^https?://'),
    -- whsec_<base64>: kept so deliveries can be signed. The previous secret stays valid for
    -- an overlap after a rotation, so receivers can switch without dropping a delivery.
    webhook_secret            text NOT NULL CHECK (webhook_secret LIKE 'whsec\_%'),
    previous_webhook_secret   text,
    webhook_secret_rotated_at timestamptz,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX providers_search_idx ON providers (kind, city) WHERE active;

CREATE TRIGGER providers_set_updated_at BEFORE UPDATE ON providers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- What a local provider sells: hotel room types and clinic services.
CREATE TABLE units (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id   uuid NOT NULL REFERENCES providers (id),
    kind          text NOT NULL CHECK (kind IN ('room_type', 'clinic_service')),
    name_ar       text NOT NULL CHECK (length(name_ar) BETWEEN 1 AND 200),
    name_en       text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 200),
    -- room types
    max_guests    integer CHECK (max_guests BETWEEN 1 AND 20),
    rooms         integer CHECK (rooms BETWEEN 1 AND 10000),
    nightly_price numeric(12, 2) CHECK (nightly_price >= 0),
    -- clinic services
    specialty     text CHECK (specialty ~ '^[a-z][a-z-]{1,49}$'),
    practitioner  text CHECK (length(practitioner) BETWEEN 1 AND 200),
    slot_minutes  integer CHECK (slot_minutes BETWEEN 5 AND 480),
    price         numeric(12, 2) CHECK (price >= 0),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT units_fields_by_kind CHECK (
        (kind = 'room_type' AND max_guests IS NOT NULL AND rooms IS NOT NULL
            AND nightly_price IS NOT NULL AND specialty IS NULL AND slot_minutes IS NULL AND price IS NULL)
        OR
        (kind = 'clinic_service' AND specialty IS NOT NULL AND slot_minutes IS NOT NULL
            AND price IS NOT NULL AND max_guests IS NULL AND rooms IS NULL AND nightly_price IS NULL)
    )
);

CREATE INDEX units_provider_id_idx ON units (provider_id);

CREATE TRIGGER units_set_updated_at BEFORE UPDATE ON units
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One cell per night (room types) or per appointment slot (clinic services).
-- Booking reserves with UPDATE … SET reserved = reserved + q WHERE reserved + q <= capacity;
-- the CHECK is the last line of defence against overbooking.
CREATE TABLE inventory_cells (
    unit_id   uuid NOT NULL REFERENCES units (id),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL,
    capacity  integer NOT NULL CHECK (capacity >= 0),
    reserved  integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    PRIMARY KEY (unit_id, starts_at),
    CONSTRAINT inventory_cells_reserved_within_capacity CHECK (reserved <= capacity),
    CONSTRAINT inventory_cells_positive_span CHECK (ends_at > starts_at),
    -- A unit's cells never overlap: a night or a slot is sold once.
    CONSTRAINT inventory_cells_no_overlap
        EXCLUDE USING gist (unit_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
);
