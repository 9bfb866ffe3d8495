-- ARGV: lease_ms, member... -> ids (of those members) that were asked to cancel
--! include common
local deadline = now_ms() + tonumber(ARGV[1])
local cancel = {}
for i = 2, #ARGV do
  local member = ARGV[i]
  local id = string.match(member, ':(%d+)$')
  if redis.call('ZSCORE', '${INFLIGHT}', member) then
    redis.call('ZADD', '${INFLIGHT}', 'XX', deadline, member)
    -- a no-overlap lock lives as long as its holder's lease
    local name = redis.call('HGET', '${PREFIX_JOB}:' .. member, 'no_overlap_key')
    if name and name ~= '' and redis.call('GET', '${PREFIX_LOCK}:' .. name) == id then
      redis.call('PEXPIRE', '${PREFIX_LOCK}:' .. name, tonumber(ARGV[1]))
    end
  end
  if redis.call('SISMEMBER', '${CANCEL}', id) == 1 then cancel[#cancel + 1] = id end
end
return cancel
