DROP TABLE IF EXISTS booking_no_shows;
ALTER TABLE refunds DROP COLUMN IF EXISTS credit_line;
ALTER TABLE providers DROP COLUMN IF EXISTS no_show_fee;
