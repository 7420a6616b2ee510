-- claim_due.lua: hand due deferred messages to one mover, exclusively, under a lease.
-- KEYS[1]  clock_offset_ms  string
-- KEYS[2]  deferred         zset   message id -> due time (ms)
-- KEYS[3]  moving           zset   message id -> lease end (ms)
-- KEYS[4]  payload          hash   message id -> JSON
-- ARGV[1]  limit            most messages to claim
-- ARGV[2]  lease_ms         how long the mover has to republish them (ms)
-- Returns  flat list {id1, payload1, id2, payload2, ...}
-- A mover that died holding a lease: its messages become due again (republishing twice is safe,
-- the idempotency record stops a second send).
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_ms)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[2], now_ms, id)
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  local body = redis.call('HGET', KEYS[4], id)
  if body then
    redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = body
  end
end
return out
