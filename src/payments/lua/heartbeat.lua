-- Extends the worker's heartbeat; returns its processing list so the worker can spot payments it
-- does not know it holds (a FETCH or BLMOVE whose reply was lost).
-- ARGV: prefix, worker, ttl ms
local worker, ttl = ARGV[2], tonumber(ARGV[3])
redis.call('ZADD', P .. 'workers', now_ms() + ttl, worker)
return redis.call('LRANGE', processing_key(worker), 0, -1)
