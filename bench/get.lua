-- wrk script of bench/run.py for GET endpoints.
--   wrk ... -s bench/get.lua <url> -- <token or ->
-- The request is built once (no request() function), so wrk sends it at full speed.
-- done() prints one line "BENCH_RESULT {json}" that run.py parses.

function init(args)
  local token = args[1]
  if token ~= nil and token ~= "-" then
    wrk.headers["Authorization"] = "Token " .. token
  end
  wrk.headers["Accept"] = "application/json"
end

-- done(): the BENCH_RESULT line, shared by every script (bench/result.lua).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("result").done
