-- Money: plans and subscriptions, saved cards, payments and refunds through a gateway, a
-- double-entry ledger that refuses to be unbalanced, and gapless tax invoices.
-- All amounts are SAR numeric(12,2).

-- Whether the customer pays the provider's price through us (prepaid) or at the provider.
ALTER TABLE providers ADD COLUMN prepaid boolean NOT NULL DEFAULT true;

-- The customer's record at the gateway (`cus_…`), created on first payment.
ALTER TABLE customers ADD COLUMN gateway text;
ALTER TABLE customers ADD COLUMN gateway_customer_ref text;
ALTER TABLE customers ADD CONSTRAINT customers_gateway_ref
    CHECK ((gateway IS NULL) = (gateway_customer_ref IS NULL));

CREATE TABLE plans (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code                 text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_-]{1,31}$'),
    name_ar              text NOT NULL CHECK (length(name_ar) BETWEEN 1 AND 100),
    name_en              text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 100),
    -- Before VAT. Zero only for the free tier (the API refuses new zero-priced plans).
    price                numeric(12, 2) NOT NULL CHECK (price >= 0),
    billing_interval     text NOT NULL CHECK (billing_interval IN ('month', 'year')),
    trial_days           integer NOT NULL DEFAULT 0 CHECK (trial_days BETWEEN 0 AND 365),
    -- Off our service fee on each booking: 100 waives it.
    fee_discount_percent integer NOT NULL DEFAULT 0 CHECK (fee_discount_percent BETWEEN 0 AND 100),
    -- Paid bookings allowed per billing period; NULL is unlimited.
    bookings_per_period  integer CHECK (bookings_per_period > 0),
    active               boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT plans_code_key UNIQUE (code)
);

CREATE TRIGGER plans_set_updated_at BEFORE UPDATE ON plans
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

INSERT INTO plans (code, name_ar, name_en, price, billing_interval, trial_days, fee_discount_percent, bookings_per_period)
VALUES ('basic', 'الأساسية', 'Basic', 0.00, 'month', 0, 0, NULL),
       ('plus', 'بلس', 'Plus', 49.00, 'month', 7, 50, 10),
       ('business', 'الأعمال', 'Business', 1900.00, 'year', 0, 100, 300);

