-- What was booked, by name as the offer showed it (a room type, a clinic service), kept with
-- the booking like its price: a later rename at the provider does not rewrite history.
ALTER TABLE bookings ADD COLUMN unit_name_ar text NOT NULL DEFAULT '';
ALTER TABLE bookings ADD COLUMN unit_name_en text NOT NULL DEFAULT '';

-- Earlier bookings: local units by their row, CalDAV room types by their code in the
-- provider's settings. FHIR schedules have no name of ours; they stay empty.
UPDATE bookings b SET unit_name_ar = u.name_ar, unit_name_en = u.name_en
  FROM units u WHERE b.unit_id = u.id;
UPDATE bookings b SET unit_name_ar = rt->>'name_ar', unit_name_en = rt->>'name_en'
  FROM providers p, jsonb_array_elements(p.adapter_settings->'room_types') rt
 WHERE b.provider_id = p.id AND p.adapter = 'caldav' AND rt->>'code' = b.unit_code
   AND b.unit_name_en = '';
