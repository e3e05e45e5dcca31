-- wrk script: ServiceNow-style webhooks of about 2 KB, each with a new sys_mod_count (so none
-- is a duplicate), Basic auth sandbox-style credentials of the bench tenant.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

local filler = string.rep("Router LYON-RTR-02 unreachable; customer impact 300 users. ", 24)
local run = os.time() % 1000000

function request()
  counter = counter + 1
  local sys_id = string.format("%032x", (tid or 0) * 100000 + (counter % 1000))
  local mod = string.format("%d%06d", run, tid * 1000000 + counter)
  local body = '{"operation":"update","sys_id":"' .. sys_id .. '","sys_mod_count":"' .. mod ..
    '","number":"INC0010042","short_description":"MPLS link down - Lyon site","description":"' .. filler ..
    '","state":"2","impact":"1","urgency":"1","sys_updated_by":"chloe.martin","sys_updated_on":"2025-05-14 09:40:30","cmdb_ci_display":"LYON-RTR-02"}'
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ=",
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format("status_non_2xx=%d socket_errors=%d\n",
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
