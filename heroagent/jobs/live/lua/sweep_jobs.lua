-- KEYS: job hashes.  ARGV: now_ms, min_age_ms -> per key: outcome ('ok', 'gone', 'terminal', 'leased' = an
-- active job nobody held a lease on, now given one the reaper will see; 'queued' = a new job neither queued
-- nor scheduled, queued now). A new job younger than min_age is left alone.
--! include common
local out = {}
local now, min_age = tonumber(ARGV[1]), tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  local topic, id = job_key_parts(key)
  local status = redis.call('HGET', key, 'status')
  local outcome = 'ok'
  if not status or not topic then outcome = 'gone'
  elseif TERMINAL[status] then outcome = 'terminal'
  elseif RUNNING[status] then
    if not redis.call('ZSCORE', '${INFLIGHT}', inflight_member(topic, id)) then
      redis.call('ZADD', '${INFLIGHT}', now, inflight_member(topic, id))
      outcome = 'leased'
    end
  elseif status == '${STATUS_NEW}' then
    local created = tonumber(redis.call('HGET', key, 'time_created') or '0') or 0
    if not redis.call('ZSCORE', '${SCHEDULED}', inflight_member(topic, id))
       and not redis.call('ZSCORE', queue_key(topic), id)
       and created * 1000 < now - min_age then
      enqueue(key, topic, id)
      wake(topic, 1)
      outcome = 'queued'
    end
  end
  out[#out + 1] = outcome
end
return out
