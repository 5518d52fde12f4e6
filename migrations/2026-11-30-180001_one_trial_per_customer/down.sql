ALTER TABLE customers DROP COLUMN IF EXISTS trial_used_at;
