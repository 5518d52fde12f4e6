-- A card typed into a payment is saved (listed, and payable by its id) only once a payment
-- with it succeeded or a subscription keeps it for its renewals, and once per card: a card's
-- `fingerprint` is the gateway's (Stripe's card.fingerprint; the sandbox's keyed hash of the
-- number), never the number. Cards of payments that were declined or lost a race keep a row
-- (their payment names it) but stay unsaved and unlisted.
ALTER TABLE payment_methods ADD COLUMN fingerprint text;
ALTER TABLE payment_methods ADD COLUMN saved_at timestamptz;

-- Earlier cards (no fingerprint known): saved if they paid or a live subscription uses them.
UPDATE payment_methods m SET saved_at = m.created_at
 WHERE EXISTS (SELECT 1 FROM payments p WHERE p.payment_method_id = m.id AND p.status = 'succeeded')
    OR EXISTS (SELECT 1 FROM subscriptions s WHERE s.payment_method_id = m.id AND s.status <> 'canceled');

-- One saved copy of a card per customer: two payments saving the same new card at once
-- cannot both win, and the loser's payment moves to the winner's copy.
CREATE UNIQUE INDEX payment_methods_one_saved_per_card
    ON payment_methods (customer_id, gateway, fingerprint) WHERE saved_at IS NOT NULL;
