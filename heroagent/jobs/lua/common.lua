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
local NUMBER_FIELDS = {jobid = true, timeout = true, time_created = true, time_scheduled = true,
  time_start = true, time_end = true, retries = true, max_retries = true, attempts = true, retry_delay = true,
  lost = true, version = true, progress = true}
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
  redis.call('XADD', '${EVENTS}', '*', 'json', json, 'jobid', doc.jobid, 'topic', doc.topic,
             'status', doc.status, 'attempts', doc.attempts or 0, 'time_start', doc.time_start or 0,
             'time_end', doc.time_end or 0, 'version', doc.version,
             'log', fields_log(doc))
  -- A job that ended is announced at once (the final job in hand, or its status when large): a waiter
  -- in any process wakes without waiting for the history, which records the same state milliseconds later.
  if doc.status == 'done' or doc.status == 'error' or doc.status == 'canceled' then
    if #json > 65536 then json = doc.status end
    redis.call('PUBLISH', '${PREFIX_DONE}:' .. doc.jobid, json)
  end
  return fields
end
local function drop_wake_if_empty(topic)
  if redis.call('LLEN', '${PREFIX_QUEUE}:' .. topic) == 0 then
    redis.call('DEL', '${PREFIX_WAKE}:' .. topic)
  end
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

-- Move up to `max` jobs from the topics' queues into flight under a lease; returns their HGETALLs.
-- A paused topic is skipped (its jobs wait in its queue until it is resumed).
local function claim(lease_ms, wid, max, topics)
  local now = now_ms()
  local deadline = now + lease_ms
  local out = {}
  for _, topic in ipairs(topics) do
    if redis.call('SISMEMBER', '${TOPICS_PAUSED}', topic) == 1 then
      redis.call('DEL', '${PREFIX_WAKE}:' .. topic)  -- its jobs wait; no token may wake a worker for it
    else
      while #out < max do
        local id = redis.call('LPOP', '${PREFIX_QUEUE}:' .. topic)
        if not id then break end
        local key = '${PREFIX_JOB}:' .. topic .. ':' .. id
        if redis.call('HGET', key, 'status') == 'new' then
          redis.call('HINCRBY', key, 'attempts', 1)
          redis.call('HSET', key, 'status', 'active', 'worker', wid, 'error', '',
                     'time_start', string.format('%.3f', now / 1000), 'time_end', '0.0')
          redis.call('ZADD', '${INFLIGHT}', deadline, topic .. ':' .. id)
          out[#out + 1] = emit(key)
        end
      end
      drop_wake_if_empty(topic)
    end
    if #out >= max then break end
  end
  return out
end

-- Change a job's status if it is what the caller expects ('' = any non-terminal status) and, when
-- given, still held by that worker. Returns 'ok', 'moved' (another worker has it), or the status it
-- has ('' when the hash is gone).
local function transition(key, topic, id, expect, expect_worker, status, fields, RETRY)
  local current = redis.call('HGET', key, 'status')
  if not current then return '' end
  if expect ~= '' and current ~= expect then return current end
  if expect == '' and (current == 'done' or current == 'error' or current == 'canceled') then return current end
  if expect_worker ~= '' and redis.call('HGET', key, 'worker') ~= expect_worker then return 'moved' end
  if redis.call('SISMEMBER', '${CANCEL}', id) == 1 and current == 'active' and status ~= 'new' then
    status = 'canceled'
  end
  if RETRY and status == 'error' and current == 'active' then
    local reason = ''
    for i = 1, #fields, 2 do if fields[i] == 'error' then reason = fields[i + 1] end end
    if retry_later(key, topic, id, reason, RETRY) then return 'ok' end
  end
  redis.call('HSET', key, 'status', status)
  if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
  if status ~= 'active' then
    redis.call('ZREM', '${INFLIGHT}', topic .. ':' .. id)
    redis.call('SREM', '${CANCEL}', id)
  end
  if current == 'new' and status ~= 'new' then
    redis.call('LREM', '${PREFIX_QUEUE}:' .. topic, 0, id)
  end
  if status == 'new' and current ~= 'new' then
    redis.call('HSET', key, 'worker', '')
    redis.call('LPUSH', '${PREFIX_QUEUE}:' .. topic, id)
    redis.call('RPUSH', '${PREFIX_WAKE}:' .. topic, '1')
  end
  emit(key)
  return 'ok'
end

local function slice(t, from, to)
  local out = {}
  for i = from, to do out[#out + 1] = t[i] end
  return out
end
