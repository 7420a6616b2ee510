-- record_event.lua: count one SES event once, in one round trip (see guards/dedupe.py).
-- The check (seen before? a delay its delivery has overtaken?) and the writes are one atomic step, so a
-- redelivered event is never counted twice and a crash never leaves it marked seen but uncounted.
-- KEYS[1]  event_seen  string  this event's identity mark
-- KEYS[2]  delivered   set     the SES message's delivered recipients (the stale-delay check)
-- KEYS[3..] the keys the writes below name by index
-- ARGV[1]  seen_ttl_s  seconds the identity mark is kept ("0": the event has no identity, no dedupe)
-- ARGV[2]  n           recipients to look up in KEYS[2] (0: no stale check)
-- ARGV[3..2+n]         those recipients
-- ARGV[3+n..]          the writes, each: command ("HINCRBY" | "SADD" | "SET" | "EXPIRE"), key index,
--                      argument count, arguments (SET is given its "EX", ttl)
-- Returns  "duplicate" (nothing written) | "stale" (written; every recipient was delivered already) | "counted"
local seen_ttl_s = tonumber(ARGV[1])
if seen_ttl_s > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  return 'duplicate'
end
local n = tonumber(ARGV[2])
local stale = n > 0
for i = 3, 2 + n do
  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then
    stale = false
    break
  end
end
local allowed = {HINCRBY = true, SADD = true, SET = true, EXPIRE = true}
local i = 3 + n
while i <= #ARGV do
  local command, key, argc = ARGV[i], KEYS[tonumber(ARGV[i + 1])], tonumber(ARGV[i + 2])
  if not allowed[command] then
    return redis.error_reply('record_event: command not allowed: ' .. command)
  end
  redis.call(command, key, unpack(ARGV, i + 3, i + 2 + argc))
  i = i + 3 + argc
end
if seen_ttl_s > 0 then
  redis.call('SET', KEYS[1], '1', 'EX', seen_ttl_s)
end
if stale then
  return 'stale'
end
return 'counted'
