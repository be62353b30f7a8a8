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
