#!/usr/bin/env bash
# api_workers: several worker processes on one port.
#   - WORKERS=2: a supervisor and two workers, each serving a share of new
#     connections (SO_REUSEPORT), /metrics summing both;
#   - a worker killed with SIGKILL is replaced, and the port keeps answering;
#   - a second instance refuses to start on a port the first one holds
#     (SO_REUSEPORT would have it share the traffic), saying who holds it;
#   - SIGTERM in the middle of a burst: accepting stops, requests in flight
#     finish with their confirms, every 202 is in the queue, nothing hangs,
#     and the whole instance exits 0 within the drain budget;
#   - SIGKILL of the supervisor in the middle of a burst: the workers learn
#     it from the kernel, drain the same way and exit; no request hangs, no
#     202 without its message; the port is free within seconds and a new
#     instance starts on it.
source "$(dirname "$0")/../lib.sh"

P="wk$$-"
purge_entries
at_exit 'mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true'
start_api api "$T_API_PORT" WORKERS=2
SUP=$PID_api
workers() { pgrep -P "$SUP" | sort; }
expect "worker processes" "$(workers | wc -l)" 2

# A second instance on the same port: refused at start-up, naming the holder.
rc=0
env LISTEN_ADDR="127.0.0.1:$T_API_PORT" WORKERS=2 timeout 20 "$BIN_API" >"$T_DIR/second.log" 2>&1 || rc=$?
expect "second instance on a taken port exits 1" "$rc" 1
expect "and says who holds the port" \
  "$(grep -c "cannot listen on 127.0.0.1:$T_API_PORT: another process (pid $SUP) already listens there" "$T_DIR/second.log")" 1

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

# after_stop EVENT NAME LOG: what a worker pair stopped mid-burst (answers in
# $T_DIR/NAME.txt) must leave: both drained, nothing left open, no request
# hung, only 202 / 503 (nothing recorded, safe to retry: a draining worker's
# publisher had stopped) / no answer (it had stopped accepting), every 202's
# entry in the queue, and no entry in Redis without its message.
after_stop() {
  local ev=$1 name=$2 lg=$3
  log "burst: $(cat "$T_DIR/$name.json")"
  expect "$name: both workers drained" "$(grep -c '"stopping: ' "$T_DIR/$lg.log")" 2
  expect "$name: requests left open at the end of a drain" "$(grep -c 'still open at the end' "$T_DIR/$lg.log" || true)" 0
  expect "$name: no request hung until its timeout" "$(jq '.by_error.timeout // 0' "$T_DIR/$name.json")" 0
  expect "$name: answers other than 202, 503 or none" "$(awk '$2 != 202 && $2 != 503 && $2 != 0' "$T_DIR/$name.txt" | wc -l)" 0
  awk '$2 == 202 {print $4}' "$T_DIR/$name.txt" | sort -u >"$T_DIR/$name.accepted"
  expect "$name: entries accepted before the stop" "$([ "$(wc -l <"$T_DIR/$name.accepted")" -gt 0 ] && echo yes || echo no)" yes
  drain_queue stock.entries "$T_DIR/$name.ids"
  expect "$name: 202 answers whose entry is not in the queue" \
    "$(comm -23 "$T_DIR/$name.accepted" <(sort -u "$T_DIR/$name.ids") | wc -l)" 0
  expect "$name: entries in Redis without a message" \
    "$(comm -23 <(redis_q HVALS "ev:{$ev}:entries" | sort -u) <(sort -u "$T_DIR/$name.ids") | wc -l)" 0
}

# SIGTERM mid-burst.
EV=$(seed_event 0 100000 3000 "$P")
burst_bg "$EV" "$P" 3000 1000 3 sigterm
sleep 1
T0=$(date +%s%3N)
kill -TERM "$SUP"
rc=0
wait "$SUP" 2>/dev/null || rc=$?
STOP_MS=$(($(date +%s%3N) - T0))
wait $LG
expect "supervisor exit code" "$rc" 0
expect "stopped within the drain budget" "$([ "$STOP_MS" -lt 15000 ] && echo yes || echo "no ($STOP_MS ms)")" yes
expect "workers left" "$(pgrep -P "$SUP" | wc -l)" 0
after_stop "$EV" sigterm api

# SIGKILL of the supervisor mid-burst: nothing forwards the stop, the kernel does.
start_api api2 "$T_API_PORT" WORKERS=2
SUP=$PID_api2
W2=$(pgrep -P "$SUP" | paste -sd' ' -)
expect "worker processes of the second instance" "$(wc -w <<<"$W2")" 2
EV2=$(seed_event 0 100000 3000 "${P}k-")
burst_bg "$EV2" "${P}k-" 3000 1000 3 sigkill
sleep 1
T0=$(date +%s%3N)
kill -KILL "$SUP"
gone() { for w in $W2; do proc_alive "$w" && return 1; done; return 0; }
poll_until 20 gone || true
STOP_MS=$(($(date +%s%3N) - T0))
wait $LG
expect "orphaned workers exited by themselves within the drain budget" \
  "$(gone && [ "$STOP_MS" -lt 15000 ] && echo yes || echo "no (alive after $STOP_MS ms: $W2)")" yes
after_stop "$EV2" sigkill api2
expect "port free after the orphans left" "$(port_listener "$T_API_PORT")" ""
T_PIDS=()
start_api api3 "$T_API_PORT" WORKERS=2
expect "a new instance serves the port" "$(req GET "$T_API/readyz")" 200
finish
