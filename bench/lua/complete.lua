-- PATCH BENCH_PATH/{id}/complete without a body (toggles), for a random id in
-- [BENCH_ID_LO, BENCH_ID_HI], so that concurrent requests rarely lock the same row.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

function request()
  return wrk.format("PATCH", path .. "/" .. math.random(id_lo, id_hi) .. "/complete", headers)
end
