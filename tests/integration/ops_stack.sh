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
#   - `stack stop apps` and `stack down` leave nothing running.
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${GD_BUILD_DIR:-$SRC/build}

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
