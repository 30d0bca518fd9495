-- gate_rollback: undo an 'accepted' gate whose publish was not confirmed, so
-- the member can retry.  Only removes the entry if it is still the one we set.
-- KEYS: 1 entries   ARGV: 1 member_id, 2 entry_id
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
