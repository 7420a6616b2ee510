-- settle.lua: book the end of one SES call: sent, or refunded (SES never accepted it).
-- `_release.lua` is prepended. It needs no clock (the claim carries its day), so the clock prelude is not prepended: a "sent"
-- costs 4 Redis commands (HMGET, GET, SET, HSET).
-- KEYS[1]  clock_offset_ms  string (unused; kept so every script's KEYS[1] is the clock)
-- KEYS[2]  day              hash
-- KEYS[3]  idem             string this message's idempotency record
-- ARGV[1]  outcome          "sent" | "deferred" | "failed" | "waiting" (these three refund) |
--                            "unconfirmed" (SES may have it: the charge stays, counted as unconfirmed) |
--                            "dropped" (an operator closed an unconfirmed send: never resent, charge kept)
-- ARGV[2]  kind             "transactional" | "bulk"
-- ARGV[3]  n                recipients charged by gate.lua
-- ARGV[4]  date             the day gate.lua reserved on (refunds only touch that day)
-- ARGV[5]  ses_id           SES message id (sent only)
-- ARGV[6]  idem_ttl_s       how long a "sent" record is kept, seconds
-- ARGV[7]  token            the claim token gate.lua stored: only that claim is settled, once
-- ARGV[8]  from_unconfirmed "1" when this settles a send recorded as unconfirmed (its count goes down)
-- ARGV[9]  providers        recipients per mailbox provider as gate.lua charged them ("google=2,...", or ""):
--                            a refund gives each provider's used@<p> back too
-- KEYS[4..7], ARGV[10..13] a campaign recipient's release, as release.lua's KEYS[2..5] and ARGV[1..4]:
--                            given with "sent", the recipient is released in this same call
-- Returns  1 when booked, 0 when there was nothing to settle (a retried call already did it)
-- KEYS[2]'s acct_epoch_ms: when acct_used last restarted from zero (store_account_quota).
-- The day's counters keep: used = sent + unconfirmed + dropped + claims still in an SES call, and the same
-- for the overflow route's ov_used = ov_sent + ov_unconfirmed + ov_dropped + its claims in a call.
local outcome, kind, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
if outcome == 'sent' and KEYS[7] then  -- SES has it: released whatever the claim's state
  release_recipient(KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[10], ARGV[11], ARGV[12], ARGV[13])
end
local tx = (kind == 'transactional')
local idem = redis.call('GET', KEYS[3]) or ''
-- The record is inflight:<ms>:<token> while SES is called, unconfirmed:<ms>:<token> once parked as unconfirmed;
-- the gate's token ends in "~o" when it routed the message to overflow: its counters are then the ov_ ones.
local state, claim_ms, token = string.match(idem, '^(%a+):(%d+):(.+)$')
claim_ms = tonumber(claim_ms)
local claimed = (token == ARGV[7] or token == ARGV[7] .. '~o') and (state == 'inflight' or state == 'unconfirmed')
if not claimed then return 0 end
local ov = string.sub(token, -2) == '~o'
local pre = ov and 'ov_' or ''
local d = redis.call('HMGET', KEYS[2], 'date', pre .. 'sent', pre .. (tx and 'sent_tx' or 'sent_bulk'))
local same_day = (d[1] == ARGV[4])
if outcome == 'unconfirmed' then
  if state == 'unconfirmed' then return 0 end  -- counted once, however often it is parked again
  redis.call('SET', KEYS[3], 'unconfirmed' .. string.sub(idem, 9), 'KEEPTTL')
  if same_day then redis.call('HINCRBY', KEYS[2], pre .. 'unconfirmed', n) end
  return 1
end
if same_day and ARGV[8] == '1' and state == 'unconfirmed' then
  redis.call('HINCRBY', KEYS[2], pre .. 'unconfirmed', -n)
end
if outcome == 'dropped' then
  redis.call('SET', KEYS[3], 'sent:dropped', 'EX', tonumber(ARGV[6]))
  if same_day then redis.call('HINCRBY', KEYS[2], pre .. 'dropped', n) end
  return 1
end
if outcome == 'sent' then
  redis.call('SET', KEYS[3], 'sent:' .. ARGV[5], 'EX', tonumber(ARGV[6]))
  if same_day then
    redis.call('HSET', KEYS[2], pre .. 'sent', (tonumber(d[2]) or 0) + n, pre .. (tx and 'sent_tx' or 'sent_bulk'), (tonumber(d[3]) or 0) + n)
  end
  return 1
end
-- Not accepted by SES: give the budget back and let a later attempt through the idempotency check.
redis.call('DEL', KEYS[3])
if same_day then
  redis.call('HINCRBY', KEYS[2], pre .. 'used', -n)
  redis.call('HINCRBY', KEYS[2], pre .. (tx and 'used_tx' or 'used_bulk'), -n)
  for p, c in string.gmatch(ARGV[9] or '', '([%w_]+)=(%d+)') do
    redis.call('HINCRBY', KEYS[2], pre .. 'used@' .. p, -tonumber(c))
  end
  -- The hour and the SES quota window are refunded only when the claim was charged to the ones still
  -- open: a refund after the hour turned (or after GetAccount restarted acct_used from zero) would give
  -- back what the new window never charged, and let it send more than its allowance. Overflow never
  -- charged the hour.
  local w = redis.call('HMGET', KEYS[2], 'start_ms', 'hour_idx', 'hour_used', 'hour_used_tx', 'acct_left', 'acct_epoch_ms')
  local claim_hour = math.floor((claim_ms - (tonumber(w[1]) or 0)) / 3600000)
  if not ov and tonumber(w[2]) == claim_hour then
    if (tonumber(w[3]) or 0) >= n then redis.call('HINCRBY', KEYS[2], 'hour_used', -n) end
    if tx and (tonumber(w[4]) or 0) >= n then redis.call('HINCRBY', KEYS[2], 'hour_used_tx', -n) end
  end
  if (tonumber(w[5]) or -1) >= 0 and claim_ms >= (tonumber(w[6]) or 0) then
    redis.call('HINCRBY', KEYS[2], 'acct_used', -n)
  end
  if outcome == 'deferred' or outcome == 'failed' then
    redis.call('HINCRBY', KEYS[2], pre .. outcome, n)
  end
end
return 1
