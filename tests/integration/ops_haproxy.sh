#!/usr/bin/env bash
# ops_haproxy: deploy/haproxy/haproxy.cfg for real (Debian's HAProxy) in
# front of two entry-api instances, plus a third that never gets ready.
#
#   - traffic spreads over both ready instances (their /metrics counters);
#   - the instance whose /readyz fails (its Redis is unreachable) never gets
#     a request;
#   - an instance that stops answering (SIGSTOP) is taken out: requests
#     still succeed, all on the other one; after SIGCONT it is back;
#   - X-Forwarded-For is set by the proxy, a client's forged value replaced;
#   - bodies over 8 KiB (Content-Length or chunked): 413 problem+json from
#     HAProxy, nothing reaches the instances;
#   - per-address rate limit: 429, Retry-After, problem+json, nothing reaches
#     the instances; a client dripping its request head gets a 408;
#   - /metrics of entry-api passes `promtool check metrics`; HAProxy's and
#     RabbitMQ's exporters parse (their upstream naming lints are tolerated);
#   - with many clients connected (more than 20 % of its descriptors in use)
#     HAProxy still reuses its connections to the instances.
source "$(dirname "$0")/../lib.sh"

HA_PORT=28088 HA_STATS=28089 API_A=28081 API_B=28082 API_C=28083 ECHO_PORT=28084
HA="http://127.0.0.1:$HA_PORT"
RATE=60
NOEV=$(unused_event_id) # an id no event has: the answers must not depend on other runs' events

command -v haproxy >/dev/null || apt-get install -y -q --no-install-recommends haproxy >/dev/null
need_promtool || log "promtool unavailable (apt-get download prometheus failed): metrics lint skipped"

# start_haproxy NAME EXTRA_ENV...: our config, test ports, logs in $T_DIR/NAME.log
start_haproxy() {
  local name=$1
  shift
  env GD_HAPROXY_BIND="127.0.0.1:$HA_PORT" GD_HAPROXY_STATS_BIND="127.0.0.1:$HA_STATS" \
    GD_HAPROXY_SOCKET="$T_DIR/haproxy.sock" GD_HAPROXY_RATE=$RATE GD_HAPROXY_RATE_PERIOD=30s \
    GD_HAPROXY_RETRY_AFTER=30 GD_HAPROXY_REQ_TIMEOUT=1s "$@" \
    haproxy -db -f "$GD_SOURCE_DIR/deploy/haproxy/haproxy.cfg" >>"$T_DIR/$name.log" 2>&1 &
  T_PIDS+=($!)
  wait_http "http://127.0.0.1:$HA_STATS/healthz" 10
}
# server_status NAME: UP / DOWN / MAINT ... from the stats CSV
server_status() {
  curl -sf "http://127.0.0.1:$HA_STATS/stats;csv" | awk -F, -v s="$1" '$1 == "entry_api" && $2 == s {print $18}'
}
wait_status() { # NAME STATUS SECONDS
  for _ in $(seq 1 $(($3 * 10))); do
    [[ $(server_status "$1") == "$2"* ]] && return 0
    sleep 0.1
  done
  log "server $1 is $(server_status "$1"), not $2, after $3 s"
  return 1
}
# served PORT: event-route answers an instance gave (its own counter)
served() {
  curl -sf "http://127.0.0.1:$1/metrics" |
    awk '/^giftdrop_http_(requests|responses)_total\{route="event"/ {n += $2} END {print n + 0}'
}
# signal_tree SIG PID: PID and its children (entry-api forks workers)
signal_tree() {
  local c
  kill "-$1" "$2"
  for c in $(pgrep -P "$2" || true); do kill "-$1" "$c"; done
}
# burst N: N sequential GETs of an unknown event through HAProxy; prints the status counts
burst() {
  for _ in $(seq 1 "$1"); do curl -s -o /dev/null -w '%{http_code}\n' "$HA/v1/events/$NOEV"; done |
    sort | uniq -c | awk '{printf "%s:%s ", $2, $1}'
}

LISTEN_ADDR="127.0.0.1:$API_A" INSTANCE=api-a start api-a "$BIN_API"
LISTEN_ADDR="127.0.0.1:$API_B" INSTANCE=api-b start api-b "$BIN_API"
# Never ready: its Redis does not exist.
LISTEN_ADDR="127.0.0.1:$API_C" INSTANCE=api-c REDIS_URL=redis://127.0.0.1:9 start api-c "$BIN_API"
wait_http "http://127.0.0.1:$API_A/readyz" 30
wait_http "http://127.0.0.1:$API_B/readyz" 30
wait_http "http://127.0.0.1:$API_C/healthz" 30
expect "api-c /readyz" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$API_C/readyz")" 503

