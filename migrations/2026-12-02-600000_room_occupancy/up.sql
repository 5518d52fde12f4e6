-- Rooms with their guests (#15, point 2): a room type's prices by occupancy, and each booked
-- room's guests with its lead guest.

-- {"base_adults": 2, "extra_adult": "120.00", "child_bands": [{"up_to_age": 5, "nightly": "0"}]}
-- (providers/rates.rs); NULL: the nightly price whoever stays.
ALTER TABLE units ADD COLUMN occupancy_rates jsonb;

CREATE TABLE booking_rooms (
    booking_id  uuid NOT NULL REFERENCES bookings (id),
    room_no     integer NOT NULL CHECK (room_no BETWEEN 1 AND 9),
    adults      integer NOT NULL CHECK (adults BETWEEN 1 AND 8),
    -- Ages of the children, youngest first.
    children    integer[] NOT NULL DEFAULT '{}' CHECK (cardinality(children) <= 6),
    lead_guest  text NOT NULL CHECK (length(lead_guest) BETWEEN 1 AND 200),
    PRIMARY KEY (booking_id, room_no)
);
