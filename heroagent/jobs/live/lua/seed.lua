-- Make the job id counter at least ARGV[1] (the highest id the history holds or has handed out).
-- Only ever raises it: ids handed out by Redis and not yet recorded stay taken. Returns the counter.
local current = tonumber(redis.call('GET', '${JOB_ID_COUNTER}') or '-1')
local floor = tonumber(ARGV[1])
if current < floor then
  redis.call('SET', '${JOB_ID_COUNTER}', floor)
  return floor
end
return current
