-- A worker stopping: everything still in its processing list goes back to the queue (no delivery
-- limit: a clean stop is no crash), and it leaves the live set. ARGV: prefix, worker
local worker = ARGV[2]
local moved = requeue_all(worker, 'worker_stopped', now_ms(), 0)
redis.call('ZREM', P .. 'workers', worker)
redis.call('HDEL', P .. 'worker_info', worker)
return moved
