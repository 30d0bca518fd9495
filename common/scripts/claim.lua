-- claim: decide one entry, atomically and idempotently.
-- KEYS: 1 meta, 2 stock, 3 winners, 4 losers   ARGV: 1 member_id, 2 event_id
-- Returns {'won', seq} | {'lost', 0} | {'unknown_event', 0}.  A member already
-- decided gets the same answer again, so a redelivered entry changes nothing.
local seq = redis.call('HGET', KEYS[3], ARGV[1])
if seq then
  return {'won', tonumber(seq)}
end
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then
  return {'lost', 0}
end
local winnable = redis.call('HGET', KEYS[1], 'winnable')
if not winnable then
  return {'unknown_event', 0}
end
local left = tonumber(redis.call('GET', KEYS[2]) or '0')
if left > 0 then
  left = redis.call('DECR', KEYS[2])
  local s = tonumber(winnable) - left
  redis.call('HSET', KEYS[3], ARGV[1], s)
  if left == 0 then
    redis.call('HSET', KEYS[1], 'state', 'sold_out')
    redis.call('PUBLISH', 'ev:{' .. ARGV[2] .. '}:state', 'sold_out')
  end
  return {'won', s}
end
redis.call('SADD', KEYS[4], ARGV[1])
return {'lost', 0}
