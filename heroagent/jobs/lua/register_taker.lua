-- An idle worker waits to be handed its topics' next job (hand_off in common.lua) for `ttl_ms`: sent
-- with its BLPOP on its inbox and the topics' wake tokens, in the same round trip.
-- ARGV: ttl_ms, lease_ms, worker id, topic...
redis.call('SET', '${PREFIX_TAKER}:' .. ARGV[3], ARGV[2], 'PX', tonumber(ARGV[1]))
for i = 4, #ARGV do redis.call('SADD', '${PREFIX_TAKERS}:' .. ARGV[i], ARGV[3]) end
return 1
