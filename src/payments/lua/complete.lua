-- Records the outcome of one attempt, atomically: the payment's hash and history, the seed's
-- sorted sets, txns, the stats buckets, the dead-letter list, the outbox entry for the bus, and
-- the removal from the worker's processing list. Idempotent: a payment already final is never
-- recorded again, and an api_error reported by a worker that no longer holds the payment (it was
-- reaped) is ignored.
-- ARGV: prefix, worker, id, attempt, status (retrying or a final status), processor outcome,
--       result JSON, txn id, retry delay ms, code, message
local worker, id, attempt, status, outcome = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local result, txn, delay, code, message = ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11]
redis.call('LREM', processing_key(worker), -1, id)
local f = load_payment(id)
if not f.status then return 'unknown' end
if FINAL[f.status] then return 'duplicate' end
local now = now_ms()
if outcome == 'api_error' then
  if f.status ~= 'processing' or f.worker ~= worker or f.attempts ~= attempt then return 'stale' end
  redis.call('ZADD', P .. 'api_errors', now, id .. ':' .. attempt)
  redis.call('HINCRBY', payment_key(id), 'errors', 1)
end
if status == 'retrying' then
  local due = now + delay
  redis.call('HSET', payment_key(id), 'status', 'retrying', 'updated_at', now, 'next_attempt_at', due, 'result', result,
    'last_error', message, 'history', with_history(f.history, { status = 'retrying', at = now,
      attempt = tonumber(attempt), code = code, error = message, next_attempt_at = due }))
  redis.call('ZADD', P .. 'retry', due, id)
  return 'retrying'
end
-- failed is an exhausted api_error or a request the processor will never accept.
local dead_reason = 'rejected'
if outcome == 'api_error' then dead_reason = 'max_attempts' end
return finalize(id, f, status, now, { attempt = tonumber(attempt), worker = worker }, result, txn, code, message, dead_reason)
