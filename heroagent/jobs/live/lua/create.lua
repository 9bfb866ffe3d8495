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
-- A job with depends_on (see settle_dependents in common.lua) names its parents as ids, or '@N' for the Nth
-- job of this call (an earlier one: cycles cannot be made). A parent Python read from the history (it has
-- left Redis) comes with how it ended; one that is neither in Redis nor given refuses the whole call: an
-- error starting with PARENTGONE and the ids (the server looks them up in the history and calls again).
-- The child waits (status waiting) for the parents that have not ended; one that ended otherwise than done
-- ends it at once by its policy; with none left to wait for it is queued as any job.
--
-- ARGV: idempotency window (ms), n, then per job: topic, idempotency key ('' = none), its fingerprint,
-- due (ms; 0 = now), its first state as JSON without its id (the text after the opening brace: Python
-- encodes it, this script puts the id in front), log ('1' / '0'), m = number of field/value items, the m
-- items (the job's hash fields, without jobid, with version 1), d = number of parents, then per parent:
-- its id or '@N', and how it ended as JSON ({status, result, result_type}) when Python read it from the
-- history ('' = look in Redis).
-- Returns per job {id, 1 = created now | 0 = the earlier job with that key}, and for a job with parents
-- that was created now, its status and its parents' ids ('1,2,3').
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
local gone = {}
for index = 1, n do  -- all or nothing: a draining topic, a key conflict or a parent gone refuse the whole call first
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
  local d = tonumber(ARGV[i])
  for p = 1, d do
    local ref, known = ARGV[i + 2 * p - 1], ARGV[i + 2 * p]
    local position = string.match(ref, '^@(%d+)$')
    if position then
      if tonumber(position) + 1 >= index then return redis.error_reply('BADREF ' .. ref .. ' ' .. (index - 1)) end
    elseif known == '' and not live_parent(ref) then
      gone[#gone + 1] = ref
    end
  end
  i = i + 1 + 2 * d
end
if #gone > 0 then return redis.error_reply('PARENTGONE ' .. table.concat(gone, ' ')) end
i = 3
for _ = 1, n do
  local topic, idem, fingerprint = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local due, json_tail, log = tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5]
  local m = tonumber(ARGV[i + 6])
  local first, last = i + 7, i + 6 + m
  local d = tonumber(ARGV[last + 1])
  local deps = last + 2
  i = last + 2 + 2 * d
  local earlier = nil
  if idem ~= '' then earlier = held(idem) end
  if earlier then
    out[#out + 1] = {tonumber(earlier), 0}
  else
    -- the counter counts this partition's ids: k+1, k+1+P, k+1+2P... (keys.job_id_partition's inverse)
    local id = (redis.call('INCR', '${JOB_ID_COUNTER}') - 1) * ${PARTITIONS} + ${PARTITION} + 1
    local key = job_key(topic, id)
    redis.call('HSET', key, 'jobid', id, unpack(ARGV, first, last))
    redis.call('HSET', '${JOB_TOPICS}', id, topic)
    if idem ~= '' then redis.call('SET', idempotency_key(idem), id .. ' ' .. fingerprint, 'PX', window) end
    local reply = {id, 1}
    local queued = due == 0
    if d > 0 then  -- its first state comes from what its parents say (with_parents writes it)
      reply = with_parents(key, topic, id, deps, d, out, 0)
      queued = queued and reply[3] == '${STATUS_NEW}'
      if due > 0 and reply[3] == '${STATUS_NEW}' then
        redis.call('ZADD', '${SCHEDULED}', due, inflight_member(topic, id))
      end
    else
      if due > 0 then redis.call('ZADD', '${SCHEDULED}', due, inflight_member(topic, id)) end
      append_event('{"jobid":' .. id .. ',' .. json_tail, id, topic, '${STATUS_NEW}', 0, 0, 0, 1, log)
    end
    if queued then
      enqueue(key, topic, id)
      if not woken[topic] then woken[topic] = 0; topics[#topics + 1] = topic end
      woken[topic] = woken[topic] + 1
    end
    redis.call('SADD', '${TOPICS}', topic)
    out[#out + 1] = reply
  end
end
for _, topic in ipairs(topics) do
  wake(topic, woken[topic])
  hand_to_takers(topic, woken[topic])  -- to idle workers waiting for one (its wake token goes with it)
end
return out
