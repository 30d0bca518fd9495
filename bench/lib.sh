# shellcheck shell=bash
# bench/lib.sh - shell helpers the benchmarks share (sourced, not run).
# Needs the local stack's environment: eval "$(deploy/local/stack env)".

# psql_q SQL and pg_poll VAR SQL, shared with the tests
# shellcheck source=tests/pg.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/pg.sh"

# forget EVENT [PREFIX]: remove a bench event's rows and Redis keys, and the
# members (with their purchases) whose id starts with PREFIX.  Benchmarks
# seed 100,000+ members per run; without this they pile up in Redis (whose
# AOF rewrite then forks a process of that size) and in PostgreSQL.
forget() {
  psql_q "DELETE FROM notifications WHERE event_id=$1; DELETE FROM entries WHERE event_id=$1;
          DELETE FROM coupons WHERE event_id=$1; DELETE FROM events WHERE event_id=$1" >/dev/null
  if [ -n "${2:-}" ]; then
    psql_q "DELETE FROM purchases WHERE member_id LIKE '$2%'; DELETE FROM members WHERE member_id LIKE '$2%'" >/dev/null
  fi
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "ev:{$1}:*" | xargs -r redis-cli -h 127.0.0.1 -p 6379 DEL >/dev/null
}
