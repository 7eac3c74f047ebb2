-- Prepended to every payments script (queue.ts). ARGV[1] is always the key prefix; keys are built
-- here from it, so like the bus the scripts need a single Redis (not Cluster).
local P = ARGV[1]
local QUEUE = P .. 'payments_to_be_processed'
local FINAL = { succeeded = true, insufficient_funds = true, declined = true, failed = true }

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

-- `id` was just moved into `worker`'s processing list: mark it taken and return what the worker
-- needs, or drop it from the list and return nil when it is final already (a duplicate left by a
-- crash) or unknown.
local function claim(id, worker, now)
  local f = redis.call('HMGET', payment_key(id), 'status', 'payer_id', 'recipient_id', 'amount', 'currency',
    'description', 'metadata', 'created_at', 'attempts', 'history')
  if not f[1] or FINAL[f[1]] or f[1] == 'retrying' then
    redis.call('LREM', processing_key(worker), 1, id)
    return nil
  end
  local attempt = tonumber(f[9] or '0') + 1
  redis.call('HSET', payment_key(id), 'status', 'processing', 'worker', worker, 'attempts', attempt,
    'started_at', now, 'updated_at', now,
    'history', with_history(f[10], { status = 'processing', at = now, attempt = attempt, worker = worker }))
  return { id, f[2], f[3], f[4], f[5], f[6] or '', f[7] or '', f[8], tostring(attempt) }
end

-- `id` was just taken out of a processing list: put it back at the head of the queue (the end
-- workers take from next) unless it is final, or waiting for a retry (it is in the retry set).
local function requeue(id, reason, worker, now)
  local f = redis.call('HMGET', payment_key(id), 'status', 'history')
  if not f[1] or FINAL[f[1]] or f[1] == 'retrying' then return 0 end
  if f[1] == 'processing' then
    redis.call('HSET', payment_key(id), 'status', 'queued', 'updated_at', now,
      'history', with_history(f[2], { status = 'queued', at = now, reason = reason, worker = worker }))
  end
  redis.call('RPUSH', QUEUE, id)
  return 1
end

-- Moves a whole processing list back to the queue, oldest payment first in line.
local function requeue_all(worker, reason, now)
  local moved = 0
  local list = processing_key(worker)
  while true do
    local id = redis.call('LPOP', list)
    if not id then break end
    moved = moved + requeue(id, reason, worker, now)
  end
  return moved
end
