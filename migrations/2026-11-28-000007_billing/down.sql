DROP TABLE IF EXISTS gateway_events, ledger_entries, ledger_transactions, invoices, invoice_sequences,
    refunds, payments, subscriptions, payment_methods, plans CASCADE;
DROP FUNCTION IF EXISTS ledger_check_balance();
DROP FUNCTION IF EXISTS ledger_entries_immutable();
ALTER TABLE customers DROP COLUMN IF EXISTS gateway, DROP COLUMN IF EXISTS gateway_customer_ref;
ALTER TABLE providers DROP COLUMN IF EXISTS prepaid;
