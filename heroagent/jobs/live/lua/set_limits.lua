-- A topic's limits, stored where the claim reads them. ARGV: topic, max_running ('' = none), rate count,
-- rate period (ms) ('' = no rate), rate as written ("100/minute"). Without limits the topic's keys go.
-- With max_running, the topic's jobs running now are counted at once (its running set is filled
-- from the lease set).
--! include keys
local topic, max_running, rate_n, rate_ms, rate_text = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limits = limits_key(topic)
redis.call('DEL', limits)
if max_running == '' and rate_n == '' then
  redis.call('SREM', '${TOPICS_LIMITED}', topic)
  redis.call('DEL', running_key(topic), rate_key(topic))
  redis.call('RPUSH', wake_key(topic), '1')
  return 0
end
if max_running ~= '' then
  redis.call('HSET', limits, 'max_running', max_running)
  local running = running_key(topic)
  for _, member in ipairs(redis.call('ZRANGE', '${INFLIGHT}', 0, -1)) do
    local member_topic, id = inflight_member_parts(member)
    if member_topic == topic then redis.call('SADD', running, id) end
  end
else
  redis.call('DEL', running_key(topic))
end
if rate_n ~= '' then
  redis.call('HSET', limits, 'rate_n', rate_n, 'rate_ms', rate_ms, 'rate', rate_text)
else
  redis.call('DEL', rate_key(topic))
end
redis.call('SADD', '${TOPICS_LIMITED}', topic)
redis.call('RPUSH', wake_key(topic), '1')
return 1
