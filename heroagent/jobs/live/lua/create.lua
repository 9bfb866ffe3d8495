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
-- An idempotency key holds "<id> <fingerprint>" (the fingerprint of the job's topic, params type and
-- params; a key put back from the history holds both, or the id alone when its job cannot be read): the same key with another fingerprint,
-- in Redis or earlier in this call, refuses the whole call (an error starting with KEYCONFLICT <id or
-- 0> <key>): a key names one job, and a create with other params is a mistake to say, not to hide.
--
-- ARGV: idempotency window (ms), n, then per job: topic, idempotency key ('' = none), its fingerprint,
-- due (ms; 0 = now), its first state as JSON without its id (the text after the opening brace: Python
-- encodes it, this script puts the id in front), log ('1' / '0'), m = number of field/value items, the m
-- items (the job's hash fields, without jobid, with version 1).
-- Returns per job {id, 1 = created now | 0 = the earlier job with that key}.
--! include common
if not redis.call('GET', '${JOB_ID_COUNTER}') then
  return redis.error_reply('NOSEED the job id counter ${JOB_ID_COUNTER} is missing')
end
local window, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local out, woken, topics = {}, {}, {}
local function held(idem)  -- the id and fingerprint an idempotency key holds (nil: it holds none)
  local value = redis.call('GET', idempotency_key(idem))
  if not value then return nil, nil end
  local id, fingerprint = string.match(value, '^(%d+) ?(.*)$')
  return id, fingerprint
end
local i = 3
local in_call = {}
for _ = 1, n do  -- all or nothing: a draining topic or a key conflict refuses the whole call first
  local topic, idem, fingerprint = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('SISMEMBER', '${TOPICS_DRAINING}', topic) == 1 then
    return redis.error_reply('DRAINING ' .. topic)
  end
  if idem ~= '' then
    local id, was = held(idem)
    if id and was ~= '' and was ~= fingerprint then return redis.error_reply('KEYCONFLICT ' .. id .. ' ' .. idem) end
    if in_call[idem] and in_call[idem] ~= fingerprint then return redis.error_reply('KEYCONFLICT 0 ' .. idem) end
    in_call[idem] = fingerprint
  end
  i = i + 7 + tonumber(ARGV[i + 6])
end
i = 3
for _ = 1, n do
  local topic, idem, fingerprint = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local due, json_tail, log = tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5]
  local m = tonumber(ARGV[i + 6])
  local first, last = i + 7, i + 6 + m
  i = last + 1
  local earlier = nil
  if idem ~= '' then earlier = held(idem) end
  if earlier then
    out[#out + 1] = {tonumber(earlier), 0}
  else
    local id = redis.call('INCR', '${JOB_ID_COUNTER}')
    local key = job_key(topic, id)
    redis.call('HSET', key, 'jobid', id, unpack(ARGV, first, last))
    redis.call('HSET', '${JOB_TOPICS}', id, topic)
    if idem ~= '' then redis.call('SET', idempotency_key(idem), id .. ' ' .. fingerprint, 'PX', window) end
    if due > 0 then
      redis.call('ZADD', '${SCHEDULED}', due, inflight_member(topic, id))
    else
      enqueue(key, topic, id)
      if not woken[topic] then woken[topic] = 0; topics[#topics + 1] = topic end
      woken[topic] = woken[topic] + 1
    end
    redis.call('SADD', '${TOPICS}', topic)
    append_event('{"jobid":' .. id .. ',' .. json_tail, id, topic, '${STATUS_NEW}', 0, 0, 0, 1, log)
    out[#out + 1] = {id, 1}
  end
end
for _, topic in ipairs(topics) do
  wake(topic, woken[topic])
  hand_to_takers(topic, woken[topic])  -- to idle workers waiting for one (its wake token goes with it)
end
return out
