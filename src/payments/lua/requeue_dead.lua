-- Takes a payment off the dead letter and queues it again (POST /payments/:id/requeue): same
-- tracking id, so the processor gets the same idempotency key and a payment that was charged
-- after all is not charged again — it gets that charge's answer. Its failed outcome is undone
-- (sets, stats buckets), its retry and poison budgets start again (errors; attempt_base, losses), and its next
-- outcome is published under a new message id (see finalize).
-- ARGV: prefix, id. Returns 'requeued', 'unknown' or the status of a payment not dead-lettered.
local id = ARGV[2]
local f = load_payment(id)
if not f.status then return 'unknown' end
if f.status ~= 'failed' or redis.call('LREM', P .. 'dead_letter', 0, id) == 0 then return f.status end
local now = now_ms()
local sets = OUTCOME_SETS.failed
redis.call('ZREM', P .. sets[1], id)
redis.call('ZREM', P .. sets[2] .. f.payer_id, id)
redis.call('ZREM', P .. sets[3] .. f.recipient_id, id)
bucket_add('failed', f.currency, tonumber(f.amount), tonumber(f.processed_at), -1)
local requeues = tonumber(f.requeues or '0') + 1
redis.call('HDEL', payment_key(id), 'processed_at', 'dead_letter_reason', 'next_attempt_at', 'worker')
redis.call('HSET', payment_key(id), 'status', 'queued', 'updated_at', now, 'attempt_base', f.attempts or '0', 'errors', 0, 'losses', 0,
  'requeues', requeues, 'history', with_history(f.history, { status = 'queued', at = now, reason = 'requeued' }))
redis.call('ZADD', P .. 'open', now, id)
redis.call('LPUSH', QUEUE, id)
return 'requeued'
