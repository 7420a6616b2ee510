-- ack_moved.lua: a mover republished these messages; drop their lease and stored payload.
-- KEYS[1]  clock_offset_ms  string (unused; every script gets the clock)
-- KEYS[2]  deferred         zset
-- KEYS[3]  moving           zset
-- KEYS[4]  payload          hash
-- ARGV     message ids
-- Returns  number of messages acknowledged
local acked = 0
for _, id in ipairs(ARGV) do
  if redis.call('ZREM', KEYS[3], id) == 1 then
    acked = acked + 1
    -- Deferred again meanwhile (republished, consumed, deferred): that newer payload stays.
    if not redis.call('ZSCORE', KEYS[2], id) then redis.call('HDEL', KEYS[4], id) end
  end
end
return acked
