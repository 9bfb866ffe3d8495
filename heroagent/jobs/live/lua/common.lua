-- Shared functions; a script that starts with `--! include common` gets them in front of it.
local function fields_log(doc)
  if doc.log then return '1' end
  return '0'
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Field types of the job record, so the history gets typed JSON (numbers, booleans) from Redis's
-- own cjson: the recorder writes these bytes to OurDB as they are, without parsing them.
-- The statuses a job ends in (model.TERMINAL).
local TERMINAL = {done = true, error = true, canceled = true, skipped = true}
-- The statuses of a job a worker holds (model.RUNNING): running, or being suspended / suspended /
-- being resumed. It keeps its lease, its no-overlap lock and its place in its topic's running count.
local RUNNING = {active = true, suspending = true, suspended = true, resuming = true}
local NUMBER_FIELDS = {jobid = true, timeout = true, time_created = true, time_scheduled = true,
  time_start = true, time_end = true, retries = true, max_retries = true, attempts = true, retry_delay = true,
  lost = true, version = true, progress = true, priority = true, overlap_delay = true}
-- A state of a job on its way to the history: its JSON and the facts the recorder files it by.
local function append_event(json, id, topic, status, attempts, time_start, time_end, version, log)
  redis.call('XADD', '${EVENTS}', '*', 'json', json, 'jobid', id, 'topic', topic, 'status', status,
             'attempts', attempts, 'time_start', time_start, 'time_end', time_end, 'version', version, 'log', log)
end
-- Every state a job passes through gets the next `version` (per job): the history records each version
-- once, so an event read again after a crash (the recorder died before acking it) is not written twice.
local function emit(key)
  if redis.call('EXISTS', key) == 0 then return {} end
  redis.call('HINCRBY', key, 'version', 1)
  local fields = redis.call('HGETALL', key)
  local doc = {}
  for i = 1, #fields, 2 do
    local name, value = fields[i], fields[i + 1]
    if NUMBER_FIELDS[name] then doc[name] = tonumber(value) or 0
    elseif name == 'log' then doc[name] = (value == '1')
    else doc[name] = value end
  end
  local json = cjson.encode(doc)
  append_event(json, doc.jobid, doc.topic, doc.status, doc.attempts or 0, doc.time_start or 0, doc.time_end or 0,
               doc.version, fields_log(doc))
  -- A job that ended is announced at once (the final job in hand, or its status when large): a waiter
  -- in any process wakes without waiting for the history, which records the same state milliseconds later.
  if TERMINAL[doc.status] then
    if #json > 65536 then json = doc.status end
    redis.call('PUBLISH', '${PREFIX_DONE}:' .. doc.jobid, json)
  end
  return fields
end
-- After a claim took `taken` jobs of the topic: as many wake tokens go with them (one was pushed for each,
-- and the worker that took them is awake; a pool's listener that left them while another thread took the
-- jobs would otherwise find each token stale), and all go when the queue is empty.
local function took_jobs(topic, taken)
  if redis.call('ZCARD', '${PREFIX_QUEUE}:' .. topic) == 0 then
    redis.call('DEL', '${PREFIX_WAKE}:' .. topic)
  else
    redis.call('LTRIM', '${PREFIX_WAKE}:' .. topic, taken, -1)
  end
