-- bench/wrk/entries.lua - wrk script for bench/entry_bench.
--
--   wrk -tT ... -s entries.lua URL -- PATH TOKENS_FILE|- BODY T [GET]
--
-- POSTs BODY (application/json) to PATH; with GET as the fifth argument,
-- GETs PATH instead (BODY unused; a one-token file still sends its token).
-- With a TOKENS_FILE (one HS256 token per line, member i on line i),
-- every request carries the next token, so every request is a distinct
-- member's first entry; the file is split between wrk's threads, requests
-- are built once in init(), and a thread that runs out of members stops
-- (reported as "exhausted": size the member set for rate x duration).  A
-- file of one token: every request carries it (the ceilings, the sold-out
-- and the entries/me phases); "-": no token.
-- done() prints one JSON line.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs, n, i, fixed = {}, 0, 0, nil

function init(args)
  local path, file, body = args[1], args[2], args[3]
  local headers = {["Content-Type"] = "application/json"}
  local method = "POST"
  if args[5] == "GET" then
    method, headers, body = "GET", {}, nil
  end
  if file == "-" then
    fixed = wrk.format(method, path, headers, body)
    return
  end
  local lines = {}
  for line in io.lines(file) do lines[#lines + 1] = line end
  if #lines == 1 then -- one token for every request
    headers["Authorization"] = "Bearer " .. lines[1]
    fixed = wrk.format(method, path, headers, body)
    return
  end
  local per = math.floor(#lines / tonumber(args[4])) -- wrk's -t: init() runs before all setup()s
  local lo = id * per
  for k = lo + 1, lo + per do
    headers["Authorization"] = "Bearer " .. lines[k]
    reqs[#reqs + 1] = wrk.format(method, path, headers, body)
  end
  n = #reqs
end

function request()
  if fixed then return fixed end
  if n == 0 then return wrk.format("POST") end -- wrk checks request() before init()
  i = i + 1
  if i > n then
    wrk.thread:set("exhausted", 1)
    wrk.thread:stop()
    return reqs[n]
  end
  return reqs[i]
end

function done(summary, latency, requests)
  local exhausted = 0
  for _, t in ipairs(threads) do exhausted = exhausted + (t:get("exhausted") or 0) end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f,"non2xx":%d,"socket_errors":%d,"timeouts":%d,"exhausted_threads":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write, e.timeout, exhausted))
end
