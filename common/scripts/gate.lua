-- gate: the single Redis call that decides whether an entry may go to the broker.
-- KEYS: 1 meta, 2 eligible, 3 entries, 4 winners, 5 losers, 6 rate-limit key, 7 notified
-- ARGV: 1 member_id, 2 new entry_id, 3 rate limit, 4 rate window ms
-- Returns {status, entry_id, number, now_ms}; number is ms to wait (not_open,
-- rate_limited) or the seq of a winner.  Only 'accepted' writes entry state,
-- and it writes exactly one field (and the hash's expiry), so a failed publish is
-- undone by gate_rollback.lua.
local meta = redis.call('HMGET', KEYS[1], 'opens_at_ms', 'closes_at_ms', 'state')
if not meta[1] then
  return {'not_found', '', 0, 0}
end
-- One clock: Redis TIME, so no instance with a skewed clock opens early.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local opens, closes, state = tonumber(meta[1]), tonumber(meta[2]), meta[3]
if now < opens then
  return {'not_open', '', opens - now, now}
end
local n = redis.call('INCR', KEYS[6])
if n == 1 then
  redis.call('PEXPIRE', KEYS[6], ARGV[4])
end
if n > tonumber(ARGV[3]) then
  local ttl = redis.call('PTTL', KEYS[6])
  if ttl < 0 then ttl = tonumber(ARGV[4]) end
  return {'rate_limited', '', ttl, now}
end
local existing = redis.call('HGET', KEYS[3], ARGV[1])
if existing then
  local seq = redis.call('HGET', KEYS[4], ARGV[1])
  if seq then
    local sent = redis.call('HGET', KEYS[7], ARGV[1])
    if sent == 'sent' then return {'notified', existing, tonumber(seq), now} end
    if sent == 'failed' then return {'failed', existing, tonumber(seq), now} end
    return {'won', existing, tonumber(seq), now}
  end
  if redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then
    return {'lost', existing, 0, now}
  end
  -- Accepted but not decided yet: the caller republishes the same entry_id.
  return {'pending', existing, 0, now}
end
if state == 'closed' or now >= closes then
  return {'closed', '', 0, now}
end
if state == 'sold_out' then
  return {'sold_out', '', 0, now}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  return {'not_eligible', '', 0, now}
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
-- This may have created the hash (`arm` cannot give an expiry to a key that
-- does not exist yet): it expires with the event (DESIGN §5).  arm and rearm
-- set the expiry of every key that exists, so only a hash with none (-1: just
-- created) needs it, once; a PEXPIREAT goes to the AOF, a read does not.
if redis.call('PEXPIRETIME', KEYS[3]) == -1 then
  local expires = redis.call('PEXPIRETIME', KEYS[1])
  if expires > 0 then
    redis.call('PEXPIREAT', KEYS[3], expires)
  end
end
return {'accepted', ARGV[2], 0, now}
