-- Forget a topic with nothing left in it: no job queued, waiting for its time, handed out or running. Then
-- its queue, wake-up list, pause and drain marks, limits and their counters go, and it leaves the topic set
-- (a create brings it back). Its finished jobs stay in the history. Atomic, so no create slips in between.
-- ARGV: topic. Returns {queued, running, scheduled, removed (1 or 0)}.
--! include keys
local RUNNING = ${RUNNING_STATUSES}
local topic = ARGV[1]
local queued = redis.call('ZCARD', queue_key(topic))
local running, scheduled, waiting = 0, 0, 0
local jobs = redis.call('HGETALL', '${JOB_TOPICS}')
for i = 1, #jobs, 2 do
  if jobs[i + 1] == topic then
    local id = jobs[i]
    local status = redis.call('HGET', job_key(topic, id), 'status')
    if RUNNING[status] then
      running = running + 1
    elseif status == '${STATUS_NEW}' then
      if redis.call('ZSCORE', '${SCHEDULED}', inflight_member(topic, id)) then
        scheduled = scheduled + 1
      else
        waiting = waiting + 1
      end
    end
  end
end
if waiting > queued then queued = waiting end  -- a new job between its queue and a worker's hands
if queued + running + scheduled > 0 then
  return {queued, running, scheduled, 0}
end
redis.call('DEL', queue_key(topic), wake_key(topic), limits_key(topic), running_key(topic), rate_key(topic))
for _, set in ipairs({'${TOPICS}', '${TOPICS_PAUSED}', '${TOPICS_DRAINING}', '${TOPICS_LIMITED}'}) do
  redis.call('SREM', set, topic)
end
return {0, 0, 0, 1}
