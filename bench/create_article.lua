-- wrk script of bench/run.py for POST /api/articles.
--   wrk ... -s bench/create_article.lua <url> -- <token> <run id> <tag>
-- Every request has a unique title "Bench <run id> <n>" (run.py deletes these articles
-- afterwards by that prefix). done() prints "BENCH_RESULT {json}" like get.lua.

local run_id = "x"
local tag = "bench"
local counter = 0
local text = string.rep("Measured by wrk: a body of a realistic size. ", 20)

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Token " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  run_id = args[2] or run_id
  tag = args[3] or tag
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"article":{"title":"Bench %s %d","description":"Written by bench/run.py",'
      .. '"body":"%s","tagList":["%s"]}}',
    run_id, counter, text, tag)
  return wrk.format(nil, nil, nil, body)
end

-- done(): the BENCH_RESULT line, shared by every script (bench/result.lua).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("result").done
