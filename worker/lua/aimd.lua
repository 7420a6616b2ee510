-- aimd.lua: the adaptive send rate. Receiver deferrals cut it multiplicatively; quiet time restores it
-- additively up to the configured rate (then the field is dropped and the configured rate rules).
-- KEYS[1]  clock_offset_ms  string
-- KEYS[2]  rate             hash   current_per_s, why, last_deferral_ms, last_change_ms
-- ARGV[1]  mode             "back_off" | "recover"
-- ARGV[2]  configured_per_s the configured ceiling, recipients/second
-- ARGV[3]  factor           multiplicative decrease (0..1)
-- ARGV[4]  step_per_s       additive increase per quiet interval, recipients/second
-- ARGV[5]  quiet_ms         time without deferrals before each increase (ms)
-- ARGV[6]  min_per_s        floor of the adaptive rate
-- ARGV[7]  provider         "" for the fleet's rate, or a mailbox provider: its own fields, <field>@<provider>
--                           (gate.lua paces that provider's recipients while current_per_s@<provider> exists)
-- Returns  the current rate as a string (recipients/second)
local configured = tonumber(ARGV[2])
local sfx = ''
if ARGV[7] and ARGV[7] ~= '' then sfx = '@' .. ARGV[7] end
local h = redis.call('HMGET', KEYS[2], 'current_per_s' .. sfx, 'last_deferral_ms' .. sfx, 'last_change_ms' .. sfx)
local current = tonumber(h[1]) or configured
local last_deferral, last_change = tonumber(h[2]) or 0, tonumber(h[3]) or 0
if ARGV[1] == 'back_off' then
  redis.call('HSET', KEYS[2], 'last_deferral_ms' .. sfx, now_ms)
  -- A burst of deferrals from one receiver is one signal: cut at most once a second.
  if now_ms - last_change < 1000 then return tostring(current) end
  current = math.max(tonumber(ARGV[6]), current * tonumber(ARGV[3]))
  redis.call('HSET', KEYS[2], 'current_per_s' .. sfx, tostring(current), 'last_change_ms' .. sfx, now_ms,
      'why' .. sfx, 'receivers deferring (421/429): backed off')
  return tostring(current)
end
if not h[1] then return tostring(configured) end
local quiet = tonumber(ARGV[5])
if now_ms - last_deferral < quiet or now_ms - last_change < quiet then return tostring(current) end
current = current + tonumber(ARGV[4])
if current >= configured then
  redis.call('HDEL', KEYS[2], 'current_per_s' .. sfx, 'why' .. sfx)
  if sfx ~= '' then redis.call('HDEL', KEYS[2], 'tat_ms' .. sfx) end  -- the fleet's own pacing stays
  redis.call('HSET', KEYS[2], 'last_change_ms' .. sfx, now_ms)
  return tostring(configured)
end
redis.call('HSET', KEYS[2], 'current_per_s' .. sfx, tostring(current), 'last_change_ms' .. sfx, now_ms,
    'why' .. sfx, 'recovering after deferrals')
return tostring(current)
