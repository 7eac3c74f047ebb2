-- The reaper: every worker whose heartbeat expired gets its processing list moved back to the
-- queue. A dead worker stays in the live set (with its old score) for `grace` ms, so a payment a
-- late BLMOVE still put in its list is found on a later pass; then it is forgotten.
-- ARGV: prefix, grace ms. Returns { worker, moved, ... } for workers with payments moved.
local grace = tonumber(ARGV[2])
local now = now_ms()
local out = {}
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', P .. 'workers', '-inf', now)) do
  local moved = requeue_all(worker, 'worker_lost', now)
  if moved > 0 then out[#out + 1] = worker; out[#out + 1] = moved end
  if tonumber(redis.call('ZSCORE', P .. 'workers', worker)) < now - grace then
    redis.call('ZREM', P .. 'workers', worker)
    redis.call('HDEL', P .. 'worker_info', worker)
  end
end
return out
