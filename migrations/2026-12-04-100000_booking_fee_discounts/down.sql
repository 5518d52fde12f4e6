DROP TABLE booking_fee_discounts;
