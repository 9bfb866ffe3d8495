-- ARGV: lease_ms, member... -> ids (of those members) that were asked to cancel
--! include common
local deadline = now_ms() + tonumber(ARGV[1])
local cancel = {}
for i = 2, #ARGV do
  local member = ARGV[i]
  if redis.call('ZSCORE', '${INFLIGHT}', member) then
    redis.call('ZADD', '${INFLIGHT}', 'XX', deadline, member)
  end
  local id = string.match(member, ':(%d+)$')
  if redis.call('SISMEMBER', '${CANCEL}', id) == 1 then cancel[#cancel + 1] = id end
end
return cancel
