DROP TABLE booking_rooms;
ALTER TABLE units DROP COLUMN occupancy_rates;
