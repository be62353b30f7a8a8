-- wrk script of bench/run.py for POST /api/articles/{slug}/comments.
--   wrk ... -s bench/comment.lua <comments url> -- <token> <run id>
-- Every comment is unique: "Bench <run id> <thread>-<n> ..." (run.py deletes the comments
-- whose body starts with "Bench <run id>" afterwards). done() prints "BENCH_RESULT {json}".

-- Each wrk thread gets a number (run.py uses one thread; more would still be unique).
local threads = 0
thread_id = 1

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local run_id = "x"
local counter = 0

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Token " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  run_id = args[2] or run_id
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"comment":{"body":"Bench %s %d-%d: a comment of a realistic size, measured by wrk."}}',
    run_id, thread_id, counter)
  return wrk.format(nil, nil, nil, body)
end

-- done(): the BENCH_RESULT line, shared by every script (bench/result.lua).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("result").done
