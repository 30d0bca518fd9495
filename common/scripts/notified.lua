-- notified: mirror a winner's final send status into Redis, where
-- GET .../entries/me reads it (PostgreSQL's ledger is the record).
-- KEYS: 1 meta, 2 notified   ARGV: 1 member_id, 2 'sent' | 'failed'
-- The hash expires with the event (DESIGN §5); once the event's keys are gone
-- (expired, or Redis lost them until `eventctl rearm`) nothing is written, so
-- no key is left behind without an expiry.  Returns 1 if written, else 0.
local expires = redis.call('PEXPIRETIME', KEYS[1])
if expires == -2 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if expires > 0 and redis.call('PEXPIRETIME', KEYS[2]) == -1 then
  redis.call('PEXPIREAT', KEYS[2], expires)
end
return 1
