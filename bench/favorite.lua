-- wrk script of bench/run.py for POST and DELETE /api/articles/{slug}/favorite.
--   wrk ... -s bench/favorite.lua <base url> -- <token> <file of slugs, one a line>
-- The slugs are articles the reader has not favorited. Request n acts on slug n mod N:
-- the first pass favorites every one (POST), the next unfavorites them (DELETE), and so on,
-- so every request is a real write. N is far above the number of connections, so a slug's
-- POST has been answered before its DELETE is sent. run.py removes the reader's favorites
-- of these slugs afterwards. done() prints "BENCH_RESULT {json}".

local slugs = {}
local counter = 0

function init(args)
  wrk.headers["Authorization"] = "Token " .. args[1]
  wrk.headers["Accept"] = "application/json"
  for line in io.lines(args[2]) do
    if line ~= "" then
      slugs[#slugs + 1] = line
    end
  end
end

function request()
  local n = #slugs
  local slug = slugs[counter % n + 1]
  local method = "POST"
  if math.floor(counter / n) % 2 == 1 then
    method = "DELETE"
  end
  counter = counter + 1
  return wrk.format(method, "/api/articles/" .. slug .. "/favorite")
end

-- done(): the BENCH_RESULT line, shared by every script (bench/result.lua).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("result").done
