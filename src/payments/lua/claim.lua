-- After a BLMOVE put `id` into the worker's processing list: heartbeat and mark it taken.
-- nil when a reaper moved it away meanwhile, or it is final.
-- ARGV: prefix, worker, id, ttl ms
local worker, id, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
redis.call('ZADD', P .. 'workers', now + ttl, worker)
if not redis.call('LPOS', processing_key(worker), id) then return nil end
return claim(id, worker, now)
