-- GET BENCH_PATH/{id} for a random id in [BENCH_ID_LO, BENCH_ID_HI].
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

function request()
  return wrk.format("GET", path .. "/" .. math.random(id_lo, id_hi), headers)
end
