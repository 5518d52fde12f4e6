-- The SQL transaction one booking hold runs (src/bookings/hold.rs `create`, the
-- `conn.transaction` block), which scripts/bench runs with pgbench beside the HTTP load:
-- insert the booking, lock its night, take a room, write the event, look up the customer's
-- address and enqueue the "held" email, in one transaction. (The server's job workers then
-- send those emails, as they do for the HTTP run.) What the API adds around it (the offer
-- check, the unit/customer/provider reads, the Idempotency-Key's row inserted first and its
-- answer written last in the same transaction) is what the ratio booking rate / pgbench
-- rate measures.
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
RETURNING id, starts_at AS night_start, ends_at AS night_end \gset
SELECT starts_at FROM inventory_cells WHERE unit_id = :unit_id::uuid AND starts_at >= :night_start::timestamptz AND starts_at < :night_end::timestamptz ORDER BY starts_at FOR UPDATE;
UPDATE inventory_cells SET reserved = reserved + 1
 WHERE unit_id = :unit_id::uuid AND starts_at >= :night_start::timestamptz AND starts_at < :night_end::timestamptz AND reserved + 1 <= capacity;
INSERT INTO booking_events (booking_id, actor_id, to_status, request_id)
     VALUES (:id::uuid, :user_id::uuid, 'held', 'pgbench-' || :client_id::text);
SELECT email FROM customers WHERE id = :customer_id::uuid;
-- The dedup key is the app's (email, held, booking id joined by colons), spelled with chr(58):
-- pgbench would read a colon followed by a word, even in a string, as one of its variables.
INSERT INTO jobs (kind, payload, dedup_key, run_at, max_attempts)
VALUES ('send_booking_email',
        jsonb_build_object('kind', 'send_booking_email', 'booking_id', :id::uuid, 'event', 'held'),
        concat_ws(chr(58), 'email', 'held', :id::text), now(), 3)
ON CONFLICT DO NOTHING;
END;