-- A saved card: only the gateway's id and what a person needs to recognise it.
CREATE TABLE payment_methods (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers (id),
    gateway     text NOT NULL,
    gateway_ref text NOT NULL,
    brand       text NOT NULL,
    last4       text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month   integer NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year    integer NOT NULL CHECK (exp_year BETWEEN 2000 AND 2100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_methods_gateway_ref_key UNIQUE (gateway, gateway_ref)
);

CREATE INDEX payment_methods_customer_idx ON payment_methods (customer_id, created_at DESC);

CREATE TABLE subscriptions (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id          uuid NOT NULL REFERENCES customers (id),
    plan_id              uuid NOT NULL REFERENCES plans (id),
    status               text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    payment_method_id    uuid REFERENCES payment_methods (id),
    current_period_start timestamptz NOT NULL,
    current_period_end   timestamptz NOT NULL,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at          timestamptz,
    -- Failed renewal charges so far in this dunning run, and when the next one is due.
    dunning_attempts     integer NOT NULL DEFAULT 0 CHECK (dunning_attempts >= 0),
    next_attempt_at      timestamptz,
    created_by           uuid REFERENCES users (id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_period CHECK (current_period_end > current_period_start),
    CONSTRAINT subscriptions_canceled_at CHECK ((status = 'canceled') = (canceled_at IS NOT NULL)),
    CONSTRAINT subscriptions_dunning CHECK (status <> 'past_due' OR next_attempt_at IS NOT NULL)
);

-- One live subscription per customer: two racing sign-ups cannot both win.
CREATE UNIQUE INDEX subscriptions_one_live_per_customer ON subscriptions (customer_id)
    WHERE status <> 'canceled';
CREATE INDEX subscriptions_renewal_idx ON subscriptions (current_period_end)
    WHERE status IN ('trialing', 'active');
CREATE INDEX subscriptions_dunning_idx ON subscriptions (next_attempt_at) WHERE status = 'past_due';

CREATE TRIGGER subscriptions_set_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One charge attempt through the gateway. `lines` are what was charged (the invoice's lines).
CREATE TABLE payments (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id       uuid NOT NULL REFERENCES customers (id),
    purpose           text NOT NULL CHECK (purpose IN ('booking', 'subscription')),
    booking_id        uuid REFERENCES bookings (id),
    subscription_id   uuid REFERENCES subscriptions (id),
    -- The subscription period a renewal pays for, so one period is never charged twice.
    period_start      timestamptz,
    amount            numeric(12, 2) NOT NULL CHECK (amount > 0),
    -- Refunds succeeded or under way: never more than was captured.
    refunded          numeric(12, 2) NOT NULL DEFAULT 0,
    currency          text NOT NULL DEFAULT 'SAR' CHECK (currency = 'SAR'),
    lines             jsonb NOT NULL,
    status            text NOT NULL CHECK (status IN ('processing', 'requires_action', 'succeeded', 'failed')),
    gateway           text NOT NULL,
    gateway_ref       text,
    action_url        text,
    payment_method_id uuid REFERENCES payment_methods (id),
    failure_code      text,
    failure_message   text,
    created_by        uuid REFERENCES users (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- A sign-up's first charge has no subscription yet: it is made when the charge succeeds.
    CONSTRAINT payments_booking_purpose CHECK ((purpose = 'booking') = (booking_id IS NOT NULL)),
    CONSTRAINT payments_refund_captured CHECK (refunded = 0 OR status = 'succeeded'),
    CONSTRAINT payments_refund_within_captured CHECK (refunded >= 0 AND refunded <= amount)
);

-- Never two live charges for one booking, or two successful ones for one subscription period.
CREATE UNIQUE INDEX payments_one_live_per_booking ON payments (booking_id)
    WHERE status IN ('processing', 'requires_action', 'succeeded');
CREATE UNIQUE INDEX payments_one_per_period ON payments (subscription_id, period_start)
    WHERE status IN ('processing', 'requires_action', 'succeeded') AND period_start IS NOT NULL;
CREATE UNIQUE INDEX payments_one_signup_per_customer ON payments (customer_id)
    WHERE purpose = 'subscription' AND subscription_id IS NULL AND status IN ('processing', 'requires_action');
CREATE UNIQUE INDEX payments_gateway_ref_key ON payments (gateway, gateway_ref);
CREATE INDEX payments_customer_idx ON payments (customer_id, created_at DESC);
CREATE INDEX payments_processing_idx ON payments (updated_at) WHERE status = 'processing';

CREATE TRIGGER payments_set_updated_at BEFORE UPDATE ON payments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A refund is reserved (counted in payments.refunded) when decided, executed by a job.
CREATE TABLE refunds (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    payment_id      uuid NOT NULL REFERENCES payments (id),
    amount          numeric(12, 2) NOT NULL CHECK (amount > 0),
    reason          text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    gateway_ref     text,
    failure_message text,
    created_by      uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX refunds_payment_idx ON refunds (payment_id);

CREATE TRIGGER refunds_set_updated_at BEFORE UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Gapless numbering: the counter row is locked by the transaction that issues the invoice,
-- so a rolled-back payment gives its number back.
CREATE TABLE invoice_sequences (
    series text NOT NULL CHECK (series IN ('INV', 'CRN')),
    year   integer NOT NULL,
    last   integer NOT NULL CHECK (last >= 0),
    PRIMARY KEY (series, year)
);

-- A simplified tax invoice (INV) for a payment, or a credit note (CRN) for a refund.
CREATE TABLE invoices (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number              text NOT NULL,
    series              text NOT NULL CHECK (series IN ('INV', 'CRN')),
    year                integer NOT NULL,
    seq                 integer NOT NULL CHECK (seq > 0),
    customer_id         uuid NOT NULL REFERENCES customers (id),
    payment_id          uuid NOT NULL REFERENCES payments (id),
    refund_id           uuid REFERENCES refunds (id),
    original_invoice_id uuid REFERENCES invoices (id),
    buyer_name          text NOT NULL,
    -- The seller as configured when the invoice was issued: an invoice never changes.
    seller              jsonb NOT NULL,
    lines               jsonb NOT NULL,
    subtotal            numeric(12, 2) NOT NULL,
    vat_total           numeric(12, 2) NOT NULL,
    total               numeric(12, 2) NOT NULL CHECK (total = subtotal + vat_total),
    qr                  text NOT NULL,
    issued_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoices_number_key UNIQUE (number),
    CONSTRAINT invoices_series_seq_key UNIQUE (series, year, seq),
    CONSTRAINT invoices_refund_key UNIQUE (refund_id),
    CONSTRAINT invoices_credit_note CHECK ((series = 'CRN') = (refund_id IS NOT NULL))
);

CREATE UNIQUE INDEX invoices_one_per_payment ON invoices (payment_id) WHERE series = 'INV';
CREATE INDEX invoices_customer_idx ON invoices (customer_id, issued_at DESC, id DESC);

-- Double entry: debits positive, credits negative; the entries of a transaction sum to zero.
CREATE TABLE ledger_transactions (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('invoice', 'payment', 'credit_note', 'refund')),
    payment_id uuid REFERENCES payments (id),
    refund_id  uuid REFERENCES refunds (id),
    invoice_id uuid REFERENCES invoices (id),
    posted_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
    id             bigserial PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES ledger_transactions (id),
    account        text NOT NULL CHECK (account IN ('customer_receivable', 'gateway_clearing',
                       'fee_revenue', 'subscription_revenue', 'vat_payable', 'provider_payable')),
    amount         numeric(12, 2) NOT NULL CHECK (amount <> 0)
);

CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account);

-- Checked at commit, once every entry of the transaction is in.
CREATE FUNCTION ledger_check_balance() RETURNS trigger AS $$
DECLARE
    off numeric;
BEGIN
    SELECT sum(amount) INTO off FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
    IF off <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (off by %)', NEW.transaction_id, off
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_balanced';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balance();

-- The ledger is append-only: mistakes are corrected by new transactions.
CREATE FUNCTION ledger_entries_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_append_only';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_immutable();

-- Gateway webhooks already applied: a delivery repeated by the gateway is applied once.
CREATE TABLE gateway_events (
    gateway     text NOT NULL,
    event_id    text NOT NULL,
    kind        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway, event_id)
);
