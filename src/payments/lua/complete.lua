-- Records the outcome of one attempt, atomically: the payment's hash and history, the seed's
-- sorted sets, txns, the dead-letter list, the outbox entry for the bus, and the removal from the
-- worker's processing list. Idempotent: a payment already final is never recorded again, and an
-- api_error reported by a worker that no longer holds the payment (it was reaped) is ignored.
-- ARGV: prefix, worker, id, attempt, status (retrying or a final status), processor outcome,
--       result JSON, txn id, retry delay ms, code, message
local worker, id, attempt, status, outcome = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local result, txn, delay, code, message = ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11]
local pk = payment_key(id)
redis.call('LREM', processing_key(worker), -1, id)
local f = redis.call('HMGET', pk, 'status', 'worker', 'attempts', 'payer_id', 'recipient_id', 'amount',
  'currency', 'created_at', 'history')
if not f[1] then return 'unknown' end
if FINAL[f[1]] then return 'duplicate' end
local now = now_ms()
if outcome == 'api_error' then
  if f[1] ~= 'processing' or f[2] ~= worker or f[3] ~= attempt then return 'stale' end
  redis.call('ZADD', P .. 'api_errors', now, id .. ':' .. attempt)
end
if status == 'retrying' then
  local due = now + delay
  redis.call('HSET', pk, 'status', 'retrying', 'updated_at', now, 'next_attempt_at', due, 'result', result,
    'last_error', message, 'history', with_history(f[9], { status = 'retrying', at = now,
      attempt = tonumber(attempt), code = code, error = message, next_attempt_at = due }))
  redis.call('ZADD', P .. 'retry', due, id)
  return 'retrying'
end

local SETS = {
  succeeded = { 'successful_txns', 'payments_made_by|', 'payments_received_by|' },
  insufficient_funds = { 'insufficient_funds_txns', 'insufficient_funds_for|', 'insufficient_funds_to|' },
  declined = { 'declined_txns', 'declined_for|', 'declined_to|' },
  failed = { 'failed_txns', 'failed_for|', 'failed_to|' },
}
local sets = SETS[status]
if not sets then return redis.error_reply('unknown status ' .. status) end
local payer, recipient = f[4], f[5]
local entry = { status = status, at = now, attempt = tonumber(attempt), worker = worker }
local fields = { 'status', status, 'updated_at', now, 'processed_at', now, 'result', result }
if txn ~= '' then table.insert(fields, 'txn_id'); table.insert(fields, txn); entry.txn_id = txn end
if code ~= '' then entry.code = code end
if message ~= '' and status == 'failed' then table.insert(fields, 'last_error'); table.insert(fields, message) end
table.insert(fields, 'history'); table.insert(fields, with_history(f[9], entry))
redis.call('HSET', pk, unpack(fields))
redis.call('ZREM', P .. 'open', id)
if f[1] == 'retrying' then redis.call('ZREM', P .. 'retry', id) end
redis.call('ZADD', P .. sets[1], now, id)
redis.call('ZADD', P .. sets[2] .. payer, now, id)
redis.call('ZADD', P .. sets[3] .. recipient, now, id)
local record = { tracking_id = id, status = status, payer_id = payer, recipient_id = recipient,
  amount = tonumber(f[6]), currency = f[7], attempts = tonumber(f[3]), created_at = tonumber(f[8]), processed_at = now }
if txn ~= '' then record.txn_id = txn end
if code ~= '' then record.code = code end
local json = cjson.encode(record)
if txn ~= '' then redis.call('HSET', P .. 'txns', txn, json) end
if status == 'failed' then redis.call('LPUSH', P .. 'dead_letter', id) end
redis.call('XADD', P .. 'outbox', '*', 'id', id, 'key', payer, 'value', json)
return 'recorded'
