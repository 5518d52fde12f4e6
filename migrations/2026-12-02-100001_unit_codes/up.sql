-- A unit's readable code (`deluxe-double`), unique within its provider: offers, bookings and
-- webhooks show it where they showed the row's UUID. Existing units get one made from their
-- English name as `domain::slug::unit_code_from` makes it, with `-2`, `-3`… when taken.
ALTER TABLE units ADD COLUMN code text;

DO $$
DECLARE
    unit record;
    base text;
    candidate text;
    n integer;
BEGIN
    FOR unit IN SELECT id, provider_id, name_en FROM units ORDER BY created_at, id LOOP
        base := rtrim(left(trim(BOTH '-' FROM lower(
            regexp_replace(unit.name_en, '[^A-Za-z0-9]+', '-', 'g'))), 46), '-');
        IF base = '' THEN
            base := 'unit';
        END IF;
        candidate := base;
        n := 1;
        WHILE EXISTS (SELECT 1 FROM units WHERE provider_id = unit.provider_id AND code = candidate) LOOP
            n := n + 1;
            candidate := base || '-' || n;
        END LOOP;
        UPDATE units SET code = candidate WHERE id = unit.id;
    END LOOP;
END $$;

ALTER TABLE units
    ALTER COLUMN code SET NOT NULL,
    ADD CONSTRAINT units_code_format CHECK (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(code) <= 50),
    ADD CONSTRAINT units_provider_code_key UNIQUE (provider_id, code);

-- Bookings of our own units named the unit by its UUID; they show its code now.
UPDATE bookings b SET unit_code = u.code FROM units u WHERE b.unit_id = u.id;
