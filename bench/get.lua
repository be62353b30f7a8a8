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
