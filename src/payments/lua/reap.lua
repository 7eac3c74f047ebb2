-- The reaper: every worker whose heartbeat expired gets its processing list moved back to the
-- queue; a payment delivered `max deliveries` times goes to the dead letter instead (a poison
-- pill, see requeue in lib.lua). A dead worker stays in the live set (with its old score) for
-- `grace` ms, so a payment a late BLMOVE still put in its list is found on a later pass; then it
-- is forgotten.
-- ARGV: prefix, grace ms, max deliveries (0 = no limit).
-- Returns { { worker, moved, ... }, { poisoned id, ... } }.
local grace, max_deliveries = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local out = {}
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', P .. 'workers', '-inf', now)) do
  local moved = requeue_all(worker, 'worker_lost', now, max_deliveries)
  if moved > 0 then out[#out + 1] = worker; out[#out + 1] = moved end
  if tonumber(redis.call('ZSCORE', P .. 'workers', worker)) < now - grace then
    redis.call('ZREM', P .. 'workers', worker)
    redis.call('HDEL', P .. 'worker_info', worker)
  end
end
return { out, POISONED }
