DROP TABLE IF EXISTS account_tokens;
ALTER TABLE refresh_tokens DROP COLUMN IF EXISTS session_started_at;
ALTER TABLE users DROP COLUMN IF EXISTS session_generation;
ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at;
