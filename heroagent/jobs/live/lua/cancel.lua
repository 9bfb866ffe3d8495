-- KEYS: job hash.  ARGV: topic, id, time_end -> 'canceled' (was queued or waiting), 'stopping' (running: it is
-- `canceling` until its worker stops it), or the status it has ('' = gone) when it cannot be canceled.
--! include common
local key = KEYS[1]
local topic, id = ARGV[1], ARGV[2]
local current = redis.call('HGET', key, 'status')
if current == '${STATUS_NEW}' or current == '${STATUS_WAITING}' then
  redis.call('ZREM', queue_key(topic), id)
  redis.call('ZREM', '${SCHEDULED}', inflight_member(topic, id))
  redis.call('HSET', key, 'status', '${STATUS_CANCELED}', 'time_end', ARGV[3])
  emit(key)  -- the jobs waiting for it are settled by its policy (a waiting job leaves its parents' sets then)
  return 'canceled'
elseif RUNNING[current] then
  ask_to_cancel(key, id)
  return 'stopping'
end
return current or ''
