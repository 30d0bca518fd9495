#!/usr/bin/env bash
# api_workers: several worker processes on one port.
#   - WORKERS=2: a supervisor and two workers, each serving a share of new
#     connections (SO_REUSEPORT), /metrics summing both;
#   - a worker killed with SIGKILL is replaced, and the port keeps answering;
#   - SIGTERM in the middle of a burst: accepting stops, requests in flight
#     finish with their confirms, every 202 is in the queue, nothing hangs,
#     and the whole instance exits 0 within the drain budget.
source "$(dirname "$0")/../lib.sh"

P="wk$$-"
purge_entries
trap 'rc=$?; mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true; (exit $rc); cleanup' EXIT
start_api api "$T_API_PORT" WORKERS=2
SUP=$PID_api
workers() { pgrep -P "$SUP" | sort; }
expect "worker processes" "$(workers | wc -l)" 2

for _ in $(seq 1 100); do curl -s -o /dev/null "$T_API/healthz"; done
req GET "$T_API/metrics" >/dev/null
expect "both workers served new connections" \
  "$(awk '/^giftdrop_worker_requests_total/ && $2 > 0' "$T_DIR/last_body" | wc -l)" 2

# A worker dies: the supervisor replaces it; the port never stops answering.
OLD=$(workers | head -1)
kill -KILL "$OLD"
bad=0
for _ in $(seq 1 30); do
  [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$T_API/healthz")" == 200 ] || bad=$((bad + 1))
  sleep 0.1
done
expect "answers while a worker is replaced" "$bad" 0
sleep 1
expect "replacement worker running" "$(workers | wc -l) $(workers | grep -c "^$OLD$")" "2 0"
expect "supervisor logged the restart" "$(grep -c 'restarting' "$T_DIR/api.log")" 1
wait_http "$T_API/readyz" 10

# SIGTERM mid-burst.
EV=$(seed_event 0 100000 3000 "$P")
"$BIN_LOADGEN" --url "$T_API" --event "$EV" --members 3000 --prefix "$P" --rate 1000 --duration 3 \
  --connections 64 --timeout-s 8 --secret "$JWT_SECRET" --answers '{"q1":"yes"}' \
  --out "$T_DIR/out.txt" --quiet >"$T_DIR/summary.json" &
LG=$!
sleep 1
T0=$(date +%s%3N)
kill -TERM "$SUP"
rc=0
wait "$SUP" 2>/dev/null || rc=$?
STOP_MS=$(($(date +%s%3N) - T0))
wait $LG
log "burst: $(cat "$T_DIR/summary.json")"
expect "supervisor exit code" "$rc" 0
expect "stopped within the drain budget" "$([ "$STOP_MS" -lt 15000 ] && echo yes || echo "no ($STOP_MS ms)")" yes
expect "workers left" "$(pgrep -P "$SUP" | wc -l)" 0
expect "both workers drained" "$(grep -c '"stopping: ' "$T_DIR/api.log")" 2
expect "requests left open at the end of a drain" "$(grep -c 'still open at the end' "$T_DIR/api.log" || true)" 0
expect "no request hung until its timeout" "$(jq '.by_error.timeout // 0' "$T_DIR/summary.json")" 0
awk '$2 == 202 {print $4}' "$T_DIR/out.txt" | sort -u >"$T_DIR/accepted"
expect "entries accepted before the stop" "$([ "$(wc -l <"$T_DIR/accepted")" -gt 0 ] && echo yes || echo no)" yes
drain_queue stock.entries "$T_DIR/ids"
expect "202 answers whose entry is not in the queue" "$(comm -23 "$T_DIR/accepted" <(sort -u "$T_DIR/ids") | wc -l)" 0
T_PIDS=()
finish
