-- wrk script: POST /v1/bookings with a fresh Idempotency-Key per request, spreading the
-- requests over the offers in OFFERS_FILE (one offer id a line) so they do not queue on one row.
local offers = {}
for line in io.lines(os.getenv("OFFERS_FILE")) do offers[#offers + 1] = line end
local token = os.getenv("TOKEN")
local counter = 0
-- In the main state: numbers the threads. Each thread then sees its own `thread_id` global
-- (a `local` here would shadow it and give every thread the same keys).
threads_made = 0

function setup(thread)
  thread:set("thread_id", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  -- Each thread its own random sequence, so keys never repeat across threads.
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  counter = counter + 1
  local offer = offers[(counter % #offers) + 1]
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = string.format("bench-%d-%d-%d", thread_id, counter, math.random(1, 1e9)),
  }
  return wrk.format("POST", "/v1/bookings", headers, '{"offer_id":"' .. offer .. '"}')
end
