-- The states of one job still in the events stream (not yet written to the history): the JSON of each
-- with a version between ARGV[2] and ARGV[3] (both excluded). ARGV: job id, after, below, most entries
-- to look at. Reads from the newest entry back (a job's unrecorded states are among the last ones) and
-- stops once it has them all, so a long stream (a recorder far behind) costs a bounded look.
local id, after, below, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local need = below - after - 1
local out, last = {}, '+'
while budget > 0 and #out < need do
  local entries = redis.call('XREVRANGE', '${EVENTS}', last, '-', 'COUNT', math.min(budget, 200))
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    local fields, jobid, version, json = entry[2], nil, nil, nil
    for i = 1, #fields, 2 do
      local name = fields[i]
      if name == 'jobid' then jobid = fields[i + 1]
      elseif name == 'version' then version = fields[i + 1]
      elseif name == 'json' then json = fields[i + 1] end
    end
    local v = tonumber(version) or 0
    if jobid == id and json and v > after and v < below then out[#out + 1] = json end
  end
  budget = budget - #entries
  local ms, seq = string.match(entries[#entries][1], '^(%d+)-(%d+)$')
  if tonumber(seq) > 0 then
    last = ms .. '-' .. (tonumber(seq) - 1)  -- before the oldest one read (no exclusive ranges before 6.2)
  elseif tonumber(ms) > 0 then
    last = tostring(tonumber(ms) - 1)  -- the whole millisecond before it
  else
    break
  end
end
return out
