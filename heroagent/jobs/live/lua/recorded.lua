-- After the history has recorded a batch of events. ARGV: the history lease's value the recorder holds
-- ('' = none checked), then triples (job hash, job id, recorded terminal status), then "--", then the
-- event ids to ack and delete. Refused (FENCED) unless the lease still holds that value: a server that
-- lost its lease must not ack or drop what another now records. A hash is deleted (with its id -> topic
-- entry, and its parents' outcomes) only if its job is still in the recorded state (a retry may have re-queued it).
--! include keys
if ARGV[1] ~= '' and redis.call('GET', '${HISTORY_LEASE}') ~= ARGV[1] then
  return redis.error_reply('FENCED the history lease is not held by this recorder')
end
local i = 2
while ARGV[i] ~= '--' do
  if redis.call('HGET', ARGV[i], 'status') == ARGV[i + 2] then
    redis.call('DEL', ARGV[i], parents_key(ARGV[i + 1]))
    redis.call('HDEL', '${JOB_TOPICS}', ARGV[i + 1])
  end
  i = i + 3
end
local ids = {}
for j = i + 1, #ARGV do ids[#ids + 1] = ARGV[j] end
if #ids > 0 then
  redis.call('XACK', '${EVENTS}', '${EVENTS_GROUP}', unpack(ids))
  redis.call('XDEL', '${EVENTS}', unpack(ids))
end
return #ids
