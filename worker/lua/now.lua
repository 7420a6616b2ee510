-- now.lua: the script clock, for Python code that needs the same "now" as the scripts.
-- KEYS[1]  clock_offset_ms
-- ARGV     none
-- Returns  now_ms (integer, ms since the epoch)
return now_ms
