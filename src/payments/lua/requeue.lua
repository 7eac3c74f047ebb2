-- Puts the given payments of a live worker's processing list back in the queue (orphans: held in
-- Redis but unknown to the worker), or in the dead letter after `max deliveries` (a payment whose
-- reply keeps getting lost is a poison pill too). ARGV: prefix, worker, reason, max deliveries, id...
-- Returns { moved, { poisoned id, ... } }.
local worker, reason, max_deliveries = ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local moved = 0
for i = 5, #ARGV do
  if redis.call('LREM', processing_key(worker), 0, ARGV[i]) > 0 then
    moved = moved + requeue(ARGV[i], reason, worker, now, max_deliveries)
  end
end
return { moved, POISONED }
