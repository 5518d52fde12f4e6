-- What a subscriber's plan took off our fee on a booking (before VAT): the booking's price
-- shows the full fee and the discount as lines, as its offer did (#19, point 1). A table of
-- its own: `bookings` is at diesel's 32 columns, and most bookings have no discount.
CREATE TABLE booking_fee_discounts (
    booking_id uuid PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,
    amount numeric(12, 2) NOT NULL CHECK (amount > 0)
);