end
local function wake(topic, n)
  local tokens = {}
  for _ = 1, math.min(n, 64) do tokens[#tokens + 1] = '1' end
  redis.call('RPUSH', '${PREFIX_WAKE}:' .. topic, unpack(tokens))
  redis.call('LTRIM', '${PREFIX_WAKE}:' .. topic, -1000, -1)
end

-- A job waits in its topic's queue (a sorted set) at its place: higher priorities first, then by id,
-- that is creation order (a job that comes back, retried or returned by a lost worker, keeps its place).
-- The score is keys.queue_score's: (MAX_PRIORITY - priority) * QUEUE_SCORE_SPAN + id, written out as an
-- integer (Lua would print a large number with 14 digits and lose the id).
local function enqueue(key, topic, id)
  local priority = math.floor(tonumber(redis.call('HGET', key, 'priority') or '0') or 0)
  priority = math.max(0, math.min(${MAX_PRIORITY}, priority))
  local score = (${MAX_PRIORITY} - priority) * ${QUEUE_SCORE_SPAN} + tonumber(id)
  redis.call('ZADD', '${PREFIX_QUEUE}:' .. topic, string.format('%d', score), id)
end

-- Whether the job `id` may take the no-overlap lock `name` (and takes it, leased like its run): free,
-- already its own, or held by a job that is no longer running (ended by a path that did not let go).
-- "<id>:after" is a lock kept for the holder's overlap_delay after it ended.
local function take_lock(name, id, lease_ms)
  local lock = '${PREFIX_LOCK}:' .. name
  local holder = redis.call('GET', lock)
  if holder and holder ~= id then
    local holder_id = string.match(holder, '^(%d+)$')
    if not holder_id then return false end
    local holder_topic = redis.call('HGET', '${JOB_TOPICS}', holder_id)
    if holder_topic and
       RUNNING[redis.call('HGET', '${PREFIX_JOB}:' .. holder_topic .. ':' .. holder_id, 'status') or ''] then
      return false
    end
  end
  redis.call('SET', lock, id, 'PX', lease_ms)
  return true
end

-- A job stopped running (ended, retried, handed back, lost): it leaves its topic's running set and lets
-- go of its no-overlap lock (kept for its overlap_delay, if it has one); the topic's workers are woken
-- when that may let a waiting job start.
local function stopped_running(key, topic, id)
  local woken = redis.call('SREM', '${PREFIX_RUNNING}:' .. topic, id) == 1
  local info = redis.call('HMGET', key, 'no_overlap_key', 'overlap_delay')
  if info[1] and info[1] ~= '' then
    local lock = '${PREFIX_LOCK}:' .. info[1]
    if redis.call('GET', lock) == id then
      local delay_ms = math.floor((tonumber(info[2]) or 0) * 1000)
      if delay_ms > 0 then redis.call('SET', lock, id .. ':after', 'PX', delay_ms)
      else redis.call('DEL', lock) end
      woken = true
    end
  end
  if woken then wake(topic, 1) end
end

-- How many of a topic's jobs run now, by its running set, dropping ids whose job no longer runs.
local function count_running(topic)
  local set = '${PREFIX_RUNNING}:' .. topic
  local count = 0
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    if RUNNING[redis.call('HGET', '${PREFIX_JOB}:' .. topic .. ':' .. id, 'status') or ''] then count = count + 1
    else redis.call('SREM', set, id) end
  end
  return count
end

-- A failed attempt of a job with retries left goes back to `new`, due after an exponential backoff:
-- retry_delay * 2^retries, capped, times a jitter factor from 0.5 to 1 (RETRY = jitter 0..1, cap_ms;
-- the jitter comes from Python: a script's math.random is the same on every call). Returns true if so.
local function retry_later(key, topic, id, reason, RETRY)
  local retries = tonumber(redis.call('HGET', key, 'retries') or '0') or 0
  local max_retries = tonumber(redis.call('HGET', key, 'max_retries') or '0') or 0
  if retries >= max_retries then return false end
  local base = tonumber(redis.call('HGET', key, 'retry_delay') or '0') or 0
  local jitter = (RETRY[1] + tonumber(id) * 0.6180339887) % 1
  local delay_ms = math.floor(math.min(RETRY[2], base * 1000 * 2 ^ retries) * (0.5 + jitter / 2))
  local now = now_ms()
  local due = now + delay_ms
  local attempt = redis.call('HGET', key, 'attempts') or '?'
  redis.call('HSET', key, 'status', 'new', 'worker', '', 'retries', retries + 1,
             'time_end', string.format('%.3f', now / 1000), 'time_scheduled', string.format('%.3f', due / 1000),
             'error', 'attempt ' .. attempt .. ' failed: ' .. reason .. ' (retry ' .. (retries + 1) .. ' of ' ..
             max_retries .. ' in ' .. string.format('%.1f', delay_ms / 1000) .. 's)')
  redis.call('ZREM', '${INFLIGHT}', topic .. ':' .. id)
  redis.call('SREM', '${CANCEL}', id)
  redis.call('ZADD', '${SCHEDULED}', due, topic .. ':' .. id)
  emit(key)
  return true
end

-- How many more jobs of the topic may start now under its limits (max_running, rate); nil = no limits.
local function room_under_limits(topic, now)
  local lim = redis.call('HMGET', '${PREFIX_LIMITS}:' .. topic, 'max_running', 'rate_n', 'rate_ms')
  if not lim[1] and not lim[2] then return nil end
  local room = 1e9
  if lim[1] then
    local running = redis.call('SCARD', '${PREFIX_RUNNING}:' .. topic)
    if running >= tonumber(lim[1]) then running = count_running(topic) end
    room = tonumber(lim[1]) - running
  end
  if lim[2] then
    local starts = '${PREFIX_RATE}:' .. topic
    redis.call('ZREMRANGEBYSCORE', starts, '-inf', now - tonumber(lim[3]))
    room = math.min(room, tonumber(lim[2]) - redis.call('ZCARD', starts))
  end
  return room, lim[1] ~= false, lim[2] ~= false
end

local MAX_SCAN = 100  -- queued jobs a claim looks at per topic past those it takes (no-overlap waiters)

-- Move up to `max` jobs from the topics' queues into flight under a lease; returns their HGETALLs.
-- A paused topic is skipped (its jobs wait in its queue until it is resumed); a topic at its limits
-- too. A job whose no-overlap key another running job holds keeps its place and is passed over.
-- A topic none of whose waiting jobs may start loses its wake tokens: what frees a slot or a lock
-- wakes its workers again (and idle workers look every queue_poll_interval, for rate windows).
local function claim(lease_ms, wid, max, topics)
  local now = now_ms()
  local deadline = now + lease_ms
  local out = {}
  for _, topic in ipairs(topics) do
    local want = max - #out
    local room, counted, rated = nil, false, false
    if redis.call('SISMEMBER', '${TOPICS_PAUSED}', topic) == 1 then
      want = 0
    else
      room, counted, rated = room_under_limits(topic, now)
      if room then want = math.min(want, room) end
    end
    local queue = '${PREFIX_QUEUE}:' .. topic
    local taken, passed, scanned = 0, 0, 0
    while taken < want and scanned < want + MAX_SCAN do
      local ids = redis.call('ZRANGE', queue, passed, passed + (want - taken) - 1)
      if #ids == 0 then break end
      for _, id in ipairs(ids) do
        scanned = scanned + 1
        local key = '${PREFIX_JOB}:' .. topic .. ':' .. id
        local info = redis.call('HMGET', key, 'status', 'no_overlap_key')
        if info[1] ~= 'new' then
          redis.call('ZREM', queue, id)  -- no longer waiting (its hash says so, or it is gone)
        elseif info[2] and info[2] ~= '' and not take_lock(info[2], id, lease_ms) then
          passed = passed + 1
        else
          redis.call('ZREM', queue, id)
          local attempts = redis.call('HINCRBY', key, 'attempts', 1)
          redis.call('HSET', key, 'status', 'active', 'worker', wid, 'error', '',
                     'time_start', string.format('%.3f', now / 1000), 'time_end', '0.0')
          redis.call('ZADD', '${INFLIGHT}', deadline, topic .. ':' .. id)
          if counted then redis.call('SADD', '${PREFIX_RUNNING}:' .. topic, id) end
          if rated then redis.call('ZADD', '${PREFIX_RATE}:' .. topic, now, id .. ':' .. attempts) end
          out[#out + 1] = emit(key)
          taken = taken + 1
        end
        if taken >= want then break end
      end
    end
    if taken == 0 then
      redis.call('DEL', '${PREFIX_WAKE}:' .. topic)  -- nothing here may start: no token may wake a worker
    else
      took_jobs(topic, taken)
    end
    if #out >= max then break end
  end
  return out
end

-- Hand up to `n` of the topic's waiting jobs to idle workers that wait to be handed one (see
-- register_taker.lua): each is claimed for its worker as `claim` does it (pause, limits, no-overlap,
-- priority order), and pushed to the worker's inbox, on which that worker blocks: it starts the job
-- without a claim of its own (one round trip less between a create and the job's start). A taker whose
-- registration expired (it died, or stopped waiting), or whose pool was asked to drain, is dropped.
-- Returns how many were handed.
local function hand_to_takers(topic, n)
  local takers = '${PREFIX_TAKERS}:' .. topic
  local handed = 0
  while handed < n do
    local wid = redis.call('SPOP', takers)
    if not wid then break end
    local taker = '${PREFIX_TAKER}:' .. wid
    local lease, pool = string.match(redis.call('GET', taker) or '', '^(%d+) (.*)$')
    if lease and redis.call('SISMEMBER', '${WORKERS_DRAINING}', pool) == 1 then
      redis.call('DEL', taker)  -- its pool was asked to drain: it takes nothing more
    elseif lease then
      local jobs = claim(tonumber(lease), wid, 1, {topic})
      if #jobs == 0 then  -- nothing of this topic may start now: it stays a taker
        redis.call('SADD', takers, wid)
        break
      end
      redis.call('DEL', taker)  -- one job per wait
      local inbox = '${PREFIX_INBOX}:' .. wid
      redis.call('RPUSH', inbox, cjson.encode(jobs[1]))
      redis.call('PEXPIRE', inbox, lease)  -- a dead worker's: its lease returns the job, and this goes too
      handed = handed + 1
    end
  end
  return handed
end

-- The jobs handed to worker `wid` while it waited (its inbox), as `claim` returns them; it waits no more.
local function take_handed(wid)
  redis.call('DEL', '${PREFIX_TAKER}:' .. wid)
  local inbox = '${PREFIX_INBOX}:' .. wid
  local out = {}
  for _, raw in ipairs(redis.call('LRANGE', inbox, 0, -1)) do out[#out + 1] = cjson.decode(raw) end
  redis.call('DEL', inbox)
  return out
end

-- A worker's claim of up to `max` jobs of `topics`: first (`taker` = '1': it waited to be handed jobs
-- since it last claimed) the jobs handed to it meanwhile, then claimed ones for the rest.
local function claim_after_handed(lease_ms, wid, max, topics, taker)
  local out = {}
  if taker == '1' then out = take_handed(wid) end
  if #topics > 0 and max - #out > 0 then
    for _, job in ipairs(claim(lease_ms, wid, max - #out, topics)) do out[#out + 1] = job end
  end
  return out
end

-- Change a job's status if it is what the caller expects ('' = any non-terminal status, 'running' = any
-- of RUNNING) and, when given, still held by that worker. Returns 'ok', 'moved' (another worker has it),
-- or the status it has ('' when the hash is gone).
local function transition(key, topic, id, expect, expect_worker, status, fields, RETRY)
  local current = redis.call('HGET', key, 'status')
  if not current then return '' end
  if expect ~= '' and current ~= expect and not (expect == 'running' and RUNNING[current]) then return current end
  if expect == '' and TERMINAL[current] then return current end
  if expect_worker ~= '' and redis.call('HGET', key, 'worker') ~= expect_worker then return 'moved' end
  if redis.call('SISMEMBER', '${CANCEL}', id) == 1 and RUNNING[current] and not RUNNING[status] and status ~= 'new' then
    status = 'canceled'
  end
  if RUNNING[current] and not RUNNING[status] then stopped_running(key, topic, id) end
  if RETRY and status == 'error' and RUNNING[current] then
    local reason = ''
    for i = 1, #fields, 2 do if fields[i] == 'error' then reason = fields[i + 1] end end
    if retry_later(key, topic, id, reason, RETRY) then return 'ok' end
  end
  redis.call('HSET', key, 'status', status)
  if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
  if not RUNNING[status] then
    redis.call('ZREM', '${INFLIGHT}', topic .. ':' .. id)
    redis.call('SREM', '${CANCEL}', id)
  end
  if current == 'new' and status ~= 'new' then
    redis.call('ZREM', '${PREFIX_QUEUE}:' .. topic, id)
  end
  if status == 'new' and current ~= 'new' then
    redis.call('HSET', key, 'worker', '')
    enqueue(key, topic, id)
    wake(topic, 1)
  end
  emit(key)
  return 'ok'
end

local function slice(t, from, to)
  local out = {}
  for i = from, to do out[#out + 1] = t[i] end
  return out
end
