-- The SQL one booking hold runs (scripts/bench runs it with pgbench beside the HTTP load):
-- insert the booking, lock its night, take a room, write the event, in one transaction.
\set night random(1, 30)
BEGIN;
INSERT INTO bookings (reference, customer_id, provider_id, unit_id, unit_code, starts_at, ends_at,
                      quantity, guests, status, hold_expires_at, channel, provider_price, service_fee,
                      vat, total, contact_name)
SELECT bench_reference(), :customer_id::uuid, :provider_id::uuid, :unit_id::uuid, :unit_id,
       c.starts_at, c.ends_at, 1, 2, 'held', now() + interval '15 minutes', 'web',
       300.00, 25.00, 3.75, 328.75, 'pgbench'
  FROM inventory_cells c
 WHERE c.unit_id = :unit_id::uuid
 ORDER BY c.starts_at OFFSET :night - 1 LIMIT 1
RETURNING id, starts_at AS night_start \gset
SELECT starts_at FROM inventory_cells WHERE unit_id = :unit_id::uuid AND starts_at = :night_start::timestamptz FOR UPDATE;
UPDATE inventory_cells SET reserved = reserved + 1
 WHERE unit_id = :unit_id::uuid AND starts_at = :night_start::timestamptz AND reserved + 1 <= capacity;
INSERT INTO booking_events (booking_id, to_status) VALUES (:id::uuid, 'held');
END;
