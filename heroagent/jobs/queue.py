"""The reliable queue: every state change of a job in Redis is one Lua script (one round trip, atomic).

Each script that changes a job also appends the job's full state to the `hero:events` stream, which
the server's recorder writes to OurDB. So a transition is never in Redis without being on its way to
the history, and remote workers need no access to OurDB. Key names come from `keys`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.jobs.model import Job
from heroagent.jobs.retry import RetryPolicy

# Shared Lua functions; each script below is this prelude plus a call.
_LUA_COMMON = f"""
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
local NUMBER_FIELDS = {{jobid = true, timeout = true, time_created = true, time_scheduled = true,
  time_start = true, time_end = true, retries = true, max_retries = true, attempts = true, retry_delay = true,
  lost = true}}
local function emit(key)
  local fields = redis.call('HGETALL', key)
  if #fields == 0 then return fields end
  local doc = {{}}
  for i = 1, #fields, 2 do
    local name, value = fields[i], fields[i + 1]
    if NUMBER_FIELDS[name] then doc[name] = tonumber(value) or 0
    elseif name == 'log' then doc[name] = (value == '1')
    else doc[name] = value end
  end
  redis.call('XADD', '{keys.EVENTS}', '*', 'json', cjson.encode(doc), 'jobid', doc.jobid, 'topic', doc.topic,
             'status', doc.status, 'attempts', doc.attempts or 0, 'time_start', doc.time_start or 0,
             'time_end', doc.time_end or 0,
             'log', fields_log(doc))
  return fields
end
local function drop_wake_if_empty(topic)
  if redis.call('LLEN', '{keys.PREFIX_QUEUE}:' .. topic) == 0 then
    redis.call('DEL', '{keys.PREFIX_WAKE}:' .. topic)
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
  redis.call('ZREM', '{keys.INFLIGHT}', topic .. ':' .. id)
  redis.call('SREM', '{keys.CANCEL}', id)
  redis.call('ZADD', '{keys.SCHEDULED}', due, topic .. ':' .. id)
  emit(key)
  return true
end

