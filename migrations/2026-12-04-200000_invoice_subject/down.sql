ALTER TABLE invoices DROP COLUMN subject;
