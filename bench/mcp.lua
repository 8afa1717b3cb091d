-- wrk script for MCP over streamable HTTP (one JSON-RPC request per POST).
-- Arguments after `--`: comma-separated Mcp-Session-Id values (requests rotate over them; empty
-- for a 2026-07-28 client, which has no session and gets its mirrored headers from -H), the
-- request's JSON after its id, e.g. "method":"tools/call","params":{...}}, and optionally a
-- string every good answer contains (a 2026-07-28 client's "resultType":"complete").
-- Each request gets a fresh integer id; a response that is not HTTP 200, that carries a
-- JSON-RPC error or that lacks the string counts as an error. done() prints one
-- machine-readable BENCH line.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads)
end

local sessions = {}
local tail = ""
local must_contain = ""
local counter = 0
rpc_errors = 0 -- a global: done() reads it from each thread with thread:get, which sees no locals

function init(args)
  for id in string.gmatch(args[1], "[^,]+") do
    table.insert(sessions, id)
  end
  tail = args[2]
  must_contain = args[3] or ""
  counter = (thread_index or 1) * 1000000000
  wrk.method = "POST"
end

function request()
  counter = counter + 1
  local headers = wrk.headers
  if #sessions > 0 then
    headers["Mcp-Session-Id"] = sessions[(counter % #sessions) + 1]
  end
  return wrk.format(nil, nil, headers, '{"jsonrpc":"2.0","id":' .. counter .. ',' .. tail)
end

function response(status, headers, body)
  if status >= 400 then
    return -- wrk counts these itself (summary.errors.status)
  end
  if status ~= 200 or string.find(body, '"error":{', 1, true)
      or (must_contain ~= "" and not string.find(body, must_contain, 1, true)) then
    rpc_errors = rpc_errors + 1
  end
end

function done(summary, latency, requests)
  local rpc = 0
  for _, thread in ipairs(threads) do
    rpc = rpc + (thread:get("rpc_errors") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50=%d p95=%d p99=%d max=%d connect=%d read=%d write=%d status=%d timeout=%d rpc=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, rpc))
end
