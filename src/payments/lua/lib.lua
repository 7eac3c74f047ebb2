-- Prepended to every payments script (queue.ts). ARGV[1] is always the key prefix; keys are built
-- here from it, so like the bus the scripts need a single Redis (not Cluster).
local P = ARGV[1]
local QUEUE = P .. 'payments_to_be_processed'
local FINAL = { succeeded = true, insufficient_funds = true, declined = true, failed = true }
-- Per final status: the global set and the per-payer / per-recipient set prefixes (keys.ts).
local OUTCOME_SETS = {
  succeeded = { 'successful_txns', 'payments_made_by|', 'payments_received_by|' },
  insufficient_funds = { 'insufficient_funds_txns', 'insufficient_funds_for|', 'insufficient_funds_to|' },
  declined = { 'declined_txns', 'declined_for|', 'declined_to|' },
  failed = { 'failed_txns', 'failed_for|', 'failed_to|' },
}

-- Redis' clock, so every host agrees on timestamps, heartbeats and due times (UTC epoch ms).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function payment_key(id) return P .. 'payment:' .. id end
local function processing_key(worker) return P .. 'processing:' .. worker end

-- The status history is a JSON array in the payment's hash; this returns it with `entry` appended.
local function with_history(history, entry)
  local e = cjson.encode(entry)
  if not history or history == '' then return '[' .. e .. ']' end
  return string.sub(history, 1, -2) .. ',' .. e .. ']'
end

-- What recording or undoing a final status needs of a payment, by name (status nil: unknown).
local PAYMENT_FIELDS = { 'status', 'worker', 'attempts', 'attempt_base', 'losses', 'requeues', 'payer_id', 'recipient_id',
  'amount', 'currency', 'created_at', 'processed_at', 'history' }
local function load_payment(id)
  local v = redis.call('HMGET', payment_key(id), unpack(PAYMENT_FIELDS))
  local f = {}
  for i, name in ipairs(PAYMENT_FIELDS) do f[name] = v[i] or nil end
  return f
end

-- Stats buckets (GET /payments/stats): per UTC minute and per UTC hour, a hash of
-- `<status>|<currency>` → sum of amounts (counts come from ZCOUNT on the outcome sets), kept in
-- step with the outcome sets by every script that adds to or removes from them (sign 1 or -1).
-- Amounts are positive, so a sum that falls to 0 has no payment left: the field goes, and with
-- the last field the hash.
local BUCKETS = { { 'stats:m:', 60000 }, { 'stats:h:', 3600000 } }
local function bucket_add(status, currency, amount, at, sign)
  for _, b in ipairs(BUCKETS) do
    local key = P .. b[1] .. string.format('%d', at - at % b[2])
    if redis.call('HINCRBY', key, status .. '|' .. currency, sign * amount) <= 0 then
      redis.call('HDEL', key, status .. '|' .. currency)
    end
  end
end

-- Records a final status, atomically with the caller: the hash and its history, the seed's
-- sorted sets, the stats buckets, txns, the dead letter (failed) and the outbox entry for the
-- bus. `f` is load_payment's; `entry` the history entry (completed here). The outbox entry's
-- message id is the tracking id; after a dead letter was requeued, `<id>.r<n>`, so consumers that
-- dedupe on message ids still see the new outcome.
local function finalize(id, f, status, now, entry, result, txn, code, message, dead_reason)
  local sets = OUTCOME_SETS[status]
  if not sets then return redis.error_reply('unknown status ' .. tostring(status)) end
  local payer, recipient, amount = f.payer_id, f.recipient_id, tonumber(f.amount)
  entry.status = status
  entry.at = now
  local fields = { 'status', status, 'updated_at', now, 'processed_at', now, 'result', result }
  if txn ~= '' then table.insert(fields, 'txn_id'); table.insert(fields, txn); entry.txn_id = txn end
  if code ~= '' then entry.code = code end
  if status == 'failed' then
    table.insert(fields, 'dead_letter_reason'); table.insert(fields, dead_reason)
    if message ~= '' then table.insert(fields, 'last_error'); table.insert(fields, message) end
  end
  table.insert(fields, 'history'); table.insert(fields, with_history(f.history, entry))
  redis.call('HSET', payment_key(id), unpack(fields))
  redis.call('ZREM', P .. 'open', id)
  if f.status == 'retrying' then redis.call('ZREM', P .. 'retry', id) end
  redis.call('ZADD', P .. sets[1], now, id)
  redis.call('ZADD', P .. sets[2] .. payer, now, id)
  redis.call('ZADD', P .. sets[3] .. recipient, now, id)
  bucket_add(status, f.currency, amount, now, 1)
  local record = { tracking_id = id, status = status, payer_id = payer, recipient_id = recipient,
    amount = amount, currency = f.currency, attempts = tonumber(f.attempts), created_at = tonumber(f.created_at),
    processed_at = now }
  if txn ~= '' then record.txn_id = txn end
  if code ~= '' then record.code = code end
  local json = cjson.encode(record)
  if txn ~= '' then redis.call('HSET', P .. 'txns', txn, json) end
  if status == 'failed' then redis.call('LPUSH', P .. 'dead_letter', id) end
  local requeues = tonumber(f.requeues or '0')
  local message_id = id
  if requeues > 0 then message_id = id .. '.r' .. requeues end
  redis.call('XADD', P .. 'outbox', '*', 'id', message_id, 'key', payer, 'value', json)
  return 'recorded'
