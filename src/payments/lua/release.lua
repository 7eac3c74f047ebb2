-- A worker stopping: everything still in its processing list goes back to the queue, and it
-- leaves the live set. ARGV: prefix, worker
local worker = ARGV[2]
local moved = requeue_all(worker, 'worker_stopped', now_ms())
redis.call('ZREM', P .. 'workers', worker)
redis.call('HDEL', P .. 'worker_info', worker)
return moved
