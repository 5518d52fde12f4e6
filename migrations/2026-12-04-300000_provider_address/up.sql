-- A real confirmation (#19, point 2): where the provider is, in both languages, and when a
-- hotel's guests check in and out (local times in the provider's zone; a hospital's
-- appointment has its own time, so both stay null there). Confirmations, emails and the
-- calendar entries we write show these instead of the city slug and "00:00".
ALTER TABLE providers
    ADD COLUMN address_ar text NOT NULL DEFAULT '',
    ADD COLUMN address_en text NOT NULL DEFAULT '',
    ADD COLUMN check_in_time time,
    ADD COLUMN check_out_time time;
