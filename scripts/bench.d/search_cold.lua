-- wrk script: local hotel searches in Jeddah that never repeat a question within the run
-- (check-in 1..50 days ahead x 1..5 nights x limit 1..200: 50,000 questions, each thread
-- starting elsewhere), so the answer cache can never answer: what a search costs the
-- database every time.
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
  local day = function(d) return os.date("!%Y-%m-%d", os.time() + d * 86400) end
  local path = string.format("/v1/search?kind=hotel&city=jeddah&check_in=%s&check_out=%s&guests=2&limit=%d",
    day(check_in), day(check_in + nights), limit)
  return wrk.format("GET", path)
end
