-- Unsaved rows (declined or losing payments' cards) are listed again, as before.
DROP INDEX IF EXISTS payment_methods_one_saved_per_card;
ALTER TABLE payment_methods DROP COLUMN IF EXISTS saved_at;
ALTER TABLE payment_methods DROP COLUMN IF EXISTS fingerprint;
