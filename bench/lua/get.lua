-- GET of one fixed path (the list scenarios): BENCH_PATH with its query string.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local req

function scenario_init()
  req = wrk.format("GET", path, headers)
end

function request()
  return req
end
