-- The simulated processor, which honours idempotency keys like a real one: the first call with a
-- key that reaches a decision (success, insufficient_funds, declined) executes a charge, recorded
-- in a ledger counted per tracking id; later calls with the key return that result. api_error is
-- not stored (as if the request never reached the processor), so a retry draws again. The draw is
-- sha1(seed:key:call number): deterministic for a seed.
-- ARGV: prefix, idempotency key, tracking id, seed, cumulative thresholds success,
--       insufficient_funds, declined (api_error above). Returns { result JSON, latency draw }.
local key, id, seed = ARGV[2], ARGV[3], ARGV[4]
local results = P .. 'simulated:results'
local n = redis.call('HINCRBY', P .. 'simulated:calls', id, 1)
local h = redis.sha1hex(seed .. ':' .. key .. ':' .. n)
local u = tonumber(string.sub(h, 1, 8), 16) / 4294967296
local latency = tostring(tonumber(string.sub(h, 9, 16), 16) / 4294967296)
local seen = redis.call('HGET', results, key)
if seen then return { seen, latency } end
local outcome = 'api_error'
if u < tonumber(ARGV[5]) then outcome = 'success'
elseif u < tonumber(ARGV[6]) then outcome = 'insufficient_funds'
elseif u < tonumber(ARGV[7]) then outcome = 'declined' end
if outcome == 'api_error' then
  return { cjson.encode({ outcome = 'api_error', code = 'simulated_api_error', message = 'simulated processor unavailable' }), latency }
end
local result = { outcome = outcome, txn_id = 'txn_' .. redis.call('INCR', P .. 'txn_ids') }
if outcome == 'insufficient_funds' then result.code = 'insufficient_funds' end
if outcome == 'declined' then result.code = 'card_declined' end
local json = cjson.encode(result)
redis.call('HSET', results, key, json)
redis.call('HINCRBY', P .. 'simulated:charges', id, 1)
return { json, latency }
