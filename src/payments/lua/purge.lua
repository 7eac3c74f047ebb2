-- Retention: removes up to `batch` final payments recorded before `cutoff` (epoch ms), each
-- entirely — its hash, every sorted set it is in, txns, the dead letter, its api_errors and its
-- share of the stats buckets — in this one script, so none is ever half-removed.
-- ARGV: prefix, cutoff ms, batch. Returns how many were removed.
local cutoff, batch = tonumber(ARGV[2]), tonumber(ARGV[3])
local removed = 0
for _, status in ipairs({ 'succeeded', 'insufficient_funds', 'declined', 'failed' }) do
  if removed >= batch then break end
  local sets = OUTCOME_SETS[status]
  local flat = redis.call('ZRANGEBYSCORE', P .. sets[1], '-inf', '(' .. cutoff, 'WITHSCORES', 'LIMIT', 0, batch - removed)
  for i = 1, #flat, 2 do
    local id, at = flat[i], tonumber(flat[i + 1])
    local h = redis.call('HMGET', payment_key(id), 'payer_id', 'recipient_id', 'amount', 'currency', 'txn_id', 'attempts')
    redis.call('ZREM', P .. sets[1], id)
    if h[1] then
      local payer, recipient = h[1], h[2]
      redis.call('ZREM', P .. sets[2] .. payer, id)
      redis.call('ZREM', P .. sets[3] .. recipient, id)
      redis.call('ZREM', P .. 'payments', id)
      redis.call('ZREM', P .. 'payments_by|' .. payer, id)
      redis.call('ZREM', P .. 'payments_to|' .. recipient, id)
      if h[5] then redis.call('HDEL', P .. 'txns', h[5]) end
      -- The dead letter is LPUSHed: old entries are at the tail, where LREM -1 starts.
      if status == 'failed' then redis.call('LREM', P .. 'dead_letter', -1, id) end
      local errors = {}
      for a = 1, tonumber(h[6] or '0') do errors[#errors + 1] = id .. ':' .. a end
      if #errors > 0 then redis.call('ZREM', P .. 'api_errors', unpack(errors)) end
      bucket_add(status, h[4], tonumber(h[3]), at, -1)
      redis.call('DEL', payment_key(id))
    end
    removed = removed + 1
  end
end
return removed
