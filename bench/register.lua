-- wrk script of bench/run.py for POST /api/users (sign-up).
--   wrk ... -s bench/register.lua <url> -- <run id>
-- Every request signs up a new user "bench-<run id>-<thread>-<n>" (email at bench.example);
-- run.py deletes the users whose name starts with "bench-<run id>" afterwards.
-- done() prints "BENCH_RESULT {json}".

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
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  run_id = args[1] or run_id
end

function request()
  counter = counter + 1
  local name = string.format("bench-%s-%d-%d", run_id, thread_id, counter)
  local body = string.format(
    '{"user":{"username":"%s","email":"%s@bench.example","password":"bench password 123"}}',
    name, name)
  return wrk.format(nil, nil, nil, body)
end

-- done(): the BENCH_RESULT line, shared by every script (bench/result.lua).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
done = require("result").done
