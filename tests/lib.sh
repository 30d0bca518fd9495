# tests/lib.sh - helpers for the integration tests (bash; sourced).
#
# The tests run against the real RabbitMQ, Redis and PostgreSQL of the local
# stack (`deploy/local/stack up --infra`, done by tests/run) and start their
# own giftdrop processes on test ports, from the build in $GD_BUILD_DIR.
# Everything a test starts is stopped by the EXIT trap.
set -euo pipefail

GD_SOURCE_DIR=${GD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
GD_BUILD_DIR=${GD_BUILD_DIR:-$GD_SOURCE_DIR/build}
eval "$("$GD_SOURCE_DIR/deploy/local/stack" env)"
MGMT_URL=$RABBITMQ_MGMT_URL
export AMQP_URL REDIS_URL DATABASE_URL
export PGPASSWORD=giftdrop
export JWT_SECRET=${JWT_SECRET:-integration-test-secret-0123456789abcdef}
export LOG_LEVEL=${LOG_LEVEL:-info}

T_NAME=$(basename "$0" .sh)
T_DIR=$(mktemp -d "/tmp/gd-$T_NAME.XXXXXX")
T_PIDS=()
T_API_PORT=${T_API_PORT:-28080}
T_PROVIDER_PORT=${T_PROVIDER_PORT:-29090}
T_API="http://127.0.0.1:$T_API_PORT"
T_PROVIDER="http://127.0.0.1:$T_PROVIDER_PORT"
T_FAILS=0
T_PASSES=0

BIN_API=$GD_BUILD_DIR/entry-api/entry-api
BIN_STOCK=$GD_BUILD_DIR/stock-consumer/stock-consumer
BIN_NOTIFIER=$GD_BUILD_DIR/notifier-consumer/notifier-consumer
BIN_CTL=$GD_BUILD_DIR/eventctl/eventctl
BIN_PROVIDER=$GD_BUILD_DIR/tests/fake-provider/gd-fake-provider
BIN_LOADGEN=$GD_BUILD_DIR/tests/loadgen/gd-loadgen

log() { printf '[%s %s] %s\n' "$T_NAME" "$(date +%H:%M:%S)" "$*"; }

# stop_all: SIGTERM everything started (graceful stop), SIGKILL after 5 s.
stop_all() {
  local pid
  for pid in "${T_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${T_PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  T_PIDS=()
}

cleanup() {
  local rc=$?
  stop_all
  if [ "$rc" -ne 0 ] || [ "$T_FAILS" -ne 0 ]; then
    log "logs kept in $T_DIR"
    tail -n 15 "$T_DIR"/*.log 2>/dev/null || true
  else
    rm -rf "$T_DIR"
  fi
}
trap cleanup EXIT

# start NAME CMD... : run in the background with output in $T_DIR/NAME.log
start() {
  local name=$1
  shift
  "$@" >>"$T_DIR/$name.log" 2>&1 &
  T_PIDS+=($!)
  eval "PID_${name//-/_}=$!"
}

# wait_http URL [SECONDS]: until URL answers 2xx
wait_http() {
  local url=$1 limit=${2:-30}
  for _ in $(seq 1 $((limit * 10))); do
    curl -sf -o /dev/null "$url" && return 0
    sleep 0.1
  done
  echo "timed out waiting for $url" >&2
  return 1
}

# no_foreign_consumers: the queues are shared, so a consumer left running
# elsewhere (the demo's stack apps) would take this test's messages.
no_foreign_consumers() {
  local q n
  # The management API's counts lag by a few seconds: give consumers of an
  # earlier test time to disappear before calling them foreign.
  for _ in $(seq 1 20); do
    n=0
    for q in stock.entries notify.kakao notify.sms; do
      n=$((n + $(curl -sf -u guest:guest "$MGMT_URL/api/queues/%2F/$q" | jq '.consumers // 0' 2>/dev/null || echo 0)))
    done
    [ "$n" -eq 0 ] && return 0
    sleep 1
  done
  echo "$T_NAME: $n other consumer(s) on the work queues; stop them first (deploy/local/stack stop <app>)" >&2
  return 1
}

# start_all: fake provider, entry-api, one stock-consumer, one notifier.
start_all() {
  no_foreign_consumers
  start provider "$BIN_PROVIDER" --listen "127.0.0.1:$T_PROVIDER_PORT" --latency-ms "${T_PROVIDER_LATENCY:-2}" \
    --jitter-ms 1 --record "$T_DIR/provider.jsonl"
  wait_http "$T_PROVIDER/healthz" 15
  LISTEN_ADDR="127.0.0.1:$T_API_PORT" start entry-api "$BIN_API"
  start stock "$BIN_STOCK"
  PROVIDER_URL="$T_PROVIDER" start notifier "$BIN_NOTIFIER"
  wait_http "$T_API/readyz" 30
}

psql_q() { psql -h 127.0.0.1 -U giftdrop -d giftdrop -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
redis_q() { redis-cli -h 127.0.0.1 -p 6379 "$@"; }

# new_event OPENS_IN_S STOCK SAFETY [SURVEY_JSON]: create an event, print its id
new_event() {
  local opens closes survey=${4:-'{"questions":[{"id":"q1","type":"single","text":"Did you like it?","required":true,"choices":["yes","no"]}]}'}
  opens=$(date -u -d "+$1 seconds" +%Y-%m-%dT%H:%M:%S.%3NZ)
  closes=$(date -u -d "+2 hours" +%Y-%m-%dT%H:%M:%S.000Z)
  cat >"$T_DIR/event.json" <<JSON
{"title":"$T_NAME event","product_id":"P-$T_NAME-$$","opens_at":"$opens","closes_at":"$closes",
 "stock_total":$2,"safety_stock":$3,"survey":$survey}
JSON
  "$BIN_CTL" create "$T_DIR/event.json"
}

# opens_ms EVENT: the event's opening instant, unix ms
opens_ms() { psql_q "SELECT (extract(epoch from opens_at)*1000)::bigint FROM events WHERE event_id=$1"; }

# wait_until_ms UNIX_MS
wait_until_ms() {
  local now
  now=$(date +%s%3N)
  [ "$1" -le "$now" ] || sleep "$(awk "BEGIN{print ($1-$now)/1000}")"
}

# expect NAME ACTUAL WANTED: exact check, counted
expect() {
  if [ "$2" == "$3" ]; then
    T_PASSES=$((T_PASSES + 1))
    log "ok   $1 = $2"
  else
    T_FAILS=$((T_FAILS + 1))
    log "FAIL $1 = $2, expected $3"
  fi
}

# wait_drained EVENT SECONDS: every accepted entry decided and every winner settled
wait_drained() {
  local ev=$1 limit=${2:-120} acc dec won done_
  for _ in $(seq 1 $((limit * 4))); do
    acc=$(redis_q HLEN "ev:{$ev}:entries")
    dec=$(psql_q "SELECT count(*) FROM entries WHERE event_id=$ev")
    won=$(psql_q "SELECT count(*) FROM entries WHERE event_id=$ev AND outcome='won'")
    done_=$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$ev AND status IN ('sent','failed')")
    if [ "$acc" == "$dec" ] && [ "$won" == "$done_" ]; then return 0; fi
    sleep 0.25
  done
  log "not drained after ${limit}s: accepted $acc decided $dec won $won settled $done_"
  return 1
}

# http_status METHOD PATH [TOKEN] [BODY] [CONTENT_TYPE]: print the status code
http_status() {
  local args=(-s -o "$T_DIR/last_body" -w '%{http_code}' -X "$1")
  [ -n "${3:-}" ] && args+=(-H "Authorization: Bearer $3")
  [ -n "${4:-}" ] && args+=(-H "Content-Type: ${5:-application/json}" --data-binary "$4")
  curl "${args[@]}" "$T_API$2"
}

# finish: stop the services gracefully, require that no sanitizer (ASan,
# UBSan, LeakSanitizer at exit) reported anything, print the tally.
finish() {
  stop_all
  expect "sanitizer reports in service logs" \
    "$(cat "$T_DIR"/*.log | grep -c -E 'AddressSanitizer|LeakSanitizer|runtime error:' || true)" 0
  printf '%d passed, %d failed\n' "$T_PASSES" "$T_FAILS"
  [ "$T_FAILS" -eq 0 ]
}
