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

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,"stdev":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, latency.stdev))
end