start_haproxy haproxy GD_API1="127.0.0.1:$API_A" GD_API2="127.0.0.1:$API_B" GD_API3="127.0.0.1:$API_C"
wait_status api1 UP 10 || true
wait_status api2 UP 10 || true
# HAProxy 2.6 starts every server UP: two failed checks take api-c out.
wait_status api3 DOWN 10 || true
expect "api-c (not ready) is out of rotation" "$(server_status api3)" DOWN

# Spread over the two ready instances.
a0=$(served $API_A) b0=$(served $API_B) c0=$(served $API_C)
expect "20 requests through HAProxy" "$(burst 20)" "404:20 "
a1=$(served $API_A) b1=$(served $API_B)
log "spread: api-a $((a1 - a0)), api-b $((b1 - b0))"
expect "all 20 reached an instance" "$((a1 - a0 + b1 - b0))" 20
expect "api-a took its share (>= 5)" "$([ $((a1 - a0)) -ge 5 ] && echo yes || echo "no: $((a1 - a0))")" yes
expect "api-b took its share (>= 5)" "$([ $((b1 - b0)) -ge 5 ] && echo yes || echo "no: $((b1 - b0))")" yes

# A hung instance is taken out; requests still succeed.
# shellcheck disable=SC2154 # PID_api_b is set by start (lib.sh)
signal_tree STOP "$PID_api_b"
wait_status api2 DOWN 10 || true
expect "stopped instance marked DOWN" "$(server_status api2)" DOWN
expect "requests while api-b hangs" "$(burst 10)" "404:10 "
signal_tree CONT "$PID_api_b"
a2=$(served $API_A) b2=$(served $API_B)
expect "api-a served them all" "$((a2 - a1))" 10
expect "api-b got none while down" "$((b2 - b1))" 0
wait_status api2 UP 10 || true
expect "api-b back in rotation after SIGCONT" "$(server_status api2)" UP
expect "api-c never got a request" "$(($(served $API_C) - c0))" 0

# Bodies over 8 KiB: HAProxy's own 413 problem+json, whether the size is
# announced (Content-Length) or only seen (chunked); none reaches an instance.
head -c 70000 /dev/zero | tr '\0' ' ' >"$T_DIR/big"
posts() { # entry POSTs the instances answered
  for p in $API_A $API_B; do curl -sf "http://127.0.0.1:$p/metrics"; done |
    awk '/^giftdrop_http_requests_total\{route="entry_post"/ {n += $2} END {print n + 0}'
}
big_post() { # HEADER...: a 70,000-byte entry body through HAProxy; prints the status
  curl -s -o "$T_DIR/b413" -D "$T_DIR/h413" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    "$@" --data-binary @"$T_DIR/big" "$HA/v1/events/$NOEV/entries"
}
p0=$(posts)
expect "70 KB body with Content-Length" "$(big_post)" 413
expect "413 content type" "$(tr -d '\r' <"$T_DIR/h413" | awk -F': ' 'tolower($1)=="content-type"{print $2}')" application/problem+json
expect "413 problem code" "$(jq -r '.code + " " + (.status|tostring)' "$T_DIR/b413")" "body_too_large 413"
expect "70 KB chunked body" "$(big_post -H 'Transfer-Encoding: chunked')" 413
expect "chunked 413 problem code" "$(jq -r .code "$T_DIR/b413")" body_too_large
expect "oversized bodies never reached an instance" "$(($(posts) - p0))" 0

# Rate limit: $RATE requests per 30 s per address (32 made so far).
codes=$(burst $((RATE - 32 + 5)))
expect "over the limit: 429s" "$codes" "404:$((RATE - 32)) 429:5 "
curl -s -D "$T_DIR/h429" -o "$T_DIR/b429" "$HA/v1/events/$NOEV"
expect "429 Retry-After" "$(tr -d '\r' <"$T_DIR/h429" | awk -F': ' 'tolower($1)=="retry-after"{print $2}')" 30
expect "429 content type" "$(tr -d '\r' <"$T_DIR/h429" | awk -F': ' 'tolower($1)=="content-type"{print $2}')" application/problem+json
expect "429 problem code" "$(jq -r '.code + " " + (.status|tostring)' "$T_DIR/b429")" "rate_limited 429"
a3=$(served $API_A) b3=$(served $API_B)
expect "limited requests never reached an instance" "$((a3 + b3 - a2 - b2))" $((RATE - 32))

