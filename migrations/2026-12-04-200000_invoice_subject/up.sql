-- What an invoice is for, as it stood at issue (the booking's reference, provider and dates,
-- or the plan and its period): printed on the invoice and on each credit note, so a credit
-- note says what was bought and a later change to the booking does not rewrite a kept invoice.
ALTER TABLE invoices ADD COLUMN subject JSONB;

-- Invoices issued before this: filled from their payment as it stands now (the closest
-- record there is of what they were for).
UPDATE invoices i SET subject = jsonb_build_object(
    'kind', 'booking',
    'reference', b.reference,
    'provider_kind', p.kind,
    'provider_name_ar', p.name_ar,
    'provider_name_en', p.name_en,
    'unit_name_ar', b.unit_name_ar,
    'unit_name_en', b.unit_name_en,
    'starts_at', to_jsonb(b.starts_at),
    'ends_at', to_jsonb(b.ends_at),
    'timezone', p.timezone)
FROM payments pay
JOIN bookings b ON b.id = pay.booking_id
JOIN providers p ON p.id = b.provider_id
WHERE pay.id = i.payment_id;

UPDATE invoices i SET subject = jsonb_build_object(
    'kind', 'subscription',
    'plan_name_ar', pl.name_ar,
    'plan_name_en', pl.name_en,
    'period_start', to_jsonb(pay.period_start))
FROM payments pay
JOIN subscriptions s ON s.id = pay.subscription_id
JOIN plans pl ON pl.id = s.plan_id
WHERE pay.id = i.payment_id AND i.subject IS NULL;
