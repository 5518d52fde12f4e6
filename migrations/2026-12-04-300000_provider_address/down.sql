ALTER TABLE providers
    DROP COLUMN address_ar,
    DROP COLUMN address_en,
    DROP COLUMN check_in_time,
    DROP COLUMN check_out_time;
