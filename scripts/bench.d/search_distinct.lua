-- wrk script: hotel searches in SEARCH_CITY (default jeddah) that never repeat a question
-- within a run (check-in 1..50 days ahead x 1..5 nights x limit 1..200: 50,000 questions,
-- each thread starting elsewhere). Nothing can be answered from the answer cache or shared
-- with a request asking the same thing: every request does the whole search.
local city = os.getenv("SEARCH_CITY") or "jeddah"
local threads, counter = 0, 0

function setup(thread)
  thread:set("offset", threads * 25000)
  threads = threads + 1
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter + 1
  local check_in = 1 + counter % 50
  local nights = 1 + math.floor(counter / 50) % 5
  local limit = 1 + math.floor(counter / 250) % 200
  -- The demo office's calendar (Riyadh, UTC+3, no daylight saving).
  local day = function(d) return os.date("!%Y-%m-%d", os.time() + 3 * 3600 + d * 86400) end
  local path = string.format("/v1/search?kind=hotel&city=%s&check_in=%s&check_out=%s&guests=2&limit=%d",
    city, day(check_in), day(check_in + nights), limit)
  return wrk.format("GET", path)
end
