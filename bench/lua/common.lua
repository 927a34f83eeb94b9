-- Shared by every scenario script (loaded with dofile).
--
-- Reads its parameters from the environment (set by bench/run.py):
--   BENCH_TOKEN     bearer token for the Authorization header
--   BENCH_PATH      request path (for get_by_id/complete: the tasks collection)
--   BENCH_ID_LO/HI  inclusive range of task ids to spread requests over
--   BENCH_BODY      JSON body (create)
--   BENCH_STATUS    the status every response must have (200 or 201)
--   BENCH_SHAPE     "list" or "single": the envelope the body must start with
--
-- Counts, per thread, responses whose status is not 2xx, whose status is not
-- the expected one, and whose body does not start like the expected envelope;
-- done() sums them and prints one line "BENCH_RESULT {json}" for run.py.

local threads = {}
local thread_count = 0

token = os.getenv("BENCH_TOKEN") or ""
path = os.getenv("BENCH_PATH") or "/"
id_lo = tonumber(os.getenv("BENCH_ID_LO") or "1")
id_hi = tonumber(os.getenv("BENCH_ID_HI") or "1")
body = os.getenv("BENCH_BODY")
expected_status = tonumber(os.getenv("BENCH_STATUS") or "200")
shape = os.getenv("BENCH_SHAPE") or "single"

headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }

non2xx = 0
unexpected_status = 0
bad_body = 0
first_bad = ""

local shape_pattern = '^%s*{%s*"data"%s*:%s*{'
if shape == "list" then
  shape_pattern = '^%s*{%s*"data"%s*:%s*%['
end

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  if scenario_init then
    scenario_init()
  end
end

function response(status, resp_headers, resp_body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  if status ~= expected_status then
    unexpected_status = unexpected_status + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(resp_body or "", 1, 200)
    end
  elseif resp_body == nil or not string.find(resp_body, shape_pattern) then
    bad_body = bad_body + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(resp_body or "", 1, 200)
    end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local n2, unexp, bad, sample = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    n2 = n2 + (t:get("non2xx") or 0)
    unexp = unexp + (t:get("unexpected_status") or 0)
    bad = bad + (t:get("bad_body") or 0)
    if sample == "" then
      sample = t:get("first_bad") or ""
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"status_errors":%d,' ..
    '"non2xx":%d,"unexpected_status":%d,"bad_body":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,"first_bad":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    n2, unexp, bad,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, json_string(sample)))
end
