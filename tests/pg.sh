# shellcheck shell=bash
# tests/pg.sh - PostgreSQL helpers of the tests and the benchmarks (sourced
# by tests/lib.sh and bench/lib.sh): the local stack's database, user
# giftdrop, over TCP.

# psql_q SQL: run SQL (one or more statements) in a psql of its own, print
# the rows unaligned.  For the checks; the waits poll with pg_poll.
psql_q() { PGPASSWORD=${PGPASSWORD:-giftdrop} psql -h 127.0.0.1 -U giftdrop -d giftdrop -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

# pg_poll VAR SQL: run SQL (one statement, at most one row) on a psql session
# kept open by the calling shell, and set VAR to the row (columns separated
# by '|'; empty when there is none).  Returns 1, with the reason on stderr,
# when the statement fails or PostgreSQL is gone; the session is then closed
# and the next call opens another (after a PostgreSQL restart, say).
#
# For the "wait until every entry has its row" loops, which run beside what
# they wait for: a psql process per query costs ~100 ms of CPU on this
# machine (Debian's Perl wrapper, loading libpq, a backend fork and a
# SCRAM-SHA-256 login): the five polls a second of bench/stock_drain had
# psql, bash and sleep at 12 % of a perf profile of the drain they timed.
# On the open session a poll costs its query (~2 ms).
#
# It sets VAR instead of printing: inside $(...) the session would belong to
# that subshell, opened and closed on every call.  A subshell that calls it
# opens a session of its own.  A session ends with its shell: psql reads EOF.
pg_poll() {
  local -n pg_poll_row=$1
  local pg_poll_end=
  if [ "${PG_POLL_OWNER:-}" != "$BASHPID" ] || ! kill -0 "$PG_POLL_PID" 2>/dev/null; then
    # (2>/dev/null: bash's warning, in a subshell, that the parent's exists)
    { coproc PG_POLL { PGPASSWORD=${PGPASSWORD:-giftdrop} exec psql -h 127.0.0.1 -U giftdrop \
      -d giftdrop -qAtX -v ON_ERROR_STOP=1 2>&1; }; } 2>/dev/null
    PG_POLL_OWNER=$BASHPID
  fi
  # The \echo marks the end of the answer: an error stops psql before it,
  # so whatever came instead is the error.
  printf '%s;\n\\echo pg_poll:end\n' "$2" >&"${PG_POLL[1]}"
  pg_poll_row=
  if IFS= read -r -t 60 pg_poll_row <&"${PG_POLL[0]}"; then
    [ "$pg_poll_row" != pg_poll:end ] || { pg_poll_row=; return 0; }
    IFS= read -r -t 60 pg_poll_end <&"${PG_POLL[0]}" && [ "$pg_poll_end" == pg_poll:end ] && return 0
  fi
  echo "pg_poll: $2: ${pg_poll_row:-no answer}${pg_poll_end:+ / $pg_poll_end}" >&2
  pg_poll_row=
  kill "$PG_POLL_PID" 2>/dev/null || true
  wait "$PG_POLL_PID" 2>/dev/null || true
  return 1
}
