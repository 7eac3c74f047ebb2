-- Puts the given payments of a live worker's processing list back in the queue (orphans: held in
-- Redis but unknown to the worker). ARGV: prefix, worker, reason, id...
local worker, reason = ARGV[2], ARGV[3]
local now = now_ms()
local moved = 0
for i = 4, #ARGV do
  if redis.call('LREM', processing_key(worker), 0, ARGV[i]) > 0 then
    moved = moved + requeue(ARGV[i], reason, worker, now)
  end
end
return moved
