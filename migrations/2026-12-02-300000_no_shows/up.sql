-- No-shows (#15, point 4). What a provider keeps when a guest does not come: nothing, the
-- first night's share of its price (for an appointment, the one appointment: all of it), or
-- all of its price.
ALTER TABLE providers ADD COLUMN no_show_fee text NOT NULL DEFAULT 'first_night'
    CONSTRAINT providers_no_show_fee_known CHECK (no_show_fee IN ('none', 'first_night', 'full'));

-- The charge line a refund credits first: a no-show gives back the provider's price
-- (`provider_price`), never our fee, so its credit note reverses that line and not our revenue
-- or VAT. NULL: in proportion to every line, as before.
ALTER TABLE refunds ADD COLUMN credit_line text;

-- A booking marked `no_show`: the fee its provider's policy kept (the share of the provider's
-- price; the refund made is the booking's `refund_amount`), who marked it, and the one waiver
-- staff may grant (the key makes a booking one no-show; `waived_at` is set once).
CREATE TABLE booking_no_shows (
    booking_id    uuid PRIMARY KEY REFERENCES bookings (id),
    fee           numeric(12, 2) NOT NULL CHECK (fee >= 0),
    marked_by     uuid REFERENCES users (id),
    marked_at     timestamptz NOT NULL DEFAULT now(),
    waived_at     timestamptz,
    waived_by     uuid REFERENCES users (id),
    waiver_reason text,
    CONSTRAINT booking_no_shows_waiver_whole CHECK (
        (waived_at IS NULL) = (waived_by IS NULL)
        AND (waived_at IS NULL) = (waiver_reason IS NULL)
    )
);
