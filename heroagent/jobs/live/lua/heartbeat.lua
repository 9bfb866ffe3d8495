-- A worker pool's heartbeat: renew the leases (and no-overlap locks) of the jobs it holds.
-- ARGV: lease_ms, member... -> {ids (of those members) asked to cancel, each member's status ('' = gone)}:
-- the pool acts on a cancel, and on a suspend or resume someone asked for (suspending / resuming).
--! include common
local deadline = now_ms() + tonumber(ARGV[1])
local cancel, statuses = {}, {}
for i = 2, #ARGV do
  local member = ARGV[i]
  local topic, id = inflight_member_parts(member)
  if redis.call('ZSCORE', '${INFLIGHT}', member) then
    redis.call('ZADD', '${INFLIGHT}', 'XX', deadline, member)
    -- a no-overlap lock lives as long as its holder's lease
    local name = redis.call('HGET', job_key(topic, id), 'no_overlap_key')
    if name and name ~= '' and redis.call('GET', lock_key(name)) == id then
      redis.call('PEXPIRE', lock_key(name), tonumber(ARGV[1]))
    end
  end
  if redis.call('SISMEMBER', '${CANCEL}', id) == 1 then cancel[#cancel + 1] = id end
  statuses[#statuses + 1] = redis.call('HGET', job_key(topic, id), 'status') or ''
end
return {cancel, statuses}
