-- Creates a payment and queues it. With an idempotency key, a second call with the same body
-- returns the first payment ('replayed') and one with another body is refused ('conflict').
-- ARGV: prefix, idempotency key ('' = none), body hash, key ttl ms, payer, recipient, amount,
--       currency, description, metadata (JSON or '')
local idem, hash, ttl = ARGV[2], ARGV[3], ARGV[4]
local payer, recipient, amount, currency, description, metadata = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
if idem ~= '' then
  local seen = redis.call('GET', idem)
  if seen then
    local sep = string.find(seen, '|', 1, true)
    local id = string.sub(seen, sep + 1)
    if string.sub(seen, 1, sep - 1) == hash then return { 'replayed', id } end
    return { 'conflict', id }
  end
end
local now = now_ms()
local id = tostring(redis.call('INCR', P .. 'tracking_ids'))
local fields = { 'tracking_id', id, 'status', 'queued', 'payer_id', payer, 'recipient_id', recipient,
  'amount', amount, 'currency', currency, 'created_at', now, 'updated_at', now, 'attempts', 0,
  'history', with_history(nil, { status = 'queued', at = now }) }
if description ~= '' then table.insert(fields, 'description'); table.insert(fields, description) end
if metadata ~= '' then table.insert(fields, 'metadata'); table.insert(fields, metadata) end
redis.call('HSET', payment_key(id), unpack(fields))
redis.call('LPUSH', QUEUE, id)
redis.call('ZADD', P .. 'open', now, id)
redis.call('ZADD', P .. 'payments', now, id)
redis.call('ZADD', P .. 'payments_by|' .. payer, now, id)
redis.call('ZADD', P .. 'payments_to|' .. recipient, now, id)
if idem ~= '' then redis.call('SET', idem, hash .. '|' .. id, 'PX', ttl) end
return { 'created', id, tostring(now) }
