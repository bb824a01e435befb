-- wrk script: each connection waits about the given milliseconds after every answer before its
-- next request, so that C connections send about C * 1000 / (pause + latency) requests a second
-- instead of as many as the server can take. The wait is drawn anew each time, uniformly around
-- its mean: a fixed one would keep the connections in step, and the requests would arrive in
-- bursts of C rather than at a steady rate.
-- Usage: wrk -s fixed_rate.lua URL -- PAUSE_MS
local pause = 0

function init(args)
   pause = tonumber(args[1])
end

function delay()
   return math.random(0, 2 * pause)
end
