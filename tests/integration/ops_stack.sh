#!/usr/bin/env bash
# ops_stack: deploy/local/stack with HAProxy, for real, in a private network
# namespace and its own GD_STACK_DIR (the shared stack is never touched).
#
#   - `stack up` brings up the infra, the two entry-api instances and HAProxy
#     on 8080; the broker's guest user comes from deploy/rabbitmq/definitions-dir;
#   - through 8080: /readyz 200, an unknown event 404 problem+json, /metrics
#     refused; the stats page lists both instances UP; the consumers' /metrics
#     (METRICS_ADDR 9101, 9102) answer and pass promtool;
#   - `stack stop entry-api` stops both instances: HAProxy answers 503
#     problem+json with Retry-After; `stack start entry-api` brings them back;
#   - entry-api-1's supervisor killed with SIGKILL under load: `stack start
#     entry-api-1` finds its workers, waits while they drain and exit by
#     themselves, and succeeds within seconds; every 202 answered has its
#     entry (an outcome row); no request hangs;
#   - bench/spike (a small one) leaves the services that ran before running,
#     same processes, and puts the fake provider's settings back;
#   - `stack stop apps` and `stack down` leave nothing running.
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${GD_BUILD_DIR:-$SRC/build}

# bench/spike needs these; the namespace has no network for apt-get.
if [ "${1:-}" != --inside ]; then
  command -v wrk >/dev/null && command -v gnuplot >/dev/null ||
    apt-get install -y -q --no-install-recommends wrk gnuplot-nox >/dev/null
fi
source "$SRC/tests/stack_ns.sh"
stack_ns_enter ops-stack "$@"

# ---- inside the namespace (STACK, down: tests/stack_ns.sh) -----------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
stats() { curl -sf "http://127.0.0.1:8404/stats;csv" | awk -F, '$1 == "entry_api" && $2 ~ /^api/ {printf "%s:%s ", $2, $18}'; }

"$STACK" up >"$GD_STACK_DIR.up.log" 2>&1 || { tail -n 40 "$GD_STACK_DIR.up.log"; exit 1; }
expect "stack status: haproxy ready" "$("$STACK" status | awk '$1 == "haproxy" {print $3, $4}')" "127.0.0.1:8080 ready"
expect "management API with the guest user" "$(code -u guest:guest http://127.0.0.1:15672/api/whoami)" 200
expect "users defined" "$(curl -sf -u guest:guest http://127.0.0.1:15672/api/users | jq -r '[.[].name] | join(",")')" guest
expect "/readyz through HAProxy" "$(code http://127.0.0.1:8080/readyz)" 200
expect "unknown event through HAProxy" "$(curl -s http://127.0.0.1:8080/v1/events/424242 | jq -r .code)" event_not_found
expect "/metrics refused on the public port" "$(curl -s http://127.0.0.1:8080/metrics | jq -r '.status|tostring')" 404
expect "instance metrics on their own port" "$(code http://127.0.0.1:8081/metrics)" 200
for m in stock-consumer:9101 notifier-consumer:9102; do
  expect "stack status: ${m%:*} ready on METRICS_ADDR" "$("$STACK" status | awk -v n="${m%:*}" '$1 == n {print $3, $4}')" "127.0.0.1:${m#*:} ready"
  expect "${m%:*} metrics pass promtool" "$(curl -sf "http://127.0.0.1:${m#*:}/metrics" | promtool check metrics 2>&1 && echo ok)" ok
done
expect "both instances UP" "$(stats)" "api1:UP api2:UP "

# ---- entry-api-1's supervisor killed with SIGKILL under load ----------------
eval "$("$STACK" env)"
export AMQP_URL REDIS_URL DATABASE_URL PGPASSWORD=giftdrop
SECRET=${JWT_SECRET:-giftdrop-development-secret-do-not-use-in-prod} # the stack's default
CTL=$BUILD/eventctl/eventctl
q() { psql -h 127.0.0.1 -U giftdrop -d giftdrop -qAtX -c "$1"; }
printf '{"title":"kill -9","product_id":"K9","opens_at":"%s","closes_at":"%s","stock_total":100000,"safety_stock":0,
 "survey":{"questions":[{"id":"q1","type":"single","text":"?","required":true,"choices":["yes","no"]}]}}' \
  "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S.000Z)" >"$GD_STACK_DIR.ev.json"
EV=$("$CTL" create "$GD_STACK_DIR.ev.json")
"$CTL" seed "$EV" --members 3000 --prefix k9- >/dev/null
"$CTL" arm "$EV" >/dev/null
SUP=$(cat "$GD_STACK_DIR/run/entry-api-1.pid")
WORKERS=$(pgrep -P "$SUP" | paste -sd' ' -)
"$BUILD/tests/loadgen/gd-loadgen" --url http://127.0.0.1:8081 --event "$EV" --members 3000 --prefix k9- \
  --rate 800 --duration 3 --connections 32 --timeout-s 5 --secret "$SECRET" --answers '{"q1":"yes"}' \
  --out "$GD_STACK_DIR.k9.txt" --quiet >"$GD_STACK_DIR.k9.json" &
