-- Make the job id counter hand out ids above ARGV[1] (the highest id the history holds or has handed out).
-- Only ever raises it: ids handed out by Redis and not yet recorded stay taken. Returns the counter. The
-- counter counts this partition's ids (create.lua: the n-th is (n-1)*P + k + 1), so the floor is the count
-- whose next id is above ARGV[1]: ARGV[1] itself without partitions.
local current = tonumber(redis.call('GET', '${JOB_ID_COUNTER}') or '-1')
local floor = math.max(0, math.floor((tonumber(ARGV[1]) - ${PARTITION} - 1) / ${PARTITIONS}) + 1)
if current < floor then
  redis.call('SET', '${JOB_ID_COUNTER}', floor)
  return floor
end
return current
