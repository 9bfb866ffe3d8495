-- Create jobs, all or nothing, in one call from any process: Redis is the write-ahead log of the
-- history. For each job: check its idempotency key, take the next id from the counter, write the
-- hash, its id -> topic entry, queue it (or schedule it when it is due later), and append its first
-- state to the events stream; the recorder writes that to the history as the job's first version.
--
-- The counter must exist: the server seeds it from the history (at start, and when Redis lost its
-- data, after putting the idempotency keys back), so an id is never handed out twice. Without the
-- counter, nothing is created: the reply is an error starting with NOSEED. A topic in the draining set
-- takes no new job: the reply is an error starting with DRAINING. A job that may start now goes straight
-- to an idle worker waiting to be handed one, if there is one (hand_to_takers in common.lua).
--
-- ARGV: idempotency window (ms), n, then per job: topic, idempotency key ('' = none), due (ms; 0 =
-- now), its first state as JSON without its id (the text after the opening brace: Python encodes it,
-- this script puts the id in front), log ('1' / '0'), m = number of field/value items, the m items (the
-- job's hash fields, without jobid, with version 1).
-- Returns per job {id, 1 = created now | 0 = the earlier job with that key}.
--! include common
if not redis.call('GET', '${JOB_ID_COUNTER}') then
  return redis.error_reply('NOSEED the job id counter ${JOB_ID_COUNTER} is missing')
end
local window, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local out, woken, topics = {}, {}, {}
local i = 3
for _ = 1, n do  -- all or nothing: a draining topic refuses the whole call before anything is written
  if redis.call('SISMEMBER', '${TOPICS_DRAINING}', ARGV[i]) == 1 then
    return redis.error_reply('DRAINING ' .. ARGV[i])
  end
  i = i + 6 + tonumber(ARGV[i + 5])
end
i = 3
for _ = 1, n do
  local topic, idem, due, json_tail, log = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local m = tonumber(ARGV[i + 5])
  local first, last = i + 6, i + 5 + m
  i = last + 1
  local earlier = false
  if idem ~= '' then earlier = redis.call('GET', idempotency_key(idem)) end
  if earlier then
    out[#out + 1] = {tonumber(earlier), 0}
  else
    local id = redis.call('INCR', '${JOB_ID_COUNTER}')
    local key = job_key(topic, id)
    redis.call('HSET', key, 'jobid', id, unpack(ARGV, first, last))
    redis.call('HSET', '${JOB_TOPICS}', id, topic)
    if idem ~= '' then redis.call('SET', idempotency_key(idem), id, 'PX', window) end
    if due > 0 then
      redis.call('ZADD', '${SCHEDULED}', due, inflight_member(topic, id))
    else
      enqueue(key, topic, id)
      if not woken[topic] then woken[topic] = 0; topics[#topics + 1] = topic end
      woken[topic] = woken[topic] + 1
    end
    redis.call('SADD', '${TOPICS}', topic)
    append_event('{"jobid":' .. id .. ',' .. json_tail, id, topic, 'new', 0, 0, 0, 1, log)
    out[#out + 1] = {id, 1}
  end
end
for _, topic in ipairs(topics) do
  wake(topic, woken[topic])
  hand_to_takers(topic, woken[topic])  -- to idle workers waiting for one (its wake token goes with it)
end
return out
