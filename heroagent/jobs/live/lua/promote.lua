-- ARGV: limit -> number of delayed jobs that were due and are now queued (a canceled one is dropped).
--! include common
local members = redis.call('ZRANGEBYSCORE', '${SCHEDULED}', '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
local count = 0
for _, member in ipairs(members) do
  local topic, id = inflight_member_parts(member)
  redis.call('ZREM', '${SCHEDULED}', member)
  local key = job_key(topic, id)
  if redis.call('HGET', key, 'status') == '${STATUS_NEW}' then
    enqueue(key, topic, id)
    wake(topic, 1)
    count = count + 1
  end
end
return count
