-- Queues the api_error retries that are due, at the head of the queue (they are older than what
-- waits there). ARGV: prefix, max. Returns how many were queued.
local max = tonumber(ARGV[2])
local now = now_ms()
local moved = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'retry', '-inf', now, 'LIMIT', 0, max)) do
  redis.call('ZREM', P .. 'retry', id)
  local f = redis.call('HMGET', payment_key(id), 'status', 'history')
  if f[1] == 'retrying' then
    redis.call('HSET', payment_key(id), 'status', 'queued', 'updated_at', now,
      'history', with_history(f[2], { status = 'queued', at = now, reason = 'retry_due' }))
    redis.call('RPUSH', QUEUE, id)
    moved = moved + 1
  end
end
return moved
