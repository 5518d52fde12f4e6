-- The patient of a hospital appointment (#15, point 5): only what the hospital needs to know
-- who comes, one row per booking, shown to the booking's customer, staff and that provider.
-- The retention job deletes the row once the appointment is long over
-- (`jobs.retention.booking_patients_days`); the booking itself stays.
CREATE TABLE booking_patients (
    booking_id uuid PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,
    full_name text NOT NULL CHECK (char_length(full_name) BETWEEN 1 AND 200),
    birth_date date NOT NULL,
    id_type text NOT NULL CHECK (id_type IN ('national_id', 'iqama', 'passport')),
    id_number text NOT NULL,
    -- ISO 3166-1 alpha-3, a passport's only.
    passport_country text CHECK (passport_country ~ '^[A-Z]{3}$'),
    -- The stored forms `domain::patient` normalises to (its check digit is checked there).
    CONSTRAINT booking_patients_id_number_form CHECK (
        CASE id_type
            WHEN 'national_id' THEN id_number ~ '^1[0-9]{9}$' AND passport_country IS NULL
            WHEN 'iqama' THEN id_number ~ '^2[0-9]{9}$' AND passport_country IS NULL
            ELSE id_number ~ '^[A-Z0-9]{6,12}$'
        END
    )
);
