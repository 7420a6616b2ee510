-- publish_unless_suppressed.lua: one message onto its queue list, unless a recipient is suppressed or
-- unsubscribed from the message's list: the exact suppression check rides on the publish, in one
-- round trip and atomically (no address can be suppressed between the check and the LPUSH).
-- KEYS[1]     the queue list (kombu's key for the message's queue and priority, prefix included)
-- KEYS[2]     suppressed         set   addresses never mailed again
-- KEYS[3..]   unsubscribed:<list> sets, one per list the message's recipients must not have left
-- ARGV[1]     the kombu message, serialized as kombu's Redis transport would LPUSH it
-- ARGV[2..]   the recipients' normalised addresses
-- Returns     {0} published | {1, address} suppressed | {2, i, address} unsubscribed from KEYS[2 + i]
for a = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[2], ARGV[a]) == 1 then return {1, ARGV[a]} end
end
for k = 3, #KEYS do
  for a = 2, #ARGV do
    if redis.call('SISMEMBER', KEYS[k], ARGV[a]) == 1 then return {2, k - 2, ARGV[a]} end
  end
end
redis.call('LPUSH', KEYS[1], ARGV[1])
return {0}
