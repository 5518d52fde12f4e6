-- Accounts, their refresh-token families, and the login throttle.

-- Keeps updated_at true on every UPDATE, so no code path can forget it.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored lower-cased by the application; the CHECK makes the unique key case-insensitive.
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('customer', 'agent', 'admin', 'provider')),
    full_name     text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    -- E.164, e.g. +966501234567
    phone         text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    locale        text NOT NULL DEFAULT 'ar' CHECK (locale IN ('ar', 'en')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per refresh token ever issued. A login starts a family; each refresh marks the
-- presented token used and issues its successor in the same family. Presenting a used
-- token again means it was stolen, so the whole family is revoked.
CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  uuid NOT NULL,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);

CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);

-- Failed logins per subject ('account:<email>' or 'address:<ip>'), shared by every instance.
CREATE TABLE login_throttles (
    subject          text PRIMARY KEY,
    failures         integer NOT NULL CHECK (failures >= 0),
    -- Failures are forgotten once the latest is older than the window.
    last_failure_at  timestamptz NOT NULL,
    blocked_until    timestamptz
);
