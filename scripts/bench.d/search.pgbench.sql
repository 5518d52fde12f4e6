-- The SQL one local search runs (src/providers/search.rs `search`, local.rs `search_stays`):
-- the active providers of the kind in the city, then every local provider's free room types
-- for the stay in one query. scripts/bench runs it with pgbench twice: parsed and planned on
-- every execution (-M extended: what diesel does with a boxed query or sql_query), and
-- prepared once per connection (-M prepared: what a cached statement costs).
-- The benchmark city is Jeddah (two demo hotels); :check_in / :check_out are dates.
SELECT id, kind, name_ar, name_en, city, timezone, adapter, adapter_settings, webhook_url, webhook_secret,
       active, created_at, updated_at, cancellation_policy, prepaid
  FROM providers WHERE kind = 'hotel' AND city = 'jeddah' AND active = true
 ORDER BY city, name_en, id;
SELECT u.provider_id, u.id AS unit_id, u.name_ar, u.name_en, u.max_guests, u.nightly_price,
       min(c.starts_at) AS starts_at, max(c.ends_at) AS ends_at
  FROM units u
  JOIN providers p ON p.id = u.provider_id
  JOIN inventory_cells c ON c.unit_id = u.id
 WHERE u.provider_id = ANY(:provider_ids::uuid[]) AND u.kind = 'room_type' AND u.active
   AND u.max_guests * 1 >= 2
   AND c.starts_at >= (:check_in::date)::timestamp AT TIME ZONE p.timezone
   AND c.starts_at < (:check_out::date)::timestamp AT TIME ZONE p.timezone
   AND c.capacity - c.reserved >= 1
 GROUP BY u.id
HAVING count(*) = 2;
