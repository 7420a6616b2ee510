-- _release.lua: prepended to release.lua and settle.lua (a sent campaign recipient is released in
-- the same call that books it). Releases campaign recipient n from its campaign's content, once
-- (a bitmap), however many copies of its message come through.
-- k_campaign hash (total, settled); k_done bitmap; k_content hash (refs); k_campaigns zset of campaigns not yet settled
-- grace_ms: how long content outlives its last reference (a redelivered copy still finds it)
-- keep_s: how long a settled campaign's counters and bitmap are kept (later copies recognised)
-- Returns 1 when this released the recipient, 0 when it already was, -1 when the campaign is gone
local function release_recipient(k_campaign, k_done, k_content, k_campaigns, n, campaign_id, grace_ms, keep_s)
  if redis.call('EXISTS', k_campaign) == 0 then return -1 end
  if redis.call('SETBIT', k_done, tonumber(n), 1) == 1 then return 0 end
  local settled = redis.call('HINCRBY', k_campaign, 'settled', 1)
  if redis.call('EXISTS', k_content) == 1 and redis.call('HINCRBY', k_content, 'refs', -1) <= 0 then
    redis.call('PEXPIRE', k_content, tonumber(grace_ms))
  end
  if settled >= tonumber(redis.call('HGET', k_campaign, 'total') or '0') then
    redis.call('ZREM', k_campaigns, campaign_id)
    redis.call('EXPIRE', k_campaign, tonumber(keep_s))
    redis.call('EXPIRE', k_done, tonumber(keep_s))
  end
  return 1
end
