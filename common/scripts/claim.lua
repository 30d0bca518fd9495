-- claim: decide one entry, atomically and idempotently.
-- KEYS: 1 meta, 2 stock, 3 winners, 4 losers, 5 entries
-- ARGV: 1 member_id, 2 event_id, 3 entry_id
-- Returns {'won', seq, left} | {'lost', 0, left} | {'unknown_event', 0, 0},
-- left being the units still in stock after this decision (0: sold out; the
-- stock-consumer then marks the event sold_out in PostgreSQL).  A member
-- already decided gets the same answer again, so a redelivered entry changes
-- nothing.
local function stock_left()
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
local seq = redis.call('HGET', KEYS[3], ARGV[1])
if seq then
  return {'won', tonumber(seq), stock_left()}
end
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then
  return {'lost', 0, stock_left()}
end
if not redis.call('HGET', KEYS[1], 'winnable') then
  return {'unknown_event', 0, 0}
end
-- The gate recorded the entry when it accepted it; an entry accepted just
-- before Redis lost its state (and rebuilt by `eventctl rearm`) is not there
-- any more.  Put it back, so "accepted" stays a superset of "decided".
-- Each key written below may be created here (`arm` cannot give an expiry to
-- a key that does not exist yet): it expires with the event (DESIGN §5).
-- arm and rearm set the expiry of every key that exists, so only a key with
-- none (-1: just created) needs it, once; a PEXPIREAT goes to the AOF, a
-- read does not.
local function expire_with_event(key)
  if redis.call('PEXPIRETIME', key) == -1 then
    local expires = redis.call('PEXPIRETIME', KEYS[1])
    if expires > 0 then
      redis.call('PEXPIREAT', key, expires)
    end
  end
end
if redis.call('HSETNX', KEYS[5], ARGV[1], ARGV[3]) == 1 then
  expire_with_event(KEYS[5])
end
local left = stock_left()
if left > 0 then
  left = redis.call('DECR', KEYS[2])
  -- Ranks have their own counter instead of being derived from the stock:
  -- after `eventctl rearm` rebuilt the stock from PostgreSQL, the next rank
  -- must still follow the highest one PostgreSQL holds, gaps or not.
  local s = redis.call('HINCRBY', KEYS[1], 'last_seq', 1)
  redis.call('HSET', KEYS[3], ARGV[1], s)
  expire_with_event(KEYS[3])
  if left == 0 and redis.call('HGET', KEYS[1], 'state') ~= 'closed' then
    redis.call('HSET', KEYS[1], 'state', 'sold_out')
    redis.call('PUBLISH', 'ev:{' .. ARGV[2] .. '}:state', 'sold_out')
  end
  return {'won', s, left}
end
redis.call('SADD', KEYS[4], ARGV[1])
expire_with_event(KEYS[4])
return {'lost', 0, 0}
