-- A queue written by HeroAgent before priorities (a list, first in first out) becomes the sorted set
-- the claim reads: each id at its place by the priority its hash holds (0 without one), then its id.
-- ARGV: topic -> how many ids moved (0 when the queue is no list).
--! include common
local topic = ARGV[1]
local queue = queue_key(topic)
if redis.call('TYPE', queue).ok ~= 'list' then return 0 end
local ids = redis.call('LRANGE', queue, 0, -1)
redis.call('DEL', queue)
for _, id in ipairs(ids) do enqueue(job_key(topic, id), topic, id) end
return #ids