-- Move up to `max` jobs from the topics' queues into flight under a lease; returns their HGETALLs.
local function claim(lease_ms, wid, max, topics)
  local now = now_ms()
  local deadline = now + lease_ms
  local out = {{}}
  for _, topic in ipairs(topics) do
    while #out < max do
      local id = redis.call('LPOP', '{keys.PREFIX_QUEUE}:' .. topic)
      if not id then break end
      local key = '{keys.PREFIX_JOB}:' .. topic .. ':' .. id
      if redis.call('HGET', key, 'status') == 'new' then
        redis.call('HINCRBY', key, 'attempts', 1)
        redis.call('HSET', key, 'status', 'active', 'worker', wid, 'error', '',
                   'time_start', string.format('%.3f', now / 1000), 'time_end', '0.0')
        redis.call('ZADD', '{keys.INFLIGHT}', deadline, topic .. ':' .. id)
        out[#out + 1] = emit(key)
      end
    end
    drop_wake_if_empty(topic)
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
  if redis.call('SISMEMBER', '{keys.CANCEL}', id) == 1 and current == 'active' and status ~= 'new' then
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
    redis.call('ZREM', '{keys.INFLIGHT}', topic .. ':' .. id)
    redis.call('SREM', '{keys.CANCEL}', id)
  end
  if current == 'new' and status ~= 'new' then
    redis.call('LREM', '{keys.PREFIX_QUEUE}:' .. topic, 0, id)
  end
  if status == 'new' and current ~= 'new' then
    redis.call('HSET', key, 'worker', '')
    redis.call('LPUSH', '{keys.PREFIX_QUEUE}:' .. topic, id)
    redis.call('RPUSH', '{keys.PREFIX_WAKE}:' .. topic, '1')
  end
  emit(key)
  return 'ok'
end

local function slice(t, from, to)
  local out = {{}}
  for i = from, to do out[#out + 1] = t[i] end
  return out
end
"""

# ARGV: lease_ms, worker_id, max_jobs, topic...
_CLAIM = (
    _LUA_COMMON
    + """
return claim(tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), slice(ARGV, 4, #ARGV))
"""
)

# KEYS: job hash.  ARGV: topic, id, expected status, expected worker, new status, jitter, cap_ms (jitter ''
# = an error is final, no retry), field/value pairs...
_TRANSITION = (
    _LUA_COMMON
    + """
local retry = nil
if ARGV[6] ~= '' then retry = {tonumber(ARGV[6]), tonumber(ARGV[7])} end
return transition(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], slice(ARGV, 8, #ARGV), retry)
"""
)

# The worker's hot path in one call: report finished jobs, claim the next ones.
# ARGV: worker, lease_ms, max to claim, jitter, cap_ms, m = number of reports, then per report: topic, id,
# status, n = number of field/value items, the n items; then the topics to claim from (none = do not claim).
_FINISH_AND_CLAIM = (
    _LUA_COMMON
    + f"""
local wid, lease, max, m = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[6])
local retry = {{tonumber(ARGV[4]), tonumber(ARGV[5])}}
local i = 7
local outcomes = {{}}
for _ = 1, m do
  local topic, id, status, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local key = '{keys.PREFIX_JOB}:' .. topic .. ':' .. id
  outcomes[#outcomes + 1] = transition(key, topic, id, 'active', wid, status, slice(ARGV, i + 4, i + 3 + n), retry)
  i = i + 4 + n
end
local topics = slice(ARGV, i, #ARGV)
local claimed = {{}}
if #topics > 0 and max > 0 then claimed = claim(lease, wid, max, topics) end
return {{outcomes, claimed}}
"""
)

# ARGV: lease_ms, member... -> ids (of those members) that were asked to cancel
_HEARTBEAT = (
    _LUA_COMMON
    + f"""
local deadline = now_ms() + tonumber(ARGV[1])
local cancel = {{}}
for i = 2, #ARGV do
  local member = ARGV[i]
  if redis.call('ZSCORE', '{keys.INFLIGHT}', member) then
    redis.call('ZADD', '{keys.INFLIGHT}', 'XX', deadline, member)
  end
  local id = string.match(member, ':(%d+)$')
  if redis.call('SISMEMBER', '{keys.CANCEL}', id) == 1 then cancel[#cancel + 1] = id end
end
return cancel
"""
)

# ARGV: limit, jitter, cap_ms, max_lost -> number of jobs recovered.  A lost attempt (its worker stopped
# renewing the lease) is a failed attempt: with retries left the job is retried after its backoff. Without,
# it goes back to the FRONT of its queue (it was taken first), since losing a worker is seldom the job's
# fault, until it has lost `max_lost` attempts: then it ends in error, so a job that kills its worker
# cannot loop forever. One asked to cancel ends canceled.
_REAP = (
    _LUA_COMMON
    + f"""
local now = now_ms()
local retry, max_lost = {{tonumber(ARGV[2]), tonumber(ARGV[3])}}, tonumber(ARGV[4])
local members = redis.call('ZRANGEBYSCORE', '{keys.INFLIGHT}', '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local count = 0
for _, member in ipairs(members) do
  local topic, id = string.match(member, '^(.*):(%d+)$')
  local key = '{keys.PREFIX_JOB}:' .. topic .. ':' .. id
  redis.call('ZREM', '{keys.INFLIGHT}', member)
  if redis.call('HGET', key, 'status') == 'active' then
    local worker = redis.call('HGET', key, 'worker') or ''
    local attempt = redis.call('HGET', key, 'attempts') or '?'
    if redis.call('SISMEMBER', '{keys.CANCEL}', id) == 1 then
      redis.call('SREM', '{keys.CANCEL}', id)
      redis.call('HSET', key, 'status', 'canceled', 'time_end', string.format('%.3f', now / 1000),
                 'error', 'canceled (its worker ' .. worker .. ' was lost)')
      emit(key)
    else
      local lost = redis.call('HINCRBY', key, 'lost', 1)
      local reason = 'worker ' .. worker .. ' stopped renewing its lease'
      if not retry_later(key, topic, id, reason, retry) then
        if lost >= max_lost then
          redis.call('HSET', key, 'status', 'error', 'time_end', string.format('%.3f', now / 1000),
                     'error', 'attempt ' .. attempt .. ' lost: ' .. reason .. '; ' .. lost ..
                     ' attempts lost, no retries left')
        else
          redis.call('HSET', key, 'status', 'new', 'worker', '', 'error', 'attempt ' .. attempt .. ' lost: ' .. reason)
          redis.call('LPUSH', '{keys.PREFIX_QUEUE}:' .. topic, id)
          redis.call('RPUSH', '{keys.PREFIX_WAKE}:' .. topic, '1')
        end
        emit(key)
      end
    end
    count = count + 1
  end
end
return count
"""
)

# KEYS: job hash.  ARGV: topic, id, time_end -> 'canceled' (was queued), 'stopping' (running: the worker
# will stop it), or the status it has ('' = gone) when it cannot be canceled.
_CANCEL = (
    _LUA_COMMON
    + f"""
local key = KEYS[1]
local topic, id = ARGV[1], ARGV[2]
local current = redis.call('HGET', key, 'status')
if current == 'new' then
  redis.call('LREM', '{keys.PREFIX_QUEUE}:' .. topic, 0, id)
  redis.call('ZREM', '{keys.SCHEDULED}', topic .. ':' .. id)
  redis.call('HSET', key, 'status', 'canceled', 'time_end', ARGV[3])
  emit(key)
  return 'canceled'
elseif current == 'active' then
  redis.call('SADD', '{keys.CANCEL}', id)
  return 'stopping'
end
return current or ''
"""
)

# ARGV: limit -> number of delayed jobs that were due and are now queued (a canceled one is dropped).
_PROMOTE = (
    _LUA_COMMON
    + f"""
local members = redis.call('ZRANGEBYSCORE', '{keys.SCHEDULED}', '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
local count = 0
for _, member in ipairs(members) do
  local topic, id = string.match(member, '^(.*):(%d+)$')
  redis.call('ZREM', '{keys.SCHEDULED}', member)
  if redis.call('HGET', '{keys.PREFIX_JOB}:' .. topic .. ':' .. id, 'status') == 'new' then
    redis.call('RPUSH', '{keys.PREFIX_QUEUE}:' .. topic, id)
    redis.call('RPUSH', '{keys.PREFIX_WAKE}:' .. topic, '1')
    count = count + 1
  end
end
return count
"""
)

# KEYS: job hashes.  ARGV: now_ms, min_age_ms -> per key: outcome ('ok', 'gone', 'terminal', 'leased' = an
# active job nobody held a lease on, now given one the reaper will see; 'queued' = a new job neither queued
# nor scheduled, queued now). A new job younger than min_age is left alone.
_SWEEP_JOBS = f"""
local out = {{}}
local now, min_age = tonumber(ARGV[1]), tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  local topic, id = string.match(key, '^{keys.PREFIX_JOB}:(.*):(%d+)$')
  local status = redis.call('HGET', key, 'status')
  local outcome = 'ok'
  if not status or not topic then outcome = 'gone'
  elseif status == 'done' or status == 'error' or status == 'canceled' then outcome = 'terminal'
  elseif status == 'active' then
    if not redis.call('ZSCORE', '{keys.INFLIGHT}', topic .. ':' .. id) then
      redis.call('ZADD', '{keys.INFLIGHT}', now, topic .. ':' .. id)
      outcome = 'leased'
    end
  elseif status == 'new' then
    local created = tonumber(redis.call('HGET', key, 'time_created') or '0') or 0
    if not redis.call('ZSCORE', '{keys.SCHEDULED}', topic .. ':' .. id)
       and not redis.call('LPOS', '{keys.PREFIX_QUEUE}:' .. topic, id)
       and created * 1000 < now - min_age then
      redis.call('RPUSH', '{keys.PREFIX_QUEUE}:' .. topic, id)
      redis.call('RPUSH', '{keys.PREFIX_WAKE}:' .. topic, '1')
      outcome = 'queued'
    end
  end
  out[#out + 1] = outcome
end
return out
"""

# ARGV: zset -> members dropped from the in-flight / scheduled set whose job is not active / new there.
_SWEEP_SET = f"""
local zset = ARGV[1]
local want = 'active'
if zset == '{keys.SCHEDULED}' then want = 'new' end
local dropped = 0
for _, member in ipairs(redis.call('ZRANGE', zset, 0, -1)) do
  local topic, id = string.match(member, '^(.*):(%d+)$')
  if not topic or redis.call('HGET', '{keys.PREFIX_JOB}:' .. topic .. ':' .. id, 'status') ~= want then
    redis.call('ZREM', zset, member)
    dropped = dropped + 1
  end
end
return dropped
"""

# ARGV: triples of (job hash, recorded terminal status, the job's done channel), then event ids to ack
# and delete after "--". A hash is deleted only if its job is still in the recorded state (a retry may
# have re-queued it). The final status is published on the channel: waiters in other processes wake at once.
_RECORDED = f"""
local i = 1
while ARGV[i] ~= '--' do
  if redis.call('HGET', ARGV[i], 'status') == ARGV[i + 1] then redis.call('DEL', ARGV[i]) end
  redis.call('PUBLISH', ARGV[i + 2], ARGV[i + 1])
  i = i + 3
end
local ids = {{}}
for j = i + 1, #ARGV do ids[#ids + 1] = ARGV[j] end
if #ids > 0 then
  redis.call('XACK', '{keys.EVENTS}', '{keys.EVENTS_GROUP}', unpack(ids))
  redis.call('XDEL', '{keys.EVENTS}', unpack(ids))
end
return #ids
"""


class JobQueue:
    """Redis side of the job system: enqueue, claim, transition, heartbeat, reap, cancel."""

    def __init__(self, client: redis.Redis, retry: RetryPolicy | None = None) -> None:
        self.client = client
        self.retry = retry or RetryPolicy()
        self._claim = client.register_script(_CLAIM)
        self._transition = client.register_script(_TRANSITION)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._reap = client.register_script(_REAP)
        self._cancel = client.register_script(_CANCEL)
        self._finish_and_claim = client.register_script(_FINISH_AND_CLAIM)
        self._recorded = client.register_script(_RECORDED)
        self._promote = client.register_script(_PROMOTE)
        self._sweep_jobs = client.register_script(_SWEEP_JOBS)
        self._sweep_set = client.register_script(_SWEEP_SET)

    def enqueue(self, jobs: Sequence[Job], *, front: bool = False) -> None:
        """Store each job's hash and queue its id (or schedule it, if it is due later), in one round trip."""
        pipe = self.client.pipeline(transaction=True)  # atomic: the sweep never sees a hash without its queue entry
        now = time.time()
        ready: dict[str, int] = {}
        for job in jobs:
            pipe.hset(keys.job(job.topic, job.job_id), mapping=job.to_hash())  # type: ignore[arg-type]
            if job.time_scheduled > now:
                member = keys.inflight_member(job.topic, job.job_id)
                pipe.zadd(keys.SCHEDULED, {member: math.ceil(job.time_scheduled * 1000)})
                ready.setdefault(job.topic, 0)
                continue
            if front:
                pipe.lpush(keys.queue(job.topic), job.job_id)
            else:
                pipe.rpush(keys.queue(job.topic), job.job_id)
            ready[job.topic] = ready.get(job.topic, 0) + 1
        for topic, count in ready.items():
            pipe.sadd(keys.TOPICS, topic)
            if count:
                pipe.rpush(keys.wake(topic), *(["1"] * min(count, 64)))
                pipe.ltrim(keys.wake(topic), -1000, -1)
        pipe.execute()

    def sweep(self, min_age: float = 60.0, batch: int = 500) -> tuple[dict[str, int], list[tuple[str, int]]]:
        """Repair stray entries: returns counts by outcome, and the (topic, id) of finished jobs' hashes
        (the caller, who knows the history, decides whether those may go)."""
        counts: dict[str, int] = {}
        terminal: list[tuple[str, int]] = []
        hashes: list[str] = []

        def run() -> None:
            outcomes: Any = self._sweep_jobs(keys=hashes, args=[int(time.time() * 1000), int(min_age * 1000)])
            for key, outcome in zip(hashes, outcomes, strict=True):
                word = _text(outcome)
                counts[word] = counts.get(word, 0) + 1
                if word == "terminal":
                    terminal.append(keys.parse_inflight_member(key[len(keys.PREFIX_JOB) + 1 :]))
            hashes.clear()

        for key in self.client.scan_iter(match=f"{keys.PREFIX_JOB}:*", count=batch):
            hashes.append(key.decode() if isinstance(key, bytes) else str(key))
            if len(hashes) >= batch:
                run()
        if hashes:
            run()
        counts["unleased"] = int(self._sweep_set(args=[keys.INFLIGHT]))  # type: ignore[arg-type]
        counts["unscheduled"] = int(self._sweep_set(args=[keys.SCHEDULED]))  # type: ignore[arg-type]
        return counts, terminal

    def promote(self, limit: int = 1000) -> int:
        """Queue the delayed jobs that are due now; returns how many."""
        return int(self._promote(args=[limit]))  # type: ignore[arg-type]

    def claim(self, topics: Sequence[str], worker_id: str, lease_ms: int, max_jobs: int = 1) -> list[Job]:
        return _jobs(self._claim(args=[lease_ms, worker_id, max_jobs, *topics]))

    def finish_and_claim(
        self,
        reports: Sequence[tuple[Job, str, dict[str, str]]],
        worker_id: str,
        topics: Sequence[str],
        lease_ms: int,
        max_jobs: int,
    ) -> tuple[list[str], list[Job]]:
        """Report finished jobs (job, status, fields) and claim up to `max_jobs` more: one script call."""
        args: list[Any] = [worker_id, lease_ms, max_jobs, *self.retry.script_args(), len(reports)]
        for job, status, fields in reports:
            flat = _flatten(fields)
            args += [job.topic, job.job_id, status, len(flat), *flat]
        raw: Any = self._finish_and_claim(args=[*args, *topics])
        return [_text(x) for x in raw[0]], _jobs(raw[1])

    def wait(self, topics: Sequence[str], timeout: float) -> None:
        """Block until a wake token arrives for one of `topics` or `timeout` passes."""
        if topics:
            self.client.blpop([keys.wake(t) for t in topics], timeout=timeout)

    def transition(
        self,
        job: Job | tuple[str, int],
        status: str,
        fields: dict[str, str] | None = None,
        *,
        expect: str = "",
        expect_worker: str = "",
        retry: bool = False,
    ) -> str:
        """Change a job's status; with `retry`, an error of a job with retries left re-schedules it instead."""
        topic, job_id = (job.topic, job.job_id) if isinstance(job, Job) else job
        policy: list[Any] = self.retry.script_args() if retry else ["", 0]
        args: list[Any] = [topic, job_id, expect, expect_worker, status, *policy, *_flatten(fields or {})]
        return _text(self._transition(keys=[keys.job(topic, job_id)], args=args))

    def heartbeat(self, members: Iterable[str], lease_ms: int) -> list[int]:
        members = list(members)
        if not members:
            return []
        return [int(x) for x in self._heartbeat(args=[lease_ms, *members])]

    def reap(self, limit: int = 100) -> int:
        return int(self._reap(args=[limit, *self.retry.script_args(), self.retry.max_lost]))

    def cancel(self, topic: str, job_id: int, time_end: float) -> str:
        return _text(self._cancel(keys=[keys.job(topic, job_id)], args=[topic, job_id, repr(time_end)]))

    def recorded(self, finished: Sequence[tuple[str, int, str]], event_ids: Sequence[bytes | str]) -> None:
        """After the history has them: drop finished jobs' hashes (topic, id, status) and ack + delete events."""
        args: list[Any] = []
        for topic, job_id, status in finished:
            args += [keys.job(topic, job_id), status, keys.job_done(job_id)]
        self._recorded(args=[*args, "--", *event_ids])

    def get(self, topic: str, job_id: int) -> Job | None:
        data = self.client.hgetall(keys.job(topic, job_id))
        return Job.from_hash(data) if data else None  # type: ignore[arg-type]

    def topics(self) -> list[str]:
        return sorted(t.decode() for t in self.client.smembers(keys.TOPICS))  # type: ignore[union-attr]

    def stats(self) -> dict[str, dict[str, int]]:
        """Per topic: queued (LLEN) and in flight (from the lease set)."""
        topics = self.topics()
        pipe = self.client.pipeline(transaction=False)
        for topic in topics:
            pipe.llen(keys.queue(topic))
        pipe.zrange(keys.INFLIGHT, 0, -1)
        pipe.zrange(keys.SCHEDULED, 0, -1)
        results: list[Any] = pipe.execute()
        *lengths, inflight, scheduled = results
        running = _count_by_topic(inflight)
        later = _count_by_topic(scheduled)
        return {
            t: {"queued": int(n), "inflight": running.get(t, 0), "scheduled": later.get(t, 0)}
            for t, n in zip(topics, lengths, strict=True)
        }

    def queued_and_inflight_ids(self) -> set[int]:
        """Every job id Redis holds in a queue or in flight (for reconciliation at start, not the hot path)."""
        ids: set[int] = set()
        for topic in self.topics():
            ids.update(int(x) for x in self.client.lrange(keys.queue(topic), 0, -1))  # type: ignore[union-attr]
        for zset in (keys.INFLIGHT, keys.SCHEDULED):
            members: Any = self.client.zrange(zset, 0, -1)
            for member in members:
                ids.add(keys.parse_inflight_member(member.decode())[1])
        return ids


def _count_by_topic(members: Iterable[bytes]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in members:
        topic, _ = keys.parse_inflight_member(bytes(member).decode())
        counts[topic] = counts.get(topic, 0) + 1
    return counts


def _flatten(fields: dict[str, str]) -> list[str]:
    """field/value pairs as one flat argument list, as HSET and the scripts take them."""
    return [item for pair in fields.items() for item in pair]


def _jobs(replies: Any) -> list[Job]:
    """Jobs from the HGETALL arrays a claim returns."""
    return [Job.from_hash(dict(zip(item[::2], item[1::2], strict=True))) for item in replies]


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)