LG=$!
sleep 1
# The workers are held (SIGSTOP) across the kill, so that `stack start` is
# sure to find them still there: it must recognise them as its own, wait for
# them, and not refuse the port as "taken by a process this stack did not
# start".  Let go 1.5 s later, they act on the kernel's SIGTERM and drain.
# shellcheck disable=SC2086 # a list of pids
kill -STOP $WORKERS
kill -KILL "$SUP"
# shellcheck disable=SC2086
(sleep 1.5 && kill -CONT $WORKERS) &
T0=$SECONDS
rc=0
"$STACK" start entry-api-1 >"$GD_STACK_DIR.k9-start.log" 2>&1 || rc=$?
took=$((SECONDS - T0))
wait "$LG"
expect "stack start entry-api-1 after SIGKILL of its supervisor" "$rc" 0
expect "within seconds ($took s)" "$([ "$took" -le 20 ] && echo yes || echo no)" yes
expect "it waited for the old workers" "$(grep -c 'process(es) of its previous run still alive' "$GD_STACK_DIR.k9-start.log")" 1
# (a zombie is gone: it waits only for whoever adopted it to reap it)
alive() { local st; read -r st 2>/dev/null <"/proc/$1/stat" && [[ ${st##*) } != Z* ]]; }
expect "old workers gone" "$(for w in $WORKERS; do alive "$w" && echo "$w"; done | wc -l)" 0
expect "entry-api-1 ready again" "$("$STACK" status | awk '$1 == "entry-api-1" {print $NF}')" ready
expect "no request hung" "$(jq '.by_error.timeout // 0' "$GD_STACK_DIR.k9.json")" 0
expect "answers other than 202, 503 or none" "$(awk '$2 != 202 && $2 != 503 && $2 != 0' "$GD_STACK_DIR.k9.txt" | wc -l)" 0
awk '$2 == 202 {print $4}' "$GD_STACK_DIR.k9.txt" | sort -u >"$GD_STACK_DIR.k9.acc"
expect "entries accepted before the kill" "$([ -s "$GD_STACK_DIR.k9.acc" ] && echo yes || echo no)" yes
decided() { # 202 answers without an outcome row
  q "CREATE TEMP TABLE a(id uuid); COPY a FROM STDIN;
     SELECT count(*) FROM a WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.entry_id = a.id AND e.event_id = $EV)" \
    <"$GD_STACK_DIR.k9.acc" | tail -n 1
}
for _ in $(seq 1 60); do [ "$(decided)" == 0 ] && break; sleep 0.5; done
expect "every 202 has its entry (outcome row)" "$(decided)" 0

# ---- bench/spike leaves what ran as it ran ---------------------------------
apps() { "$STACK" status | awk 'NR > 1 && $2 ~ /^[0-9]+$/ {print $1 ":" $2}' | paste -sd' ' -; }
curl -sf -X POST -H 'Content-Type: application/json' -d '{"latency_ms":7,"jitter_ms":1}' http://127.0.0.1:9090/config >/dev/null
BEFORE=$(apps)
rc=0
"$SRC/bench/spike" --members 600 --stock 40 --safety 0 --concurrency 16 --out "$GD_STACK_DIR.spike" \
  >"$GD_STACK_DIR.spike.log" 2>&1 || rc=$?
expect "a small bench/spike" "$rc" 0
[ "$rc" -eq 0 ] || tail -n 20 "$GD_STACK_DIR.spike.log"
expect "the same processes run after it" "$(apps)" "$BEFORE"
expect "the fake provider's settings are back" "$(curl -sf http://127.0.0.1:9090/config | jq -c '[.latency_ms, .jitter_ms]')" "[7,1]"

"$STACK" stop entry-api >/dev/null
expect "stop entry-api: both stopped" \
  "$("$STACK" status | awk '$1 ~ /^entry-api-/ {printf "%s:%s ", $1, $NF}')" "entry-api-1:stopped entry-api-2:stopped "
for _ in $(seq 1 50); do [ "$(stats)" == "api1:DOWN api2:DOWN " ] && break; sleep 0.2; done
curl -s -D "$GD_STACK_DIR.h" -o "$GD_STACK_DIR.b" http://127.0.0.1:8080/v1/events/1 || true
expect "no instance: 503" "$(head -n 1 "$GD_STACK_DIR.h" | awk '{print $2}')" 503
expect "no instance: problem+json" "$(jq -r '.code' "$GD_STACK_DIR.b")" unavailable
expect "no instance: Retry-After" "$(tr -d '\r' <"$GD_STACK_DIR.h" | awk -F': ' 'tolower($1)=="retry-after"{print $2}')" 1
"$STACK" start entry-api >/dev/null
for _ in $(seq 1 50); do [ "$(stats)" == "api1:UP api2:UP " ] && break; sleep 0.2; done
expect "start entry-api: both back UP" "$(stats)" "api1:UP api2:UP "
expect "/readyz through HAProxy again" "$(code http://127.0.0.1:8080/readyz)" 200

"$STACK" stop apps >/dev/null
expect "stop apps: every app stopped" \
  "$("$STACK" status | awk 'NR > 1 && $1 !~ /^(rabbitmq|redis|postgres|epmd)$/ && NF && $1 != "data:" && $NF != "stopped"' | wc -l)" 0
down
trap - EXIT
expect "down: nothing left" "$("$STACK" status | awk 'NR > 1 && NF && $1 != "data:" && $NF != "stopped"' | wc -l)" 0
tally
