-- gate.lua: the whole budget decision for one message, in one round trip, reserving atomically.
-- Lean by design (it runs once per message): each hash is read with one HMGET and written with one
-- HSET of values computed here; a GO costs 9 Redis commands, clock included, on either route.
-- KEYS[1]  clock_offset_ms  string
-- KEYS[2]  day              hash   today's window and counters (see keys.py)
-- KEYS[3]  pause            hash   kind|all -> reason JSON
-- KEYS[4]  rate             hash   current_per_s (adaptive, AIMD), ses_max_per_s (GetAccount),
--                                  tat_ms (the GCRA rate limiter's theoretical arrival time, ms)
-- KEYS[5]  idem             string this message's idempotency record
-- ARGV[1]  kind             "transactional" | "bulk"
-- ARGV[2]  n                recipients this message charges (SES counts recipients)
-- ARGV[3]  rate_per_s       configured fleet-wide rate, recipients/second
-- ARGV[4]  burst            recipients that may pass at once above the steady rate
-- ARGV[5]  idem_ttl_s       how long the idempotency record lives, seconds
-- ARGV[6]  tx_headroom      burst recipients bulk must leave free, so transactional never waits behind it
-- ARGV[7]  token            this delivery's claim token: a call retried after a lost reply finds its
--                           own claim and gets GO again instead of DUPLICATE
-- ARGV[8]  providers        this message's recipients per mailbox provider, "google=2,microsoft=1"
--                           ("" = no provider budgets). Each is charged against the day hash's
--                           cap@<p>/used@<p> (no cap@<p> field: that provider has no cap today), and, once
--                           its receivers deferred, paced by the rate hash's current_per_s@<p>/tat_ms@<p>
-- ARGV[9]  overflow_at_ms   when this message may take the overflow route (-1 or absent: never)
-- ARGV[10] two_routes       "1" when an overflow route is configured: every send is then also charged to the
--                           account's rate (rate hash acct_tat_ms), which binds both routes
-- ARGV[11] scopes           this message's own pause scopes, "list:news,campaign:spring" ("" = none): a flag
--                           on one of them (Postmaster flagged its Feedback-ID) pauses it alone
-- Returns  {code, wait_ms, detail}
--   0 GO         reserved; detail = day date
--   1 NO_DAY     no budget open for now (first call of a day): roll the day, then call again
--   2 PAUSED     kind, all, or one of the message's scopes paused; detail = which
--   3 DUPLICATE  idempotency record exists; detail = its value (inflight:<ms>:<token> |
--                unconfirmed:<ms>:<token> | sent:<ses id>)
--   4 RATE       rate limit; wait_ms until the next slot
--   5 HOUR       hourly pacing allowance used; wait_ms until the next hour
--   6 DAY        daily cap (or the bulk share of it) used; wait_ms until the day ends
--   7 ACCOUNT    SES account quota (GetAccount) used; wait_ms until it is re-read
--   8 PROVIDER   a provider's day cap used; detail = the provider; wait_ms until the day ends
--                (other providers' mail goes on past this message)
--   9 PROVIDER_RATE  a provider's adaptive rate (its receivers deferred); detail = the provider;
--                wait_ms until its next slot
--  10 OVERFLOW   reserved on the overflow route (the dedicated route refused and the message may overflow
--                now): charged to ov_used, ov_used_<kind>, ov_used@<p> and the account quota and rate;
--                the idempotency record's token ends in "~o"; detail = day date
-- A refusal of a message that may overflow later waits at most until then (wait_ms).
local kind, n = ARGV[1], tonumber(ARGV[2])
local tx = (kind == 'transactional')

local idem = redis.call('GET', KEYS[5])
if idem then
  local mine = string.match(idem, '^inflight:%d+:(.+)$')
  if mine and mine == ARGV[7] then return {0, 0, redis.call('HGET', KEYS[2], 'date') or ''} end
  if mine and mine == ARGV[7] .. '~o' then return {10, 0, redis.call('HGET', KEYS[2], 'date') or ''} end
  return {3, 0, idem}
end

local pause_fields = {'all', kind}
for scope in string.gmatch(ARGV[11] or '', '[^,]+') do pause_fields[#pause_fields + 1] = scope end
local paused = redis.call('HMGET', KEYS[3], unpack(pause_fields))
for i = 1, #pause_fields do
  if paused[i] then return {2, 0, pause_fields[i]} end
end

-- The message's providers: their cap/used fields are read in the same HMGET as the day's own.
local prov, prov_n, day_fields, rate_fields = {}, {}, {'date', 'start_ms', 'end_ms', 'cap', 'reserve', 'hour_allow',
    'hour_reserve', 'used', 'used_tx', 'hour_idx', 'hour_used', 'hour_used_tx', 'acct_left', 'acct_used', 'used_bulk'},
    {'current_per_s', 'ses_max_per_s', 'tat_ms'}
for p, c in string.gmatch(ARGV[8] or '', '([%w_]+)=(%d+)') do
  prov[#prov + 1], prov_n[#prov_n + 1] = p, tonumber(c)
  day_fields[#day_fields + 1], day_fields[#day_fields + 2] = 'cap@' .. p, 'used@' .. p
  rate_fields[#rate_fields + 1], rate_fields[#rate_fields + 2] = 'current_per_s@' .. p, 'tat_ms@' .. p
end
rate_fields[#rate_fields + 1] = 'acct_tat_ms'
-- The overflow route's counters follow (read only to be written in the same one HSET as the dedicated's).
local ov_at = #day_fields + 1
day_fields[ov_at], day_fields[ov_at + 1] = 'ov_used', tx and 'ov_used_tx' or 'ov_used_bulk'
for i = 1, #prov do day_fields[ov_at + 1 + i] = 'ov_used@' .. prov[i] end
local f = redis.call('HMGET', KEYS[2], unpack(day_fields))
local start_ms, end_ms, cap = tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
if not cap or now_ms < start_ms or now_ms >= end_ms then return {1, 0, ''} end
local reserve, hour_allow, hour_reserve = tonumber(f[5]), tonumber(f[6]), tonumber(f[7])
local used, used_tx = tonumber(f[8]) or 0, tonumber(f[9]) or 0

-- The rates: the dedicated route's GCRA (tat_ms) at the lower of the configured, the adaptive (warm-up) and
-- SES's rate; with two routes also the account's (acct_tat_ms) at the lower of the configured and SES's,
-- charged by both routes, because SES enforces MaxSendRate per account, whichever configuration set.
local r = redis.call('HMGET', KEYS[4], unpack(rate_fields))
local cfg_rate, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
if not tx then burst = math.max(1, burst - tonumber(ARGV[6])) end
local function slot(tat_value, rate)  -- GCRA, charged per recipient: when this message may pass, and the new TAT
  local interval = 1000 / rate
  local new_tat = math.max(tonumber(tat_value) or now_ms, now_ms) + n * interval
  return new_tat - math.max(burst, n) * interval, new_tat
end
local overflow_at, two_routes = tonumber(ARGV[9] or '-1') or -1, ARGV[10] == '1'
local acct_rate = cfg_rate
local ses_rate = tonumber(r[2])
if ses_rate and ses_rate > 0 and ses_rate < acct_rate then acct_rate = ses_rate end
local acct_allow, acct_tat = now_ms, now_ms
if two_routes then acct_allow, acct_tat = slot(r[#rate_fields], acct_rate) end
local hour_idx = math.floor((now_ms - start_ms) / 3600000)
local hour_used, hour_used_tx = 0, 0
if tonumber(f[10]) == hour_idx then
  hour_used, hour_used_tx = tonumber(f[11]) or 0, tonumber(f[12]) or 0
end
local acct_left, acct_used = tonumber(f[13]) or -1, tonumber(f[14]) or 0
-- A refusal by the dedicated route is final for this message when it will never overflow, or may now.
local final = overflow_at < 0 or now_ms >= overflow_at
local rate_set = {}

-- The dedicated route's limits: nil when they all let this message through, else {code, wait_ms, detail}.
local function dedicated()
  -- Daily cap; bulk may not touch what is left of the transactional reserve.
  local limit = cap
  if not tx then limit = cap - math.max(0, reserve - used_tx) end
  if used + n > limit then return {6, end_ms - now_ms, ''} end
  -- Each provider's own cap (the overall one, checked above, bounds the sum).
  for i = 1, #prov do
    local p_cap, p_used = tonumber(f[14 + 2 * i]), tonumber(f[15 + 2 * i]) or 0
    if p_cap and p_used + prov_n[i] > p_cap then
      -- Counted as demand the cap turned away (once per message: when the refusal is final): the next
      -- day's share is taken from what the provider's recipients wanted, not only from what went.
      if final then redis.call('HINCRBY', KEYS[2], 'refused@' .. prov[i], prov_n[i]) end
      return {8, end_ms - now_ms, prov[i]}
    end
  end
  -- Hourly pacing: no hour may use more than cap/24 * burst factor (precomputed as hour_allow).
  local hlimit = hour_allow
  if not tx then hlimit = hour_allow - math.max(0, hour_reserve - hour_used_tx) end
  -- A message larger than the whole allowance may go alone at the start of an hour, or it never would.
  if hour_used + n > hlimit and not (hour_used == 0 and hlimit >= 1) then
    return {5, start_ms + (hour_idx + 1) * 3600000 - now_ms, ''}
  end
  -- SES's own 24-hour quota, when known (-1 = unlimited).
  if acct_left >= 0 and acct_used + n > acct_left then return {7, 60000, ''} end
  local rate = cfg_rate
  for i = 1, 2 do
    local v = tonumber(r[i])
    if v and v > 0 and v < rate then rate = v end
  end
  local allow_at, new_tat = slot(r[3], rate)
  if allow_at > now_ms then return {4, math.ceil(allow_at - now_ms), ''} end
  rate_set = {'tat_ms', tostring(new_tat)}
  -- A provider whose receivers deferred is paced at its own adaptive rate (no burst: one at a time).
  for i = 1, #prov do
    local p_rate = tonumber(r[2 + 2 * i])
    if p_rate and p_rate > 0 then
      p_rate = math.min(p_rate, rate)
      local p_interval = 1000 / p_rate
      local p_tat = math.max(tonumber(r[3 + 2 * i]) or now_ms, now_ms)
      local p_new = p_tat + prov_n[i] * p_interval
      local p_allow = p_new - math.max(1, prov_n[i]) * p_interval
      if p_allow > now_ms then return {9, math.ceil(p_allow - now_ms), prov[i]} end
      rate_set[#rate_set + 1], rate_set[#rate_set + 2] = 'tat_ms@' .. prov[i], tostring(p_new)
    end
  end
  return nil
end

local refused = dedicated()
if refused then
  -- The account's quota binds both routes; a message that may not overflow (yet) waits, at most until it may.
  if refused[1] == 7 or overflow_at < 0 then return refused end
  if now_ms < overflow_at then return {refused[1], math.min(refused[2], overflow_at - now_ms), refused[3]} end
  -- The overflow route: charged to the account's quota and rate only, never to the warm-up's budget.
  if acct_left >= 0 and acct_used + n > acct_left then return {7, 60000, ''} end
  if acct_allow > now_ms then return {4, math.ceil(acct_allow - now_ms), ''} end
  redis.call('HSET', KEYS[4], 'acct_tat_ms', tostring(acct_tat))
  local ov_set = {'acct_used', acct_used + ((acct_left >= 0) and n or 0), day_fields[ov_at], (tonumber(f[ov_at]) or 0) + n,
                  day_fields[ov_at + 1], (tonumber(f[ov_at + 1]) or 0) + n}
  for i = 1, #prov do
    ov_set[#ov_set + 1], ov_set[#ov_set + 2] = day_fields[ov_at + 1 + i], (tonumber(f[ov_at + 1 + i]) or 0) + prov_n[i]
  end
  redis.call('HSET', KEYS[2], unpack(ov_set))
  redis.call('SET', KEYS[5], 'inflight:' .. now_ms .. ':' .. ARGV[7] .. '~o', 'EX', tonumber(ARGV[5]))
  return {10, 0, f[1]}
end
if two_routes then
  if acct_allow > now_ms then return {4, math.ceil(acct_allow - now_ms), ''} end
  rate_set[#rate_set + 1], rate_set[#rate_set + 2] = 'acct_tat_ms', tostring(acct_tat)
end

-- Everything passed: reserve (the counters were read above, in this same atomic call).
redis.call('HSET', KEYS[4], unpack(rate_set))
local kind_field, kind_used = 'used_bulk', tonumber(f[15]) or 0
if tx then kind_field, kind_used = 'used_tx', used_tx end
local day_set = {'used', used + n, kind_field, kind_used + n, 'hour_idx', hour_idx,
    'hour_used', hour_used + n, 'hour_used_tx', hour_used_tx + (tx and n or 0),
    'acct_used', acct_used + ((acct_left >= 0) and n or 0)}
for i = 1, #prov do
  day_set[#day_set + 1] = 'used@' .. prov[i]
  day_set[#day_set + 1] = (tonumber(f[15 + 2 * i]) or 0) + prov_n[i]
end
redis.call('HSET', KEYS[2], unpack(day_set))
redis.call('SET', KEYS[5], 'inflight:' .. now_ms .. ':' .. ARGV[7], 'EX', tonumber(ARGV[5]))
return {0, 0, f[1]}