end

-- `id` was just moved into `worker`'s processing list: mark it taken and return what the worker
-- needs, or drop it from the list and return nil when it is final already (a duplicate left by a
-- crash) or unknown. `attempts` counts deliveries (`attempt_base`: their number when the payment
-- last left the dead letter, where the poison budget starts again); `errors` counts api_errors,
-- the retry budget (a delivery lost with its worker is not one).
local function claim(id, worker, now)
  local f = redis.call('HMGET', payment_key(id), 'status', 'payer_id', 'recipient_id', 'amount', 'currency',
    'description', 'metadata', 'created_at', 'attempts', 'history', 'errors')
  if not f[1] or FINAL[f[1]] or f[1] == 'retrying' then
    redis.call('LREM', processing_key(worker), 1, id)
    return nil
  end
  local attempt = tonumber(f[9] or '0') + 1
  redis.call('HSET', payment_key(id), 'status', 'processing', 'worker', worker, 'attempts', attempt,
    'started_at', now, 'updated_at', now,
    'history', with_history(f[10], { status = 'processing', at = now, attempt = attempt, worker = worker }))
  return { id, f[2], f[3], f[4], f[5], f[6] or '', f[7] or '', f[8], tostring(attempt), f[11] or '0' }
end

-- `id` was just taken out of a processing list: put it back at the head of the queue (the end
-- workers take from next) unless it is final, or waiting for a retry (it is in the retry set).
-- Taken back from a lost worker (or orphaned):
-- * after `max_deliveries` deliveries since it was queued (0: no limit) it is a poison pill — it
--   keeps crashing whoever takes it — and goes to the dead letter, failed (its id in POISONED);
-- * lost for the second time or more, it waits in the retry set, each payment of the list a step
--   later than the one before (100 ms, doubling with every further loss up to 1 s; 30 s at most
--   in all): payments lost together with a poison pill are not taken together with it again, so
--   they do not share its fate.
local POISONED = {}
local staggered = 0
local function requeue(id, reason, worker, now, max_deliveries)
  local f = load_payment(id)
  if not f.status or FINAL[f.status] or f.status == 'retrying' then return 0 end
  if f.status == 'processing' and reason ~= 'worker_stopped' then
    local deliveries = tonumber(f.attempts or '0') - tonumber(f.attempt_base or '0')
    if max_deliveries > 0 and deliveries >= max_deliveries then
      local message = 'delivered ' .. deliveries .. ' times, and each time its worker was lost (' .. reason .. ')'
      finalize(id, f, 'failed', now, { attempt = tonumber(f.attempts), worker = worker, reason = 'poison' },
        cjson.encode({ reason = 'poison', deliveries = deliveries }), '', 'poison', message, 'poison')
      POISONED[#POISONED + 1] = id
      return 0
    end
    local losses = tonumber(f.losses or '0') + 1
    if losses >= 2 then
      staggered = staggered + 1
      local due = now + math.min(30000, staggered * math.min(1000, 100 * 2 ^ (losses - 2)))
      redis.call('HSET', payment_key(id), 'status', 'retrying', 'updated_at', now, 'next_attempt_at', due, 'losses', losses,
        'history', with_history(f.history, { status = 'retrying', at = now, reason = reason, worker = worker, next_attempt_at = due }))
      redis.call('ZADD', P .. 'retry', due, id)
      return 1
    end
    redis.call('HSET', payment_key(id), 'losses', losses)
  end
  if f.status == 'processing' then
    redis.call('HSET', payment_key(id), 'status', 'queued', 'updated_at', now,
      'history', with_history(f.history, { status = 'queued', at = now, reason = reason, worker = worker }))
  end
  redis.call('RPUSH', QUEUE, id)
  return 1
end

-- Moves a whole processing list back to the queue, oldest payment first in line.
local function requeue_all(worker, reason, now, max_deliveries)
  local moved = 0
  local list = processing_key(worker)
  while true do
    local id = redis.call('LPOP', list)
    if not id then break end
    moved = moved + requeue(id, reason, worker, now, max_deliveries)
  end
  return moved
end
