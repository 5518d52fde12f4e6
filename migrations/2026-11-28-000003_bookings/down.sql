DROP TABLE audit_log;
DROP TABLE idempotency_keys;
DROP TABLE booking_events;
DROP TABLE bookings;
DROP TABLE customers;
ALTER TABLE providers DROP COLUMN cancellation_policy;
ALTER TABLE users DROP CONSTRAINT users_provider_role;
ALTER TABLE users DROP COLUMN provider_id;
