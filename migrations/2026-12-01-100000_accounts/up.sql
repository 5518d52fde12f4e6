-- Accounts (#14, point 5): verified emails, emailed single-use links, sessions that can all
-- be ended at once, and an absolute lifetime for a session however often it is refreshed.

ALTER TABLE users
    -- When the account's email was shown to be the holder's (the emailed link was opened).
    ADD COLUMN email_verified_at timestamptz,
    -- Raised whenever every session must end at once (password changed or reset, account
    -- disabled): an access token carries the generation it was issued under, and one from
    -- an older generation is refused.
    ADD COLUMN session_generation integer NOT NULL DEFAULT 0 CHECK (session_generation >= 0);

-- Everyone here already was let in without verifying: they keep what they could do.
UPDATE users SET email_verified_at = created_at;

-- When the session (the refresh-token family) began, copied onto each of its tokens, so a
-- refresh can never carry it past `auth.session_max_days`.
ALTER TABLE refresh_tokens ADD COLUMN session_started_at timestamptz;
UPDATE refresh_tokens t SET session_started_at = f.started
  FROM (SELECT family_id, min(created_at) AS started FROM refresh_tokens GROUP BY family_id) f
 WHERE t.family_id = f.family_id;
ALTER TABLE refresh_tokens ALTER COLUMN session_started_at SET NOT NULL;

-- Links we email (verify an address, reset a password). Only the SHA-256 of the token is
-- kept; the token itself is derived from `id` under a key the database never sees, so the
-- mail job can be retried without storing it. Used once: `used_at` is set by the one
-- UPDATE that accepts it.
CREATE TABLE account_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    -- The address the link went to: opening it proves this address, nothing else.
    email      text NOT NULL,
    token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CONSTRAINT account_tokens_token_hash_key UNIQUE (token_hash)
);

CREATE INDEX account_tokens_user_id_idx ON account_tokens (user_id, purpose);
