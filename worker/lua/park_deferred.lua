-- park_deferred.lua: move every deferred message of one kind to its parked list, atomically.
-- KEYS[1]  clock_offset_ms  string
-- KEYS[2]  deferred         zset   message id -> due time (ms)
-- KEYS[3]  payload          hash   message id -> JSON {message, attempt, ...}
-- KEYS[4]  parked           list   parked entries of this kind (oldest first)
-- ARGV[1]  kind             "transactional" | "bulk"
-- Returns  number of messages parked
local moved = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local raw = redis.call('HGET', KEYS[3], id)
  if raw then
    local entry = cjson.decode(raw)
    if (entry['message']['kind'] or 'transactional') == ARGV[1] then
      redis.call('ZREM', KEYS[2], id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('RPUSH', KEYS[4], cjson.encode({deferred = entry, parked_ms = now_ms}))
      moved = moved + 1
    end
  end
end
return moved
