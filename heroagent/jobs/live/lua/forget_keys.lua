-- Drop idempotency keys that still name the jobs given: those jobs were deleted, and a key must not
-- name a job that is gone (the same create again makes a new job). A key that names another job now
-- (it expired and was taken again) is left as it is.
-- KEYS: the keys (keys.idempotency). ARGV: per key, the id it must still hold ("<id> <fingerprint>", or
-- the id alone for a key put back from the history). Returns how many went.
local dropped = 0
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and string.match(value, '^(%d+)') == ARGV[i] then
    redis.call('DEL', key)
    dropped = dropped + 1
  end
end
return dropped
