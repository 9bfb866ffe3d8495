-- ARGV: lease_ms, worker_id, max_jobs, taker ('1': it waited to be handed jobs since it last claimed;
-- those come first), topic...
--! include common
local handed = {}
if ARGV[4] == '1' then handed = take_handed(ARGV[2]) end
local want = tonumber(ARGV[3]) - #handed
if want > 0 and #ARGV > 4 then
  for _, job in ipairs(claim(tonumber(ARGV[1]), ARGV[2], want, slice(ARGV, 5, #ARGV))) do handed[#handed + 1] = job end
end
return handed
