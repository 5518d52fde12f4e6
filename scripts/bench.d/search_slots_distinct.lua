-- wrk script: hospital searches in SEARCH_CITY that never repeat a question within a run
-- (first day 1..50 days ahead x a window of 1..3 days x limit 1..200: 30,000 questions, each
-- thread starting elsewhere), as search_distinct.lua does for hotels: every request asks
-- every provider, none is shared with another request asking the same thing.
local city = os.getenv("SEARCH_CITY") or "riyadh"
local threads, counter = 0, 0

function setup(thread)
  thread:set("offset", threads * 15000)
  threads = threads + 1
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter + 1
  local from = 1 + counter % 50
  local days = math.floor(counter / 50) % 3
  local limit = 1 + math.floor(counter / 150) % 200
  -- The demo office's calendar (Riyadh, UTC+3, no daylight saving).
  local day = function(d) return os.date("!%Y-%m-%d", os.time() + 3 * 3600 + d * 86400) end
  local path = string.format("/v1/search?kind=hospital&city=%s&from=%s&to=%s&limit=%d",
    city, day(from), day(from + days), limit)
  return wrk.format("GET", path)
end
