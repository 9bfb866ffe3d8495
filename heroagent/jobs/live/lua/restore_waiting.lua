-- Put a waiting job back after Redis lost its data (the reconciler, from the history): its hash as the
-- history last had it, then its parents as a create takes them (with_parents in common.lua): those still
-- running take it among their dependents again, those that ended meanwhile count now; it goes on waiting,
-- ends by its policy, or is queued (or scheduled) when nothing is left to wait for. Nothing is done when
-- Redis has its hash already (it was created, or put back, since the caller looked).
-- ARGV: topic, id, version (the history's last), d, then d pairs (parent id, its outcome JSON from the
-- history or '' = look in Redis), then m field/value items of its hash.
--! include common
local topic, id, version, d = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local key = job_key(topic, id)
if redis.call('EXISTS', key) == 1 then return '' end
local first = 5 + 2 * d
redis.call('HSET', key, unpack(ARGV, first, #ARGV))
redis.call('HSET', '${JOB_TOPICS}', id, topic)
redis.call('HDEL', key, 'parents_left')
redis.call('DEL', parents_key(id))
local reply = with_parents(key, topic, id, 5, d, {}, version)
if reply[3] == '${STATUS_NEW}' then
  local due = math.floor((tonumber(redis.call('HGET', key, 'time_scheduled')) or 0) * 1000)
  if due > now_ms() then
    redis.call('ZADD', '${SCHEDULED}', due, inflight_member(topic, id))
  else
    enqueue(key, topic, id)
    wake(topic, 1)
  end
end
redis.call('SADD', '${TOPICS}', topic)
return reply[3]
