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

source "$GD_SOURCE_DIR/tests/assert.sh"
T_DIR=$(mktemp -d "/tmp/gd-$T_NAME.XXXXXX")
T_PIDS=()
T_API_PORT=${T_API_PORT:-28080}
T_PROVIDER_PORT=${T_PROVIDER_PORT:-29090}
T_API="http://127.0.0.1:$T_API_PORT"
T_PROVIDER="http://127.0.0.1:$T_PROVIDER_PORT"
BIN_API=$GD_BUILD_DIR/entry-api/entry-api
BIN_STOCK=$GD_BUILD_DIR/stock-consumer/stock-consumer
BIN_NOTIFIER=$GD_BUILD_DIR/notifier-consumer/notifier-consumer
BIN_CTL=$GD_BUILD_DIR/eventctl/eventctl
BIN_PROVIDER=$GD_BUILD_DIR/tests/fake-provider/gd-fake-provider
BIN_LOADGEN=$GD_BUILD_DIR/tests/loadgen/gd-loadgen


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

# at_exit CMD: CMD (evaluated, errors ignored) runs when the test ends, however
# it ends: the last statement, a failed command under set -e, SIGINT, SIGTERM or
# SIGHUP (ctest's timeout).  Commands run newest first, before the test's
# services are stopped, each abandoned after T_AT_EXIT_TIMEOUT_S (120) s.  Use it instead of replacing the EXIT trap, so that
# stopping the services can never be skipped.
T_AT_EXIT=()
at_exit() { T_AT_EXIT+=("$1"); }

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM HUP
  for ((i = ${#T_AT_EXIT[@]} - 1; i >= 0; i--)); do
    # A subshell each, with a deadline: a hung or failing clean-up step must
    # not keep the services below from being stopped.
    (eval "${T_AT_EXIT[i]}") >>"$T_DIR/at_exit.log" 2>&1 &
    local step=$! tenths=0 limit=${T_AT_EXIT_TIMEOUT_S:-120}
    while kill -0 "$step" 2>/dev/null && ((tenths < limit * 10)); do
      sleep 0.1
      tenths=$((tenths + 1))
    done
    if kill -0 "$step" 2>/dev/null; then
      pkill -KILL -P "$step" 2>/dev/null || true
      kill -KILL "$step" 2>/dev/null || true
      log "clean-up step still running after $limit s, abandoned: ${T_AT_EXIT[i]}"
    fi
    wait "$step" 2>/dev/null || log "clean-up step failed: ${T_AT_EXIT[i]} (see $T_DIR/at_exit.log)"
  done
  stop_all
  if [ "$rc" -ne 0 ] || [ "$T_FAILS" -ne 0 ]; then
    [ "$rc" -eq 0 ] || [ -n "${T_FINISHED:-}" ] || log "FAIL the test stopped early (exit status $rc); see the log tails below"
    log "logs kept in $T_DIR"
    tail -n 15 "$T_DIR"/*.log 2>/dev/null || true
  else
    rm -rf "$T_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# listen_ports ARGS...: the TCP ports a service started with ARGS will listen
# on: LISTEN_ADDR / METRICS_ADDR (from the caller's environment or given as
# VAR=value arguments) and the word after --listen.
listen_ports() {
  local a prev='' addrs=("${LISTEN_ADDR:-}" "${METRICS_ADDR:-}")
  for a in "$@"; do
    case $a in LISTEN_ADDR=* | METRICS_ADDR=*) addrs+=("${a#*=}") ;; esac
    [ "$prev" != --listen ] || addrs+=("$a")
    prev=$a
  done
  for a in "${addrs[@]}"; do [[ $a =~ :([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"; done
  return 0
}

# proc_alive PID: the process runs (a zombie does not: it only waits for
# whoever adopted it to reap it, and kill -0 would still find it)
proc_alive() { local st; read -r st 2>/dev/null <"/proc/$1/stat" && [[ ${st##*) } != Z* ]]; }

# port_listener PORT: who listens on TCP PORT (any address); empty if nobody
port_listener() { ss -Hltnp "sport = :$1" 2>/dev/null | awk '{print $4, $6}' | paste -sd' ' -; }

# start NAME CMD... : run in the background with output in $T_DIR/NAME.log.
# Refuses (the test stops) when something already listens on a port the
# service would take: a process left by an earlier test would otherwise share
# the port (SO_REUSEPORT) and answer part of this test's requests.  The
# service gets SIGTERM if the test's shell dies without its clean-up (SIGKILL
# by a timeout): nothing a test starts outlives it.
start() {
  local name=$1 port who
  shift
  for port in $(listen_ports "$@"); do
    who=$(port_listener "$port")
    [ -z "$who" ] || { log "FAIL $name: port $port is already in use ($who); not starting it"; exit 1; }
  done
  setpriv --pdeathsig TERM "$@" >>"$T_DIR/$name.log" 2>&1 &
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

# psql_q SQL (a psql each) and pg_poll VAR SQL (one open session, for the waits)
# shellcheck source=tests/pg.sh
source "$GD_SOURCE_DIR/tests/pg.sh"
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

# unused_event_id: an event id that no event has, nor will get during the
# run (the id sequence's last value plus a million): for "unknown event"
# checks, so that no test depends on what else the database holds (the demo
# runs before the suite in CI).
unused_event_id() { psql_q "SELECT last_value + 1000000 FROM events_event_id_seq"; }

# opens_ms EVENT: the event's opening instant, unix ms
opens_ms() { psql_q "SELECT (extract(epoch from opens_at)*1000)::bigint FROM events WHERE event_id=$1"; }

# wait_until_ms UNIX_MS
wait_until_ms() {
  local now
  now=$(date +%s%3N)
  [ "$1" -le "$now" ] || sleep "$(awk "BEGIN{print ($1-$now)/1000}")"
}

# poll_until SECONDS CMD...: run CMD every 250 ms until it succeeds (0) or
# SECONDS have passed (1).  The waits below are poll_until and a predicate.
poll_until() {
  local limit=$1
  shift
  for _ in $(seq 1 $((limit * 4))); do
    "$@" && return 0
    sleep 0.25
  done
  return 1
}

# at_least N CMD...: CMD prints a number >= N
at_least() { [ "$("${@:2}")" -ge "$1" ]; }

# drain_counts EVENT: "accepted decided won settled" of EVENT
drain_counts() {
  echo "$(redis_q HLEN "ev:{$1}:entries") $(stock_rows "$1") $(stock_rows "$1" "outcome='won'")" \
    "$(notify_settled "$1")"
}
drained() {
  local row dec won settled
  pg_poll row "SELECT (SELECT count(*) FROM entries WHERE event_id=$1),
    (SELECT count(*) FROM entries WHERE event_id=$1 AND outcome='won'),
    (SELECT count(*) FROM notifications WHERE event_id=$1 AND status IN ('sent','failed'))" || return 1
  IFS='|' read -r dec won settled <<<"$row"
  [ "$(redis_q HLEN "ev:{$1}:entries")" == "$dec" ] && [ "$won" == "$settled" ]
}

# wait_drained EVENT SECONDS: every accepted entry decided and every winner settled
wait_drained() {
  poll_until "${2:-120}" drained "$1" && return 0
  log "not drained after ${2:-120}s: accepted decided won settled = $(drain_counts "$1")"
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
  T_FINISHED=1
  stop_all
  expect "sanitizer reports in service logs" \
    "$(cat "$T_DIR"/*.log | grep -c -E 'AddressSanitizer|LeakSanitizer|runtime error:' || true)" 0
  tally
}

# mgmt_depth QUEUE: messages in QUEUE per the management API (its numbers
# lag the broker by up to its stats interval, 5 s by default).
mgmt_depth() { curl -sf -u guest:guest "$MGMT_URL/api/queues/%2F/$1" | jq '.messages // 0'; }

# mgmt_wait_depth QUEUE N [SECONDS]: until the management API shows N messages in QUEUE.
mgmt_shows() { [ "$(mgmt_depth "$1")" == "$2" ]; }
mgmt_wait_depth() {
  poll_until "${3:-15}" mgmt_shows "$1" "$2" && return 0
  log "$1: the management API shows $(mgmt_depth "$1") messages, not $2, after ${3:-15}s"
  return 1
}
# mgmt_settled_depth QUEUE N [SECONDS]: print QUEUE's depth once every read
# for 6 s has shown N, i.e. across one of the management API's 5 s statistics
# refreshes (one read of 0 can be a sample from before the last redeliveries
# came back); after SECONDS [30], the last read.  For "nothing is left" checks.
mgmt_settled_depth() {
  local end=$((SECONDS + ${3:-30})) since=-1 d
  while :; do
    d=$(mgmt_depth "$1")
    if [ "$d" != "$2" ]; then
      since=-1
    elif [ "$since" -lt 0 ]; then
      since=$SECONDS
    elif [ $((SECONDS - since)) -ge 6 ]; then
      break
    fi
    [ "$SECONDS" -lt "$end" ] || break
    sleep 0.5
  done
  echo "$d"
}

# --- stock-consumer tests (tests/integration/stock_*.sh) ----------------------
BIN_FEED=$GD_BUILD_DIR/stock-consumer/gd-stock-feed

# stock_event STOCK SAFETY MEMBERS PREFIX [KAKAO%]: an event open now with
# MEMBERS seeded members (phones, purchases, coupon pool), armed; prints its id
stock_event() {
  local ev
  ev=$(new_event 0 "$1" "$2")
  "$BIN_CTL" seed "$ev" --members "$3" --prefix "$4" --kakao-percent "${5:-50}" >/dev/null
  "$BIN_CTL" arm "$ev" >/dev/null
  echo "$ev"
}

# stock_consumer NAME [VAR=VALUE...]: start one more stock-consumer as NAME
stock_consumer() {
  local name=$1
  shift
  start "$name" env "$@" INSTANCE="$name" "$BIN_STOCK"
}

# stock_rows EVENT [WHERE]: outcome rows of EVENT (optionally filtered)
stock_rows() { psql_q "SELECT count(*) FROM entries WHERE event_id=$1 ${2:+AND $2}"; }

# stock_wait_rows EVENT N [SECONDS]: until EVENT has N outcome rows
stock_rows_at_least() { local n; pg_poll n "SELECT count(*) FROM entries WHERE event_id=$1" && [ "$n" -ge "$2" ]; }
stock_wait_rows() {
  poll_until "${3:-120}" stock_rows_at_least "$1" "$2" && return 0
  log "event $1: $(stock_rows "$1") outcome rows after ${3:-120}s, expected $2"
  return 1
}

# stock_wait_settled EVENT [SECONDS]: until every winner's notification is sent or failed
winners_settled() {
  local row
  pg_poll row "SELECT (SELECT count(*) FROM entries WHERE event_id=$1 AND outcome='won'),
    (SELECT count(*) FROM notifications WHERE event_id=$1 AND status IN ('sent','failed'))" &&
    [ "${row%|*}" == "${row#*|}" ]
}
stock_wait_settled() {
  poll_until "${2:-120}" winners_settled "$1" && return 0
  log "event $1: $(notify_settled "$1") of $(stock_rows "$1" "outcome='won'") winners notified after ${2:-120}s"
  return 1
}

# stock_missing EVENT FILE: confirmed entries ("entry_id member" lines) without an outcome row
stock_missing() {
  psql_q "CREATE TEMP TABLE c(id uuid, m text); COPY c FROM STDIN WITH (DELIMITER ' ');
          SELECT count(*) FROM c WHERE NOT EXISTS
            (SELECT 1 FROM entries e WHERE e.entry_id = c.id AND e.event_id = $1)" <"$2" | tail -n1
}

# stock_dup_seq EVENT: winner ranks used twice (0 when every rank is unique)
stock_dup_seq() { psql_q "SELECT count(seq) - count(DISTINCT seq) FROM entries WHERE event_id=$1"; }

# mgmt_dlq_get OUT: every message of stock.entries.dlq as the management API
# shows it (taken and requeued: reject_requeue_true), JSON array into OUT
mgmt_dlq_get() {
  curl -sf -u guest:guest -H 'content-type: application/json' -X POST \
    "$MGMT_URL/api/queues/%2F/stock.entries.dlq/get" \
    -d '{"count":100000,"ackmode":"reject_requeue_true","encoding":"auto","truncate":2000}' >"$1"
}

# mgmt_dlq_count FILE EVENT: messages of EVENT (header x-event-id) in a mgmt_dlq_get dump
mgmt_dlq_count() { jq "[.[] | select(.properties.headers[\"x-event-id\"] == $2)] | length" "$1"; }

# stock_dlq_take EVENT: remove EVENT's dead letters from stock.entries.dlq (others stay)
stock_dlq_take() { "$BIN_FEED" dlq --event "$1" --take >/dev/null; }

# need_promtool: puts promtool on PATH.  Debian's prometheus package is
# unpacked (not installed) into /var/tmp/giftdrop-tools, so no Prometheus
# server is started and nothing takes port 9090.  Returns 1 if impossible.
need_promtool() {
  command -v promtool >/dev/null && return 0
  local dir=/var/tmp/giftdrop-tools
  if [ ! -x "$dir/usr/bin/promtool" ]; then
    mkdir -p "$dir/deb"
    (cd "$dir/deb" && apt-get download prometheus >/dev/null 2>&1) ||
      { apt-get update >/dev/null 2>&1 && (cd "$dir/deb" && apt-get download prometheus >/dev/null 2>&1); } ||
      return 1
    local debs=("$dir"/deb/prometheus_*.deb)
    dpkg-deb -x "${debs[0]}" "$dir" || return 1
  fi
  PATH=$dir/usr/bin:$PATH
}

# --- notifier-consumer tests (tests/integration/notify_*.sh) -----------------
BIN_WINNERS=$GD_BUILD_DIR/bench/notify_winners
PROVIDER_SECRET=${PROVIDER_SECRET:-dev-provider-secret}
export PROVIDER_SECRET

# notify_event STOCK SAFETY: an event with its coupon pool (STOCK codes,
# SAFETY held back) for winners published straight to event.winner; prints its id
notify_event() {
  local ev
  ev=$(new_event 3600 "$1" "$2")
  "$BIN_CTL" seed "$ev" --members 1 --prefix "pool$$-" >/dev/null
  # Armed, as every event with winners is: the notifier mirrors a send into
  # Redis only while the event's keys exist there.
  "$BIN_CTL" arm "$ev" >/dev/null
  echo "$ev"
}

# notify_fake NAME PORT [FLAGS...]: a fake provider endpoint on PORT recording
# into $T_DIR/NAME.jsonl (append, so a restarted endpoint keeps its history)
notify_fake() {
  local name=$1 port=$2 scheme=http
  shift 2
  [[ " $* " == *" --tls-cert "* ]] && scheme=https
  start "$name" "$BIN_PROVIDER" --listen "127.0.0.1:$port" --record "$T_DIR/$name.jsonl" "$@"
  for _ in $(seq 1 100); do
    grep -q '"msg":"listening"' "$T_DIR/$name.log" 2>/dev/null && return 0
    sleep 0.1
  done
  log "fake provider $name ($scheme://127.0.0.1:$port) did not start"
  return 1
}

# notify_start NAME [VAR=VALUE...]: start a notifier-consumer as NAME
notify_start() {
  local name=$1
  shift
  start "$name" env INSTANCE="$name" "$@" "$BIN_NOTIFIER"
}

# notify_publish EVENT COUNT [FLAGS...]: COUNT winners of EVENT to event.winner;
# "member entry_id channel phone" lines appended to $T_DIR/winners.txt
notify_publish() {
  local ev=$1 n=$2
  shift 2
  "$BIN_WINNERS" --event "$ev" --count "$n" --prefix "w$$-" --out "$T_DIR/winners.part" "$@" >/dev/null
  cat "$T_DIR/winners.part" >>"$T_DIR/winners.txt"
}

# notify_settled EVENT: notifications of EVENT that are sent or failed
notify_settled() { psql_q "SELECT count(*) FROM notifications WHERE event_id=$1 AND status IN ('sent','failed')"; }

# notify_wait EVENT N [SECONDS]: until N notifications of EVENT are settled
notify_settled_at_least() {
  local n
  pg_poll n "SELECT count(*) FROM notifications WHERE event_id=$1 AND status IN ('sent','failed')" &&
    [ "$n" -ge "$2" ]
}
notify_wait() {
  poll_until "${3:-120}" notify_settled_at_least "$1" "$2" && return 0
  log "event $1: $(notify_settled "$1") of $2 notifications settled after ${3:-120}s"
  return 1
}

# notify_records NAME...: every record of the named fake endpoints, one JSON per line
notify_records() {
  local n
  for n in "$@"; do cat "$T_DIR/$n.jsonl" 2>/dev/null || true; done
}

# notify_sends_per_entry NAME...: "count entry_id" of deliveries (records whose
# recipient was delivered: "sent", and "lost_reply" whose answer never came
# back), the SMS fallback's key "<entry_id>-sms" counted for its entry
notify_sends_per_entry() {
  notify_records "$@" | jq -r 'select(.recipients[0].delivered == true) | .idempotency_key' |
    sed 's/-sms$//' | sort | uniq -c | awk '{print $1, $2}'
}

# notify_check_once EVENT WANT NAME...: the exactly-once checks every notifier
# test makes: WANT winners of EVENT sent, each of its entries delivered exactly
# once by the providers (by idempotency key, across all the named endpoints),
# one coupon per winner, and the coupon each phone received is the one the
# pool assigned
notify_check_once() {
  local ev=$1 want=$2
  shift 2
  # Only this event's entries: an endpoint may have served other events.
  psql_q "SELECT entry_id FROM notifications WHERE event_id=$ev" | sort >"$T_DIR/entries.txt"
  notify_sends_per_entry "$@" | sort -k2 | join -1 2 -2 1 -o 1.1,1.2 - "$T_DIR/entries.txt" >"$T_DIR/sends.txt"
  expect "winners sent" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$ev AND status='sent'")" "$want"
  expect "entries the providers delivered" "$(wc -l <"$T_DIR/sends.txt")" "$want"
  expect "entries delivered more than once" "$(awk '$1 > 1' "$T_DIR/sends.txt" | wc -l)" 0
  expect "coupons handed out" "$(psql_q "SELECT count(member_id) FROM coupons WHERE event_id=$ev")" \
    "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$ev AND coupon_code IS NOT NULL")"
  expect "members holding two coupons" "$(psql_q "SELECT count(*) FROM (SELECT member_id FROM coupons
    WHERE event_id=$ev AND member_id IS NOT NULL GROUP BY member_id HAVING count(*) > 1) d")" 0
  expect "ledger coupon == pool coupon" "$(psql_q "SELECT count(*) FROM notifications n LEFT JOIN coupons c
    ON c.event_id=n.event_id AND c.member_id=n.member_id WHERE n.event_id=$ev AND n.status='sent'
    AND c.code IS DISTINCT FROM n.coupon_code")" 0
  notify_records "$@" | jq -r 'select(.recipients[0].delivered == true) | (.idempotency_key |
    sub("-sms$"; "")) + " " + .recipients[0].recipientNo + " " + .recipients[0].templateParameter.coupon_code' |
    sort | join -o 1.2,1.3 - "$T_DIR/entries.txt" | sort >"$T_DIR/provider_pairs"
  psql -h 127.0.0.1 -U giftdrop -d giftdrop -qAtX -v ON_ERROR_STOP=1 \
    -c "CREATE TEMP TABLE w (member text, entry_id uuid, channel text, phone text)" \
    -c "COPY w FROM STDIN WITH (DELIMITER ' ')" \
    -c "SELECT w.phone || ' ' || n.coupon_code FROM notifications n JOIN w USING (entry_id)
        WHERE n.event_id=$ev AND n.status='sent'" <"$T_DIR/winners.txt" | sort >"$T_DIR/db_pairs"
  expect "each phone got the coupon the pool assigned it" \
    "$(diff -q "$T_DIR/provider_pairs" "$T_DIR/db_pairs" >/dev/null && echo same || echo different)" same
}

# notify_log_count PATTERN NAME...: log lines of the named processes matching PATTERN
notify_log_count() {
  local pat=$1
  shift
  local n
  for n in "$@"; do cat "$T_DIR/$n.log"; done | grep -c -E "$pat" || true
}

# ---------------------------------------------------------------------------
# entry-api helpers (tests/integration/api_*.sh)
# ---------------------------------------------------------------------------
STACK_DIR=${GD_STACK_DIR:-/var/tmp/giftdrop-stack}

# start_api NAME PORT [VAR=value ...]: an entry-api on PORT with extra
# settings, waited until /readyz answers 200.
start_api() {
  local name=$1 port=$2
  shift 2
  start "$name" env "$@" LISTEN_ADDR="127.0.0.1:$port" "$BIN_API"
  wait_http "http://127.0.0.1:$port/readyz" 30
}

# b64url: base64url without padding of stdin.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# jwt_forge HEADER_JSON CLAIMS_JSON KEY [DIGEST]: a token signed with HMAC-DIGEST (sha256).
jwt_forge() {
  local h c
  h=$(printf '%s' "$1" | b64url)
  c=$(printf '%s' "$2" | b64url)
  printf '%s.%s.%s' "$h" "$c" "$(printf '%s.%s' "$h" "$c" | openssl dgst "-${4:-sha256}" -hmac "$3" -binary | b64url)"
}

# req METHOD URL [curl args...]: print "STATUS" and keep headers/body in
# $T_DIR/last_headers and $T_DIR/last_body.
req() {
  local m=$1 url=$2
  shift 2
  curl -s -o "$T_DIR/last_body" -D "$T_DIR/last_headers" -w '%{http_code}' -X "$m" "$@" "$url"
}
# last_header NAME: a header of the last req answer (case-insensitive name)
last_header() { tr -d '\r' <"$T_DIR/last_headers" | awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' 'tolower($1)==n{print $2}' | tail -n1; }
# last_json FILTER: jq over the last req body
last_json() { jq -r "$1" <"$T_DIR/last_body" 2>/dev/null || echo "(not json)"; }

# mgmt METHOD PATH [JSON]: RabbitMQ management API
mgmt() {
  local args=(-s -u guest:guest -X "$1" -H 'content-type: application/json')
  [ -n "${3:-}" ] && args+=(--data "$3")
  curl "${args[@]}" "$MGMT_URL/api$2"
}

# drain_queue QUEUE FILE: take every message off QUEUE (acked), message ids to FILE
drain_queue() {
  : >"$2"
  local out n
  while :; do
    out=$(mgmt POST "/queues/%2F/$1/get" '{"count":5000,"ackmode":"ack_requeue_false","encoding":"auto","truncate":64}')
    n=$(jq 'length' <<<"$out" 2>/dev/null || echo 0)
    [ "$n" -gt 0 ] || break
    jq -r '.[].properties.message_id' <<<"$out" >>"$2"
    jq -c '.[] | {id: .properties.message_id, headers: .properties.headers}' <<<"$out" >>"$2.full"
  done
}

# purge_entries: empty stock.entries (no consumer may hold any: checked first)
purge_entries() {
  no_foreign_consumers
  mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null
}

# stack VERB COMPONENT: deploy/local/stack VERB COMPONENT (start, stop,
# restart) for the fault tests, within 5 minutes; its output is appended to
# $T_DIR/stack.log (shown when the test fails).  On failure it says so and
# returns 1 (under set -e the test stops there, with its clean-up).
stack() {
  local rc=0
  printf '== %s stack %s\n' "$(date +%T)" "$*" >>"$T_DIR/stack.log"
  timeout 300 "$GD_SOURCE_DIR/deploy/local/stack" "$@" >>"$T_DIR/stack.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] && return 0
  log "FAIL stack $* exited $rc$([ "$rc" -ne 124 ] || echo ' (timed out after 300 s)'):"
  tail -n 8 "$T_DIR/stack.log" | sed 's/^/    /'
  return 1
}

# rmqctl ARGS...: rabbitmqctl against the local stack's node
rmqctl() {
  (cd "$STACK_DIR/rabbitmq" && env HOME="$STACK_DIR/rabbitmq" LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    RABBITMQ_NODENAME=giftdrop@localhost ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -n giftdrop@localhost "$@")
}

# redis_calls: EVALSHA+EVAL+GET+HGET+HMGET calls Redis has served (INFO commandstats)
redis_calls() {
  redis_q INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_(evalsha|eval|get|hget|hmget):/ {n += $3} END {print n + 0}'
}

# redis_evals: script calls (EVALSHA+EVAL) Redis has served
redis_evals() {
  redis_q INFO commandstats | tr -d '\r' | awk -F'[:=,]' '/^cmdstat_(evalsha|eval):/ {n += $3} END {print n + 0}'
}

# wait_status URL WANT SECONDS: until URL answers WANT; prints the seconds it took
wait_status() {
  local start=$SECONDS
  for _ in $(seq 1 $(($3 * 10))); do
    [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$1")" == "$2" ] && { echo $((SECONDS - start)); return 0; }
    sleep 0.1
  done
  echo "timeout"
  return 1
}

# burst_bg EVENT PREFIX MEMBERS RATE DURATION_S NAME: an open-loop burst of
# entries by members PREFIX1.. at RATE/s over 64 connections (5 s timeout),
# in the background (its pid in LG); answers in $T_DIR/NAME.txt, the summary
# in $T_DIR/NAME.json.  For the "something fails mid-burst" tests.
burst_bg() {
  "$BIN_LOADGEN" --url "$T_API" --event "$1" --members "$3" --prefix "$2" --rate "$4" --duration "$5" \
    --connections 64 --timeout-s 5 --secret "$JWT_SECRET" --answers '{"q1":"yes"}' \
    --out "$T_DIR/$6.txt" --quiet >"$T_DIR/$6.json" &
  LG=$!
}

# seed_event OPENS_IN_S STOCK MEMBERS PREFIX: create, seed and arm; prints the id
seed_event() {
  local ev
  ev=$(new_event "$1" "$2" 0)
  "$BIN_CTL" seed "$ev" --members "$3" --prefix "$4" >/dev/null
  "$BIN_CTL" arm "$ev" >/dev/null
  echo "$ev"
}
