-- _clock.lua: prepended to every script; the one place ses-ramp scripts read the time.
-- KEYS[1]  clock_offset_ms  (string, optional) ms added to Redis TIME; tests move "now" with it
-- Defines: now_ms (integer, ms since the epoch, Redis server time + offset). Never the worker's clock.
local _t = redis.call('TIME')
local now_ms = tonumber(_t[1]) * 1000 + math.floor(tonumber(_t[2]) / 1000)
    + (tonumber(redis.call('GET', KEYS[1])) or 0)
