-- A provider's answer to a booking it was told about, and the flag an agent follows up on
-- when no answer comes.
ALTER TABLE bookings ADD COLUMN provider_ack text CHECK (provider_ack IN ('confirmed', 'refused'));
ALTER TABLE bookings ADD COLUMN provider_acked_at timestamptz;
ALTER TABLE bookings ADD COLUMN flagged_at timestamptz;
ALTER TABLE bookings ADD CONSTRAINT bookings_ack_has_time CHECK ((provider_ack IS NULL) = (provider_acked_at IS NULL));
CREATE INDEX bookings_flagged_idx ON bookings (flagged_at) WHERE flagged_at IS NOT NULL;
