#!/usr/bin/env bash
# api_hardening: what a hostile or clumsy client cannot do to entry-api.
#   - slowloris: a request head dripped one byte at a time is cut off at
#     REQUEST_TIMEOUT_MS from its first byte (libevent's idle timer alone
#     never would); so is a dripped body;
#   - an idle keep-alive connection is left alone by that clock and closed
#     by IDLE_TIMEOUT_S;
#   - the connection cap: at MAX_CONNECTIONS a worker stops accepting and
#     resumes when connections close;
#   - header and body caps, methods, media types;
#   - 200 concurrent POSTs by one member make exactly one entry.
source "$(dirname "$0")/../lib.sh"

RT=2000
purge_entries
trap 'rc=$?; mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true; (exit $rc); cleanup' EXIT
start_api api "$T_API_PORT" WORKERS=1 REQUEST_TIMEOUT_MS=$RT IDLE_TIMEOUT_S=5 MAX_CONNECTIONS=6

# drip PORT TEXT INTERVAL_S: send TEXT a byte at a time; print the ms until
# the server closed the connection, or "open" if it never did.
drip() {
  local fd t0 i line
  exec {fd}<>"/dev/tcp/127.0.0.1/$1"
  t0=$(date +%s%3N)
  for ((i = 0; i < ${#2}; i++)); do
    (trap '' PIPE; printf '%s' "${2:i:1}" >&"$fd") 2>/dev/null || break
    # read doubles as the pause: a closed connection answers EOF at once
    if read -r -t "$3" -u "$fd" line; [ $? -le 128 ]; then break; fi
  done
  if ((i < ${#2})); then echo $(($(date +%s%3N) - t0)); else echo open; fi
  exec {fd}>&-
}
within() { [ "$1" != open ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] && echo yes || echo "no ($1 ms)"; }

HEAD="GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: $(printf 'a%.0s' $(seq 1 60))\r\n\r\n"
HEAD=$(printf "$HEAD")
expect "slowloris head cut at REQUEST_TIMEOUT_MS" "$(within "$(drip "$T_API_PORT" "$HEAD" 0.25)" $((RT - 100)) $((RT + 900)))" yes
BODY_HEAD=$(printf 'POST /v1/events/1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n')
body_drip() {
  local fd t0 line n=0
  exec {fd}<>"/dev/tcp/127.0.0.1/$T_API_PORT"
  t0=$(date +%s%3N)
  printf '%s' "$BODY_HEAD" >&"$fd"
  while ((n < 200)); do
    (trap '' PIPE; printf ' ' >&"$fd") 2>/dev/null || break
    if read -r -t 0.25 -u "$fd" line; [ $? -le 128 ]; then break; fi
    n=$((n + 1))
  done
  if ((n < 200)); then echo $(($(date +%s%3N) - t0)); else echo open; fi
  exec {fd}>&-
}
expect "dripped body cut at REQUEST_TIMEOUT_MS" "$(within "$(body_drip)" $((RT - 100)) $((RT + 900)))" yes
expect "a normal request still served" "$(req GET "$T_API/healthz")" 200

# Keep-alive: after an answer the clock is off; the idle timeout closes it.
exec {ka}<>"/dev/tcp/127.0.0.1/$T_API_PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&"$ka"
read -r -t 2 -u "$ka" status_line
expect "keep-alive answer" "$(tr -d '\r' <<<"$status_line")" "HTTP/1.1 200 OK"
t0=$(date +%s%3N)
while read -r -t 10 -u "$ka" _; do :; done # headers, body, then EOF at the idle timeout
idle=$(($(date +%s%3N) - t0))
exec {ka}>&-
expect "idle keep-alive closed by IDLE_TIMEOUT_S, not by the request clock" "$(within "$idle" 4000 7000)" yes

# The cap: 6 connections open (sending nothing) fill the worker.
fds=()
for _ in 1 2 3 4 5 6; do
  exec {f}<>"/dev/tcp/127.0.0.1/$T_API_PORT"
  fds+=("$f")
done
sleep 0.3
expect "7th connection waits at the cap" "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$T_API/healthz" || true)" 000
# They never send a request: cut at REQUEST_TIMEOUT_MS from the accept.
sleep $(((RT + 1000) / 1000))
expect "served again once they are cut" "$(req GET "$T_API/healthz")" 200
for f in "${fds[@]}"; do exec {f}>&-; done
req GET "$T_API/metrics" >/dev/null
expect "accept pauses counted" "$(awk '/^giftdrop_http_accept_paused_total/ {print ($2 >= 1)}' "$T_DIR/last_body")" 1
expect "cut connections counted (2 drips + 6 silent)" "$(awk '/^giftdrop_http_connections_cut_total/ {print ($2 >= 8)}' "$T_DIR/last_body")" 1

# Caps on what a request may carry.
BIG=$(head -c 20000 /dev/zero | tr '\0' 'x')
st=$(req GET "$T_API/healthz" -H "X-Big: $BIG")
expect "20 KB of headers refused" "$([ "$st" -ge 400 ] && [ "$st" -lt 500 ] && echo 4xx || echo "$st")" 4xx
head -c 70000 /dev/zero | tr '\0' ' ' >"$T_DIR/huge"
expect "70 KB body refused by evhttp" "$(req POST "$T_API/v1/events/1/entries" -H 'Content-Type: application/json' --data-binary @"$T_DIR/huge")" 413
for m in PATCH OPTIONS; do
  expect "$m on entries" "$(req "$m" "$T_API/v1/events/1/entries")/$(last_header allow)" 405/POST
done
expect "HEAD on healthz" "$(curl -s -o /dev/null -I -w '%{http_code}' "$T_API/healthz")" 405
st=$(req TRACE "$T_API/healthz")
expect "TRACE refused" "$([ "$st" -ge 400 ] && echo refused || echo "$st")" refused
# An event no one armed: a sold-out event (the demo's event 1) is answered 410
# from memory before the token is read (DESIGN §5).
expect "JSON with a charset is JSON" "$(req POST "$T_API/v1/events/999999999/entries" -H 'Content-Type: Application/JSON; charset=utf-8' --data '{}')" 401
stop_all

# 200 concurrent POSTs by one member: one entry, one entry_id.
start_api api2 $((T_API_PORT + 2)) WORKERS=2
EV=$(seed_event 0 10 3 "h$$-")
"$BIN_LOADGEN" --url "http://127.0.0.1:$((T_API_PORT + 2))" --event "$EV" --members 1 --prefix "h$$-" \
  --repeat 200 --concurrency 200 --secret "$JWT_SECRET" --answers '{"q1":"yes"}' \
  --out "$T_DIR/one.txt" --quiet >"$T_DIR/one.json"
expect "answers" "$(wc -l <"$T_DIR/one.txt")" 200
expect "only 202 and 429" "$(awk '$2 != 202 && $2 != 429' "$T_DIR/one.txt" | wc -l)" 0
ACC=$(awk '$2 == 202' "$T_DIR/one.txt" | wc -l)
expect "202s within the rate limit (20)" "$([ "$ACC" -ge 1 ] && [ "$ACC" -le 20 ] && echo yes || echo "no ($ACC)")" yes
expect "distinct entry ids answered" "$(awk '$2 == 202 {print $4}' "$T_DIR/one.txt" | sort -u | wc -l)" 1
expect "entries in Redis" "$(redis_q HLEN "ev:{$EV}:entries")" 1
drain_queue stock.entries "$T_DIR/ids"
expect "messages in the queue == 202 answers" "$(wc -l <"$T_DIR/ids")" "$ACC"
expect "all carry the one entry_id" "$(sort -u "$T_DIR/ids")" "$(awk '$2 == 202 {print $4}' "$T_DIR/one.txt" | sort -u)"
finish
