-- The states of one job still in the events stream (not yet written to the history), oldest first: the
-- JSON of each with a version above ARGV[2]. ARGV: job id, version, most entries to look at. Scans from
-- the stream's start (the recorder deletes what it recorded, so the stream holds the last moments only).
local id, after, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out, start = {}, '-'
while budget > 0 do
  local entries = redis.call('XRANGE', '${EVENTS}', start, '+', 'COUNT', math.min(budget, 500))
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    local fields, jobid, version, json = entry[2], nil, nil, nil
    for i = 1, #fields, 2 do
      local name = fields[i]
      if name == 'jobid' then jobid = fields[i + 1]
      elseif name == 'version' then version = fields[i + 1]
      elseif name == 'json' then json = fields[i + 1] end
    end
    if jobid == id and json and (tonumber(version) or 0) > after then out[#out + 1] = json end
  end
  budget = budget - #entries
  local ms, seq = string.match(entries[#entries][1], '^(%d+)-(%d+)$')
  start = ms .. '-' .. (tonumber(seq) + 1)  -- after the last one (no exclusive ranges before Redis 6.2)
end
return out
