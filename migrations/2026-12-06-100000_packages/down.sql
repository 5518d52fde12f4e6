-- A database holding package payments refuses this (the purpose check): they are money records.
DROP TABLE refund_shares;
DROP TABLE payment_allotments;
DROP INDEX payments_one_live_per_package;
ALTER TABLE payments DROP CONSTRAINT payments_package_purpose;
ALTER TABLE payments DROP CONSTRAINT payments_purpose_check;
ALTER TABLE payments ADD CONSTRAINT payments_purpose_check
    CHECK (purpose IN ('booking', 'booking_change', 'subscription'));
ALTER TABLE payments DROP COLUMN package_id;
DROP TABLE package_steps;
DROP TABLE package_parts;
DROP TABLE packages;
