#!/usr/bin/env bash
# ops_prometheus: Prometheus of the local stack, for real, in a private
# network namespace and its own GD_STACK_DIR (the shared stack is never
# touched), like it.ops_stack.
#
#   - once `stack up` is done, every target Prometheus scrapes is "up" within
#     a scrape or two (/api/v1/targets: 11 targets, every health "up"), and it
#     loaded the rules of deploy/prometheus/rules (/api/v1/rules);
#   - an event of 100 coupons and 300 members goes through HAProxy (A
#     answered 202, the rest 410 sold out); the series count it exactly:
#     accepted A, decisions won 100 / lost A - 100, winners sent 100, the
#     door's 2xx >= A and 4xx >= the 410s, the watcher's winners 100 and
#     stock left 0, every reconcile check 0; the dashboard's recording rules
#     show the event's stock left;
#   - every query of dashboard.json runs on this Prometheus (/api/v1/query:
#     status success, at least one series);
#   - `stack stop stock-consumer`: InstanceDown for it turns pending (the
#     rule evaluated on real scrapes); `stack start` clears it;
#   - `stack down` leaves nothing running.
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${GD_BUILD_DIR:-$SRC/build}

source "$SRC/tests/stack_ns.sh"
stack_ns_enter ops-prom "$@"

# ---- inside the namespace (STACK, down: tests/stack_ns.sh) -----------------
unset JWT_SECRET_FILE JWT_SECRETS JWT_SECRETS_FILE
export JWT_SECRET=ops-prometheus-test-secret-0123456789 LOG_LEVEL=warn
PROM=http://127.0.0.1:9190
CTL=$BUILD/eventctl/eventctl
# q PROMQL: the instant query's JSON
q() { curl -sf -G --data-urlencode "query=$1" "$PROM/api/v1/query"; }
# val PROMQL: the value of a one-series answer ("none" when empty)
val() { q "$1" | jq -r '.data.result[0].value[1] // "none"'; }
# poll SECONDS CMD...: every 0.5 s until CMD succeeds
poll() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.5
  done
}

"$STACK" up >"$GD_STACK_DIR.up.log" 2>&1 || { tail -n 40 "$GD_STACK_DIR.up.log"; exit 1; }
for a in reconcile-watch redis-exporter postgres-exporter prometheus; do
  expect "stack status: $a ready" "$("$STACK" status | awk -v n="$a" '$1 == n {print $NF}')" ready
done
targets() { curl -sf "$PROM/api/v1/targets" | jq -r '[.data.activeTargets[] | .health] | "\(length) \(map(select(. == "up")) | length)"'; }
all_up() { [ "$(targets)" == "11 11" ]; }
start=$SECONDS
poll 30 all_up || true
expect "every target up (of 11)" "$(targets)" "11 11"
log "targets all up $((SECONDS - start)) s after stack up"
expect "every job" "$(curl -sf "$PROM/api/v1/targets" | jq -r '[.data.activeTargets[].labels.job] | unique | join(" ")')" \
  "entry-api haproxy notifier-consumer postgres prometheus rabbitmq rabbitmq-queues reconcile redis stock-consumer"
expect "no target with a scrape error" "$(curl -sf "$PROM/api/v1/targets" | jq '[.data.activeTargets[] | select(.lastError != "")] | length')" 0
expect "rule groups loaded (rules, alerts)" \
  "$(curl -sf "$PROM/api/v1/rules" | jq -r '[.data.groups[] | "\(.name):\(.rules | length)"] | sort | join(" ")')" \
  "giftdrop-alerts:$(grep -c '^ *- alert:' "$SRC/deploy/prometheus/rules/alerts.yml") giftdrop-records:$(grep -c '^ *- record:' "$SRC/deploy/prometheus/rules/records.yml")"
expect "rule evaluation errors" "$(curl -sf "$PROM/api/v1/rules" | jq '[.data.groups[].rules[] | select(.health != "ok" and .health != "unknown")] | length')" 0

# An event through the door: 300 members, 100 coupons.
eval "$("$STACK" env)"
cat >"$GD_STACK_DIR.event.json" <<JSON
{"title":"ops_prometheus","product_id":"P-prom-$$","opens_at":"$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%S.000Z)",
 "closes_at":"$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%S.000Z)","stock_total":100,"safety_stock":0,
 "survey":{"questions":[{"id":"q1","type":"single","text":"Did you like it?","required":true,"choices":["yes","no"]}]}}
