-- ZATCA phase 2 (#17): every invoice and credit note's XML, chained by hash with a gapless
-- counter (ICV) over the one device (this office's e-invoicing unit), and its reporting.

-- The chain's head. Each document locks this row in its payment's or refund's transaction,
-- so counters are handed out in commit order and a rollback returns its counter: no gap,
-- no fork. The first document's previous hash is ZATCA's hash of "0".
CREATE TABLE zatca_chain (
    device     text PRIMARY KEY,
    last_icv   bigint NOT NULL CHECK (last_icv >= 0),
    last_hash  text NOT NULL
);
INSERT INTO zatca_chain (device, last_icv, last_hash) VALUES
    ('wasit', 0, 'NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==');

CREATE TABLE zatca_documents (
    invoice_id       uuid PRIMARY KEY REFERENCES invoices (id),
    icv              bigint NOT NULL UNIQUE CHECK (icv >= 1),
    -- A second document on the same previous hash would fork the chain.
    pih              text NOT NULL UNIQUE,
    hash             text NOT NULL UNIQUE,
    xml              text NOT NULL,
    -- not_required: issued while reporting was off; pending: a report_invoice job is queued.
    report_status    text NOT NULL CHECK (report_status IN
                         ('not_required', 'pending', 'reported', 'reported_with_warnings', 'rejected')),
    -- ZATCA's validation messages of the last answer (warnings, errors).
    report_messages  jsonb NOT NULL DEFAULT '[]',
    report_attempts  integer NOT NULL DEFAULT 0,
    last_error       text,
    reported_at      timestamptz,
    issued_at        timestamptz NOT NULL
);
CREATE INDEX zatca_documents_unreported ON zatca_documents (issued_at)
    WHERE report_status IN ('pending', 'rejected');
