-- A topic's limits, stored where the claim reads them. ARGV: topic, max_running ('' = none), rate count,
-- rate period (ms) ('' = no rate), rate as written ("100/minute"). Without limits the topic's keys go.
-- With max_running, the topic's jobs running now are counted at once (its running set is filled
-- from the lease set).
local topic, max_running, rate_n, rate_ms, rate_text = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limits = '${PREFIX_LIMITS}:' .. topic
redis.call('DEL', limits)
if max_running == '' and rate_n == '' then
  redis.call('SREM', '${TOPICS_LIMITED}', topic)
  redis.call('DEL', '${PREFIX_RUNNING}:' .. topic, '${PREFIX_RATE}:' .. topic)
  redis.call('RPUSH', '${PREFIX_WAKE}:' .. topic, '1')
  return 0
end
if max_running ~= '' then
  redis.call('HSET', limits, 'max_running', max_running)
  local running = '${PREFIX_RUNNING}:' .. topic
  local prefix = topic .. ':'
  for _, member in ipairs(redis.call('ZRANGE', '${INFLIGHT}', 0, -1)) do
    if string.sub(member, 1, #prefix) == prefix then
      local id = string.match(string.sub(member, #prefix + 1), '^(%d+)$')
      if id then redis.call('SADD', running, id) end
    end
  end
else
  redis.call('DEL', '${PREFIX_RUNNING}:' .. topic)
end
if rate_n ~= '' then
  redis.call('HSET', limits, 'rate_n', rate_n, 'rate_ms', rate_ms, 'rate', rate_text)
else
  redis.call('DEL', '${PREFIX_RATE}:' .. topic)
end
redis.call('SADD', '${TOPICS_LIMITED}', topic)
redis.call('RPUSH', '${PREFIX_WAKE}:' .. topic, '1')
return 1
