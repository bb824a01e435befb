-- wrk script: every request carries the next of the tokens in the file named by its argument
-- (one per line) as a bearer token, round and round; wrk's own headers (-H) are kept.
-- Usage: wrk -s rotate_tokens.lua URL -- TOKENS_FILE
local requests, count, next_one = {}, 0, 0

function init(args)
   for token in io.lines(args[1]) do
      local headers = {}
      for name, value in pairs(wrk.headers) do
         headers[name] = value
      end
      headers["Authorization"] = "Bearer " .. token
      count = count + 1
      requests[count] = wrk.format(nil, nil, headers)
   end
   if count == 0 then
      error("no token in " .. args[1])
   end
end

function request()
   next_one = next_one % count + 1
   return requests[next_one]
end
