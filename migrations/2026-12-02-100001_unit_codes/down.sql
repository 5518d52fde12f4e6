UPDATE bookings SET unit_code = unit_id::text WHERE unit_id IS NOT NULL;
ALTER TABLE units DROP COLUMN code;