JSON
EV=$("$CTL" create "$GD_STACK_DIR.event.json")
"$CTL" seed "$EV" --members 300 --prefix "pm-" >/dev/null
"$CTL" arm "$EV" >/dev/null
# The watcher sees the event before its entries (stock left is shown for
# events whose accepted count changed).
seen() { [ "$(val "giftdrop_event_entries_accepted{event_id=\"$EV\"}")" == 0 ]; }
poll 40 seen || log "the watcher did not report event $EV within 40 s"
"$BUILD/tests/loadgen/gd-loadgen" --url http://127.0.0.1:8080 --event "$EV" --members 300 --prefix pm- \
  --concurrency 16 --answers '{"q1":"yes"}' --json "$GD_STACK_DIR.load.json" --quiet >/dev/null
# The first comers get 202, the rest 410 once the stock is gone.
A=$(jq '.by_status["202"] // 0' "$GD_STACK_DIR.load.json")
S410=$(jq '.by_status["410"] // 0' "$GD_STACK_DIR.load.json")
expect "through the door: every member answered 202 or 410, at least 100 accepted" \
  "$(jq '.errors' "$GD_STACK_DIR.load.json") $((A + S410)) $((A >= 100))" "0 300 1"
drained() { [ "$("$CTL" status "$EV" --json | jq -r '"\(.decided) \(.sent)"')" == "$A 100" ]; }
poll 60 drained || log "event $EV not drained: $("$CTL" status "$EV" --json | jq -c '{decided, sent}')"

counted() { [ "$(val "$1")" == "$2" ]; }
for c in 'sum(giftdrop_stock_decisions_total{outcome="won"})|100' "sum(giftdrop_stock_decisions_total{outcome=\"lost\"})|$((A - 100))" \
  'sum(giftdrop_notify_winners_total{result="sent"})|100' "sum(giftdrop_gate_outcomes_total{outcome=\"accepted\"})|$A" \
  "sum(haproxy_frontend_http_responses_total{proxy=\"public\",code=\"2xx\"}) >= bool $A|1" \
  "sum(haproxy_frontend_http_responses_total{proxy=\"public\",code=\"4xx\"}) >= bool $S410|1" \
  "giftdrop_event_winners{event_id=\"$EV\"}|100" "giftdrop_event_stock_remaining{event_id=\"$EV\"}|0" \
  "giftdrop_event_winners_unsettled{event_id=\"$EV\"}|0" "count(giftdrop_reconcile_violations{event_id=\"$EV\"} == 0)|11" \
  "giftdrop:event_stock_remaining:recent{event_id=\"$EV\"}|0"; do
  poll 40 counted "${c%|*}" "${c##*|}" || true
  expect "series: ${c%|*}" "$(val "${c%|*}")" "${c##*|}"
done

# Every query of the dashboard, on this Prometheus.
mapfile -t exprs < <(jq -r '.panels[].targets[].expr' "$SRC/deploy/prometheus/dashboard.json")
for e in "${exprs[@]}"; do
  expect "dashboard query $e" "$(q "$e" | jq -r '"\(.status) \(.data.result | length > 0)"')" "success true"
done

# An alert on real scrapes: stop a consumer, InstanceDown turns pending.
"$STACK" stop stock-consumer >/dev/null
alert_state() {
  curl -sf "$PROM/api/v1/alerts" |
    jq -r '[.data.alerts[] | select(.labels.alertname == "InstanceDown" and .labels.job == "stock-consumer") | .state] | join(",")'
}
pending() { [ "$(alert_state)" == pending ]; }
start=$SECONDS
poll 30 pending || true
expect "stock-consumer stopped: InstanceDown pending" "$(alert_state)" pending
log "pending $((SECONDS - start)) s after the stop"
"$STACK" start stock-consumer >/dev/null
cleared() { [ -z "$(alert_state)" ]; }
poll 30 cleared || true
expect "stock-consumer back: no InstanceDown" "$(alert_state)" ""

down
trap - EXIT
expect "down: nothing left" "$("$STACK" status | awk 'NR > 1 && NF && $1 != "data:" && $NF != "stopped"' | wc -l)" 0
tally
