-- Store running jobs' progress. ARGV: groups of four (job hash, worker id, fraction, details). A job
-- gets it only while it is active and held by that worker (a late report changes nothing). No event:
-- progress is live state; the history gets it with the job's next transition. Returns how many stored.
local stored = 0
for i = 1, #ARGV, 4 do
  local key = ARGV[i]
  if redis.call('HGET', key, 'status') == '${STATUS_ACTIVE}' and redis.call('HGET', key, 'worker') == ARGV[i + 1] then
    redis.call('HSET', key, 'progress', ARGV[i + 2], 'progress_details', ARGV[i + 3])
    stored = stored + 1
  end
end
return stored
