ALTER TABLE bookings DROP COLUMN unit_name_en;
ALTER TABLE bookings DROP COLUMN unit_name_ar;
