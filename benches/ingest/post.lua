-- wrk script: ServiceNow-style webhooks of about 2 KB, each with a new sys_mod_count (so none
-- is a duplicate), Basic auth sandbox-style credentials of the bench tenant.
--
-- Options, from the environment (all off by default; benches/pg/run.sh uses them):
--   BENCH_EVENTS=deliveries  every event makes exactly one Orange call with the shipped
--                            ServiceNow mapping: the first event of each of a thread's 1,000
--                            tickets is an insert (a create), the next ones change the
--                            description (an update). By default the events match no route
--                            (stored, no delivery), as in the SQLite figures.
--   BENCH_ADDRS=h:p,h:p,...  wrk thread i sends to address i (mod n), so one wrk spreads its
--                            load over several replicas (the URL's host:port is then unused).
--   BENCH_MAX=N              each thread stops after N answers (a fixed amount of work).
local counter = 0
local thread_id = 0
local threads = {}
local deliveries = os.getenv("BENCH_EVENTS") == "deliveries"

local addrs = {}
for a in string.gmatch(os.getenv("BENCH_ADDRS") or "", "[^,]+") do
  local host, port = string.match(a, "^(.+):(%d+)$")
  table.insert(addrs, wrk.lookup(host, port)[1])
end

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  if #addrs > 0 then
    thread.addr = addrs[(thread_id - 1) % #addrs + 1]
  end
  table.insert(threads, thread)
end

-- wrk builds one request on thread 1's state before the run to check it and discards it;
-- that call must not use up thread 1's first event (in deliveries mode, a ticket's create).
-- It does not advance the counter, so if it were ever sent, it would be an exact duplicate
-- of the next request (same dedupe key: answered 202 duplicate, nothing created).
local calls = 0

local filler = string.rep("Router LYON-RTR-02 unreachable; customer impact 300 users. ", 24)
local run = os.time() % 1000000

function request()
  counter = counter + 1
  local ticket = (tid or 0) * 100000 + (counter % 1000)
  local sys_id = string.format("%032x", ticket)
  local mod = string.format("%d%06d", run, tid * 1000000 + counter)
  local operation, number, changed = "update", "INC0010042", ""
  if deliveries then
    number = string.format("BENCH%07d", ticket)
    if counter <= 1000 then
      operation = "insert"
    else
      changed = ',"changed_fields":["description"]'
    end
  end
  calls = calls + 1
  if calls == 1 and tid == 1 then
    counter = counter - 1
  end
  local body = '{"operation":"' .. operation .. '","sys_id":"' .. sys_id .. '","sys_mod_count":"' .. mod ..
    '","number":"' .. number .. '","short_description":"MPLS link down - Lyon site","description":"' .. filler ..
    '","state":"2","impact":"1","urgency":"1","sys_updated_by":"chloe.martin","sys_updated_on":"2025-05-14 09:40:30","cmdb_ci_display":"LYON-RTR-02"' ..
    changed .. '}'
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ=",
  }, body)
end

local max = tonumber(os.getenv("BENCH_MAX") or "")
if max then
  local answered = 0
  function response()
    answered = answered + 1
    if answered >= max then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  io.write(string.format("status_non_2xx=%d socket_errors=%d\n",
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
