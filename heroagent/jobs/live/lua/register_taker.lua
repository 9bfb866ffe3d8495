-- An idle worker waits to be handed its topics' next job (hand_to_takers in common.lua) for `ttl_ms`: sent
-- with its BLPOP on its inbox and the topics' wake tokens, in the same round trip. Its registration
-- holds its lease and its pool's id (a pool asked to drain is handed nothing).
-- ARGV: ttl_ms, lease_ms, worker id, pool id, topic...
--! include keys
redis.call('SET', taker_key(ARGV[3]), ARGV[2] .. ' ' .. ARGV[4], 'PX', tonumber(ARGV[1]))
for i = 5, #ARGV do redis.call('SADD', takers_key(ARGV[i]), ARGV[3]) end
return 1
