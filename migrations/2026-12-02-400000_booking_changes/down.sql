DROP INDEX payments_one_live_per_change;
DROP INDEX payments_one_live_per_booking;
DELETE FROM payments WHERE purpose = 'booking_change';
CREATE UNIQUE INDEX payments_one_live_per_booking ON payments (booking_id)
    WHERE status IN ('processing', 'requires_action', 'succeeded');
ALTER TABLE payments DROP CONSTRAINT payments_change_purpose;
ALTER TABLE payments DROP CONSTRAINT payments_booking_purpose;
ALTER TABLE payments ADD CONSTRAINT payments_booking_purpose
    CHECK ((purpose = 'booking') = (booking_id IS NOT NULL));
ALTER TABLE payments DROP CONSTRAINT payments_purpose_check;
ALTER TABLE payments ADD CONSTRAINT payments_purpose_check
    CHECK (purpose IN ('booking', 'subscription'));
ALTER TABLE payments DROP COLUMN booking_change_id;
DROP TABLE booking_changes;
ALTER TABLE booking_events DROP COLUMN details;
ALTER TABLE bookings DROP CONSTRAINT bookings_refund_amount_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_check1
    CHECK (refund_amount >= 0 AND refund_amount <= total) NOT VALID;
ALTER TABLE providers DROP COLUMN change_policy;
