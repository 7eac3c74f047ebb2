-- Heartbeat, then moves up to `max` payments from the queue into the worker's processing list
-- (LMOVE: a payment is always in exactly one list) and marks them taken.
-- ARGV: prefix, worker, max, ttl ms. Returns { {id, payer, recipient, amount, currency,
-- description, metadata, created_at, attempt}, ... }.
local worker, max, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local list = processing_key(worker)
local now = now_ms()
redis.call('ZADD', P .. 'workers', now + ttl, worker)
local out = {}
-- Bounded even when many queued ids turn out to be final already (dropped by claim).
for _ = 1, max * 2 + 10 do
  if #out >= max then break end
  local id = redis.call('LMOVE', QUEUE, list, 'RIGHT', 'LEFT')
  if not id then break end
  local item = claim(id, worker, now)
  if item then out[#out + 1] = item end
end
return out
