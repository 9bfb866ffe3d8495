-- ARGV: limit, jitter, cap_ms, max_lost -> number of jobs recovered.  A lost attempt (its worker stopped
-- renewing the lease) is a failed attempt: with retries left the job is retried after its backoff. Without,
-- it goes back to its queue (at its place by priority and id: before the jobs made after it), since losing a worker is seldom the job's
-- fault, until it has lost `max_lost` attempts: then it ends in error, so a job that kills its worker
-- cannot loop forever. One asked to cancel ends canceled.
--! include common
local now = now_ms()
local retry, max_lost = {tonumber(ARGV[2]), tonumber(ARGV[3])}, tonumber(ARGV[4])
local members = redis.call('ZRANGEBYSCORE', '${INFLIGHT}', '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local count = 0
for _, member in ipairs(members) do
  local topic, id = inflight_member_parts(member)
  local key = job_key(topic, id)
  redis.call('ZREM', '${INFLIGHT}', member)
  if RUNNING[redis.call('HGET', key, 'status') or ''] then
    stopped_running(key, topic, id)
    local worker = redis.call('HGET', key, 'worker') or ''
    local attempt = redis.call('HGET', key, 'attempts') or '?'
    if redis.call('SISMEMBER', '${CANCEL}', id) == 1 then
      redis.call('SREM', '${CANCEL}', id)
      redis.call('HSET', key, 'status', '${STATUS_CANCELED}', 'time_end', string.format('%.3f', now / 1000),
                 'error', 'canceled (its worker ' .. worker .. ' was lost)')
      emit(key)
    else
      local lost = redis.call('HINCRBY', key, 'lost', 1)
      local reason = 'worker ' .. worker .. ' stopped renewing its lease'
      if not retry_later(key, topic, id, reason, retry) then
        if lost >= max_lost then
          redis.call('HSET', key, 'status', '${STATUS_ERROR}', 'time_end', string.format('%.3f', now / 1000),
                     'error', 'attempt ' .. attempt .. ' lost: ' .. reason .. '; ' .. lost ..
                     ' attempts lost, no retries left')
        else
          redis.call('HSET', key, 'status', '${STATUS_NEW}', 'worker', '', 'error', 'attempt ' .. attempt .. ' lost: ' .. reason)
          enqueue(key, topic, id)
          wake(topic, 1)
        end
        emit(key)
      end
    end
    count = count + 1
  end
end
return count
