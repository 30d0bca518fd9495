#!/usr/bin/env bash
# bench_sources: gd-loadgen --sources N plays N clients through the real
# HAProxy config, as bench/spike does, so HAProxy's per-address limit stays
# in force and is not hit by a load that comes from one machine:
#
#   - 200 requests over 8 loopback addresses (25 each) under a limit of 40
#     per address: 200 answers from the instance, no 429, summary says 8;
#   - the same limit, 120 requests from one address: exactly 40 reach the
#     instance, 80 get HAProxy's 429;
#   - --sources with a target that is not a loopback IPv4 address: exit 2;
#   - open loop with --coarse-timers (entry_bench's), straight to the
#     instance: 400/s for 0.5 s sends exactly its 200 items, every one
#     answered, and the run ends on time.
source "$(dirname "$0")/../lib.sh"

HA_PORT=28088 HA_STATS=28089 API_A=28081
HA="http://127.0.0.1:$HA_PORT"
LIMIT=40
SECRET=${JWT_SECRET:-giftdrop-development-secret-do-not-use-in-prod}

command -v haproxy >/dev/null || apt-get install -y -q --no-install-recommends haproxy >/dev/null

LISTEN_ADDR="127.0.0.1:$API_A" INSTANCE=api-a TRUSTED_PROXIES=127.0.0.1 start api-a "$BIN_API"
wait_http "http://127.0.0.1:$API_A/readyz" 30
env GD_HAPROXY_BIND="127.0.0.1:$HA_PORT" GD_HAPROXY_STATS_BIND="127.0.0.1:$HA_STATS" \
  GD_HAPROXY_SOCKET="$T_DIR/haproxy.sock" GD_HAPROXY_RATE=$LIMIT GD_HAPROXY_RATE_PERIOD=60s \
  GD_API1="127.0.0.1:$API_A" GD_API2="127.0.0.1:$API_A" \
  haproxy -db -f "$GD_SOURCE_DIR/deploy/haproxy/haproxy.cfg" >>"$T_DIR/haproxy.log" 2>&1 &
T_PIDS+=($!)
wait_http "http://127.0.0.1:$HA_STATS/healthz" 10
# Ready once the instance is UP on the stats page: no request through the
# public door before the counted ones.
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HA_STATS/stats;csv" | grep -q '^entry_api,api1,.*,UP' && break
  sleep 0.1
done

NOEV=$(unused_event_id) # an id no event has: the answers must not depend on other runs' events
# loadgen ARGS...: POST entries of an unknown event; prints status counts "code:n ..."
loadgen() {
  "$BIN_LOADGEN" --url "$HA" --event "$NOEV" --secret "$SECRET" --no-warmup --quiet "$@" >"$T_DIR/lg.json"
  jq -r '.by_status | to_entries | map("\(.key):\(.value)") | join(" ")' "$T_DIR/lg.json"
}

expect "8 sources x 25 requests, limit $LIMIT per address" \
  "$(loadgen --members 200 --prefix s- --concurrency 8 --sources 8)" "404:200"
expect "summary: sources" "$(jq .sources "$T_DIR/lg.json")" 8
expect "summary: no client errors" "$(jq .errors "$T_DIR/lg.json")" 0
expect "one address, 120 requests, limit $LIMIT" \
  "$(loadgen --members 120 --prefix o- --concurrency 4)" "404:$LIMIT 429:$((120 - LIMIT))"
expect "summary: one source" "$(jq .sources "$T_DIR/lg.json")" 1

rc=0
"$BIN_LOADGEN" --url "http://0.0.0.0:$HA_PORT" --event "$NOEV" --members 1 --secret "$SECRET" --sources 2 \
  --quiet >/dev/null 2>"$T_DIR/nonloop.err" || rc=$?
expect "--sources with a non-loopback target: exit status" "$rc" 2
expect "--sources with a non-loopback target: message" \
  "$(grep -c 'is not a loopback IPv4 address' "$T_DIR/nonloop.err")" 1

"$BIN_LOADGEN" --url "http://127.0.0.1:$API_A" --event "$NOEV" --secret "$SECRET" \
  --members 1000 --prefix c- --rate 400 --duration 0.5 --connections 16 --coarse-timers \
  --quiet >"$T_DIR/coarse.json"
expect "--coarse-timers open loop: mode, planned, sent, not sent" \
  "$(jq -r '"\(.mode) \(.planned) \(.sent) \(.not_sent)"' "$T_DIR/coarse.json")" "open 200 200 0"
expect "--coarse-timers open loop: answers" "$(jq -c .by_status "$T_DIR/coarse.json")" '{"404":200}'
expect "--coarse-timers open loop: client errors" "$(jq .errors "$T_DIR/coarse.json")" 0
expect "--coarse-timers open loop: over within 3 s of its 0.5 s timetable" \
  "$(jq '.duration_s < 3' "$T_DIR/coarse.json")" true
finish
