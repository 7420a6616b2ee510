-- defer.lua: park a message in the deferred set until it is due.
-- KEYS[1]  clock_offset_ms  string
-- KEYS[2]  deferred         zset   message id -> due time (ms)
-- KEYS[3]  moving           zset   message id -> lease end (ms)
-- KEYS[4]  payload          hash   message id -> JSON
-- ARGV[1]  id               message id
-- ARGV[2]  delay_ms         how long from now (ms)
-- ARGV[3]  payload          JSON {message, attempt, reason, ...}
-- Returns  due_ms (integer)
local due = now_ms + math.max(0, tonumber(ARGV[2]))
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], due, ARGV[1])
-- A message deferred again while a mover still held it: the mover's lease must not resurrect it.
redis.call('ZREM', KEYS[3], ARGV[1])
return due