# /metrics: HAProxy's exporter and entry-api's, linted.
if command -v promtool >/dev/null; then
  curl -sf "http://127.0.0.1:$HA_STATS/metrics" >"$T_DIR/haproxy.prom"
  curl -sf "http://127.0.0.1:$API_A/metrics" >"$T_DIR/entry-api.prom"
  promtool check metrics <"$T_DIR/entry-api.prom" >"$T_DIR/promtool-entry-api.txt" 2>&1 && r=0 || r=$?
  expect "promtool check metrics: entry-api" "$r $(head -c 300 "$T_DIR/promtool-entry-api.txt")" "0 "
  # HAProxy's own exporter parses, but 2.6 names some counters without
  # _total (upstream): only that lint is tolerated.
  promtool check metrics <"$T_DIR/haproxy.prom" >"$T_DIR/promtool-haproxy.txt" 2>&1 && r=0 || r=$?
  expect "promtool check metrics: haproxy parses (exit 0 or 3)" "$([ "$r" -eq 0 ] || [ "$r" -eq 3 ] && echo yes || echo "no: $r")" yes
  expect "promtool: haproxy lints other than the _total suffix" \
    "$(grep -v -c 'counter metrics should have "_total" suffix' "$T_DIR/promtool-haproxy.txt" || true)" 0
  # RabbitMQ's Prometheus plugin (3.10) parses too; its Erlang VM metrics
  # carry upstream naming lints, which are not ours to fix.
  curl -sf "${MGMT_URL%:*}:15692/metrics" >"$T_DIR/rabbitmq.prom"
  promtool check metrics <"$T_DIR/rabbitmq.prom" >"$T_DIR/promtool-rabbitmq.txt" 2>&1 && r=0 || r=$?
  expect "promtool check metrics: rabbitmq parses (exit 0 or 3)" "$([ "$r" -eq 0 ] || [ "$r" -eq 3 ] && echo yes || echo "no: $r")" yes
  expect "rabbitmq exports queue metrics" "$(grep -c '^rabbitmq_queue_messages_ready' "$T_DIR/rabbitmq.prom" | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
fi

# Many clients at once: connections to the instances are still reused.  A
# proxy with maxconn 400 (about 800 descriptors) and 150 keep-alive clients
# in flight uses more than 20 % of its descriptors, where HAProxy's default
# stops pooling and opens a connection per request.
HA_PORT=28090 HA_STATS=28091 start_haproxy haproxy3 GD_HAPROXY_MAXCONN=400 GD_HAPROXY_RATE=1000000 \
  GD_API1="127.0.0.1:$API_A" GD_API2="127.0.0.1:$API_B"
HA_STATS=28091 wait_status api1 UP 10 || true
HA_STATS=28091 wait_status api2 UP 10 || true
"$BIN_LOADGEN" --url "http://127.0.0.1:28090" --event "$NOEV" --members 3000 --prefix "ka$$-" \
  --concurrency 150 --secret "$JWT_SECRET" --no-warmup --quiet >"$T_DIR/keepalive.json"
expect "3,000 requests from 150 clients: all answered 404" "$(jq -c .by_status "$T_DIR/keepalive.json")" '{"404":3000}'
# The backend's "connect" column: connections opened to the instances.
opened=$(curl -sf "http://127.0.0.1:28091/stats;csv" |
  awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "connect") c = i}
           $1 == "entry_api" && $2 == "BACKEND" {print $c}')
log "backend connections opened for 3,000 requests from 150 clients: $opened"
expect "connections reused (<= 300 opened for 3,000 requests)" "$([ "${opened:-99999}" -le 300 ] && echo yes || echo "no: $opened")" yes
stop_all

# X-Forwarded-For and slow clients, against an echo server.
if ! command -v python3 >/dev/null; then apt-get install -y -q --no-install-recommends python3 >/dev/null; fi
cat >"$T_DIR/echo.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    def handle_error(self, *a): pass  # health checks hang up early
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
start echo python3 "$T_DIR/echo.py" $ECHO_PORT
wait_http "http://127.0.0.1:$ECHO_PORT/readyz" 10
start_haproxy haproxy2 GD_API1="127.0.0.1:$ECHO_PORT" GD_API2="127.0.0.1:$ECHO_PORT"
wait_status api1 UP 10 || true
curl -sf -H 'X-Forwarded-For: 6.6.6.6' -H 'Forwarded: for=6.6.6.6' "$HA/echo" >"$T_DIR/echo.json"
expect "X-Forwarded-For set by the proxy (forged value replaced)" "$(jq -r '.["x-forwarded-for"]' "$T_DIR/echo.json")" 127.0.0.1
expect "Forwarded header dropped" "$(jq -r '.forwarded // "absent"' "$T_DIR/echo.json")" absent
# Slowloris: half a request head, then silence: 408 after GD_HAPROXY_REQ_TIMEOUT (1 s).
t0=$(date +%s%3N)
reply=$(exec 3<>"/dev/tcp/127.0.0.1/$HA_PORT"
  printf 'GET /v1/events/%s HTTP/1.1\r\nHost: x\r\n' "$NOEV" >&3
  timeout 5 head -n 1 <&3 | tr -d '\r')
t1=$(date +%s%3N)
expect "slow request head answered" "$reply" "HTTP/1.1 408 Request Time-out"
expect "within the request timeout (< 3 s)" "$([ $((t1 - t0)) -lt 3000 ] && echo yes || echo "no: $((t1 - t0)) ms")" yes
finish
