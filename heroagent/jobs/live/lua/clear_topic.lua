-- Cancel the jobs of a topic that have not started, each recorded as canceled with a reason: up to
-- ARGV[4] of its queue per call (the caller calls again while it returns a full batch), then its
-- scheduled ones. With ARGV[5] = '1' (cancel-all) running jobs of the topic are also asked to stop.
-- ARGV: topic, reason, time_end, batch, also_running. Returns {canceled now, asked to stop, queue left}.
--! include common
local topic, reason, time_end, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local queue = queue_key(topic)
local canceled = 0
local function cancel_new(id)
  local key = job_key(topic, id)
  if redis.call('HGET', key, 'status') == '${STATUS_NEW}' then
    redis.call('HSET', key, 'status', '${STATUS_CANCELED}', 'time_end', time_end, 'error', reason)
    emit(key)
    canceled = canceled + 1
  end
end
local function id_of(member)  -- the id of a member (inflight_member) of this topic, else nil
  local member_topic, id = inflight_member_parts(member)
  if member_topic ~= topic then return nil end
  return id
end
local taken = redis.call('ZPOPMIN', queue, batch)
for j = 1, #taken, 2 do cancel_new(taken[j]) end
local left = redis.call('ZCARD', queue)
if left == 0 then
  redis.call('DEL', wake_key(topic))
  for _, member in ipairs(redis.call('ZRANGE', '${SCHEDULED}', 0, -1)) do
    local id = id_of(member)
    if id then
      redis.call('ZREM', '${SCHEDULED}', member)
      cancel_new(id)
    end
  end
end
local stopping = 0
if ARGV[5] == '1' and left == 0 then
  for _, member in ipairs(redis.call('ZRANGE', '${INFLIGHT}', 0, -1)) do
    local id = id_of(member)
    if id then
      ask_to_cancel(job_key(topic, id), id)
      stopping = stopping + 1
    end
  end
end
return {canceled, stopping, left}
