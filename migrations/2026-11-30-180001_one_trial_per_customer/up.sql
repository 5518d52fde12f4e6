-- One free trial per customer, ever, on any plan: set when their first trial starts, it is
-- never cleared, so cancelling and subscribing again is charged at once.
ALTER TABLE customers ADD COLUMN trial_used_at timestamptz;

-- Earlier trials, as far as the rows tell: a subscription trialing now, or one on a paid plan
-- with a trial that began without a sign-up charge (a sign-up charge pays for the period
-- starting at the subscription's creation; a trial's first charge is its renewal).
UPDATE customers c SET trial_used_at = t.first
  FROM (SELECT s.customer_id, min(s.created_at) AS first
          FROM subscriptions s
          JOIN plans p ON p.id = s.plan_id
         WHERE s.status = 'trialing'
            OR (p.trial_days > 0 AND p.price > 0 AND NOT EXISTS (
                    SELECT 1 FROM payments x
                     WHERE x.subscription_id = s.id AND x.period_start <= s.created_at))
         GROUP BY s.customer_id) t
 WHERE c.id = t.customer_id;
