-- wrk script: each connection waits the given milliseconds after every answer before its next
-- request, so that C connections send about C * 1000 / (pause + latency) requests a second
-- instead of as many as the server can take.
-- Usage: wrk -s fixed_rate.lua URL -- PAUSE_MS
local pause = 0

function init(args)
   pause = tonumber(args[1])
end

function delay()
   return pause
end
