-- ARGV: zset -> members dropped from the in-flight / scheduled set whose job is not running / new there.
--! include common
local zset = ARGV[1]
local want = RUNNING
if zset == '${SCHEDULED}' then want = {new = true} end
local dropped = 0
for _, member in ipairs(redis.call('ZRANGE', zset, 0, -1)) do
  local topic, id = inflight_member_parts(member)
  if not topic or not want[redis.call('HGET', job_key(topic, id), 'status') or ''] then
    redis.call('ZREM', zset, member)
    dropped = dropped + 1
  end
end
return dropped
