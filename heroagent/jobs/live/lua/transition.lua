-- KEYS: job hash.  ARGV: topic, id, expected status, expected worker, new status, jitter, cap_ms (jitter ''
-- = an error is final, no retry), field/value pairs...
--! include common
local retry = nil
if ARGV[6] ~= '' then retry = {tonumber(ARGV[6]), tonumber(ARGV[7])} end
return transition(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], slice(ARGV, 8, #ARGV), retry)
