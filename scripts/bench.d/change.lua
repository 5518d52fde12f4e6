-- wrk script: POST /v1/bookings/{id}/change, moving held bookings of the holds run to another
-- night's offer (#15, point 1). CHANGES_FILE has "<booking id> <night>" a line (night 1..30,
-- the line of its offer in OFFERS_FILE). wrk runs two threads: each takes every other
-- booking, so no two requests change one booking at once, and each round moves a booking one
-- night further, so no request asks for the night it already holds.
local offers = {}
for line in io.lines(os.getenv("OFFERS_FILE")) do offers[#offers + 1] = line end
local all = {}
for line in io.lines(os.getenv("CHANGES_FILE")) do
  local id, night = line:match("^(%S+) (%d+)$")
  all[#all + 1] = { id = id, night = tonumber(night) }
end
local token = os.getenv("TOKEN")
threads_made = 0

function setup(thread)
  thread:set("thread_id", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  mine = {}
  for i = thread_id + 1, #all, 2 do mine[#mine + 1] = all[i] end
  counter = 0
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  local slot = (counter % #mine) + 1
  local round = math.floor(counter / #mine)  -- wrk's LuaJIT has no `//`
  counter = counter + 1
  local booking = mine[slot]
  local night = ((booking.night + round) % #offers) + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = string.format("change-%d-%d-%d", thread_id, counter, math.random(1, 1e9)),
  }
  return wrk.format("POST", "/v1/bookings/" .. booking.id .. "/change", headers,
    '{"offer_id":"' .. offers[night] .. '"}')
end
