-- POST BENCH_PATH with the JSON body BENCH_BODY (a task with two tags).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local req

function scenario_init()
  local h = {}
  for k, v in pairs(headers) do h[k] = v end
  h["Content-Type"] = "application/json"
  req = wrk.format("POST", path, h, body)
end

function request()
  return req
end
