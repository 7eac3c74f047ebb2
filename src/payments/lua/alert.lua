-- Rate-limits an alert condition across monitor replicas: 1 (raise it) when its last alert is at
-- least `interval` ms before `now`. ARGV: prefix, condition, now ms, interval ms
local last = tonumber(redis.call('HGET', P .. 'alerts', ARGV[2]) or '')
local now, interval = tonumber(ARGV[3]), tonumber(ARGV[4])
if last and now - last < interval then return 0 end
redis.call('HSET', P .. 'alerts', ARGV[2], ARGV[3])
return 1
