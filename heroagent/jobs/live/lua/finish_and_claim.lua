-- The worker's hot path in one call: report finished jobs, claim the next ones.
-- ARGV: worker, lease_ms, max to claim, jitter, cap_ms, taker ('1': it waited to be handed jobs since it
-- last claimed; those come first), m = number of reports, then per report: topic, id, status, n = number
-- of field/value items, the n items; then the topics to claim from (none = do not claim).
--! include common
local wid, lease, max, m = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[7])
local retry = {tonumber(ARGV[4]), tonumber(ARGV[5])}
local i = 8
local outcomes = {}
for _ = 1, m do
  local topic, id, status, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local key = job_key(topic, id)
  outcomes[#outcomes + 1] = transition(key, topic, id, 'running', wid, status, slice(ARGV, i + 4, i + 3 + n), retry)
  i = i + 4 + n
end
return {outcomes, claim_after_handed(lease, wid, max, slice(ARGV, i, #ARGV), ARGV[6])}
