-- The job queue: work that must follow a commit (confirmations, expiries, later email and
-- webhooks) is enqueued in the same transaction as the change that causes it, and workers
-- on any instance claim it with FOR UPDATE SKIP LOCKED.
CREATE TABLE jobs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    -- At most one job per key (e.g. one "expire holds" sweep per minute, however many
    -- instances schedule it).
    dedup_key    text,
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
    run_at       timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 8 CHECK (max_attempts >= 1),
    -- A running job's lease: if its worker dies, the job is claimable again after this.
    locked_until timestamptz,
    locked_by    text,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CONSTRAINT jobs_dedup_key UNIQUE (dedup_key)
);

CREATE INDEX jobs_ready_idx ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_state_idx ON jobs (state, id DESC);

CREATE TRIGGER jobs_set_updated_at BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
