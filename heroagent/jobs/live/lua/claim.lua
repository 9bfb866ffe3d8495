-- ARGV: lease_ms, worker_id, max_jobs, taker ('1': it waited to be handed jobs since it last claimed;
-- those come first), topic...
--! include common
return claim_after_handed(tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), slice(ARGV, 5, #ARGV), ARGV[4])
