-- The SQL one local search runs when it is not answered from memory (src/providers/search.rs
-- `search`, store.rs `active_providers`, local.rs `search_stays`): the active providers of the
-- kind in the city, then their free room types for the stay, with the nights' bounds in UTC
-- computed by the server from the providers' time zone. scripts/bench runs it with pgbench
-- twice: parsed and planned on every execution (-M extended: what diesel does with a boxed
-- query or sql_query), and prepared once per connection (-M prepared: what the server does,
-- since both are statements diesel caches).
-- The benchmark city is Jeddah (two demo hotels); :night_from / :night_until are timestamptz.
SELECT id, kind, name_ar, name_en, city, timezone, adapter, adapter_settings, webhook_url, webhook_secret,
       active, created_at, updated_at, cancellation_policy, prepaid
  FROM providers WHERE kind = 'hotel' AND city = 'jeddah' AND active = true
 ORDER BY name_en, id;
SELECT u.provider_id, u.id, u.name_ar, u.name_en, u.max_guests, u.nightly_price,
       min(c.starts_at), max(c.ends_at)
  FROM units u
  JOIN inventory_cells c ON c.unit_id = u.id
 WHERE u.provider_id = ANY(:provider_ids::uuid[]) AND u.kind = 'room_type' AND u.active = true
   AND u.max_guests >= 2
   AND c.starts_at >= :night_from::timestamptz AND c.starts_at < :night_until::timestamptz
   AND c.capacity - c.reserved >= 1
 GROUP BY u.id
HAVING count(*) = 2;
