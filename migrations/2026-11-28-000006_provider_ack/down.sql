DROP INDEX bookings_flagged_idx;
ALTER TABLE bookings DROP CONSTRAINT bookings_ack_has_time;
ALTER TABLE bookings DROP COLUMN flagged_at;
ALTER TABLE bookings DROP COLUMN provider_acked_at;
ALTER TABLE bookings DROP COLUMN provider_ack;
