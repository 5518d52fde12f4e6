DROP TABLE webhook_deliveries;
ALTER TABLE providers DROP COLUMN webhook_disabled_at;
