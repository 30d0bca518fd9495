-- entry_status: a member's entry for GET /v1/events/{id}/entries/me.
-- KEYS: 1 entries, 2 winners, 3 losers, 4 notified   ARGV: 1 member_id
-- Returns nil when the member has no entry, else {entry_id, status, seq}.
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then
  return false
end
local seq = redis.call('HGET', KEYS[2], ARGV[1])
if seq then
  local sent = redis.call('HGET', KEYS[4], ARGV[1])
  if sent == 'sent' then return {id, 'notified', tonumber(seq)} end
  if sent == 'failed' then return {id, 'failed', tonumber(seq)} end
  return {id, 'won', tonumber(seq)}
end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  return {id, 'lost', 0}
end
return {id, 'pending', 0}
