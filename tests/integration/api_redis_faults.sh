#!/usr/bin/env bash
# api_redis_faults: a black-holed Redis (SIGSTOP) never stalls entry-api.
# Every call has its own deadline (REDIS_TIMEOUT_MS, hiredis 0.14 has none):
# entries and event reads answer 503 within 2 s, /healthz answers at once,
# /readyz says not ready, and service resumes by itself after SIGCONT.
# A flushed script cache (NOSCRIPT) is healed with EVAL.
source "$(dirname "$0")/../lib.sh"

P="rf$$-"
REDIS_PID=$(cat "$STACK_DIR/run/redis.pid")
purge_entries
at_exit 'mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true'
at_exit 'kill -CONT "$REDIS_PID" 2>/dev/null || true'
start_api api "$T_API_PORT" WORKERS=2
EV=$(seed_event 0 100 20 "$P")
: >"$T_DIR/accepted"
post() {
  local out
  out=$(curl -s -m 10 -o "$T_DIR/last_body" -w '%{http_code} %{time_total}' -X POST \
    -H "Authorization: Bearer $("$BIN_CTL" token "$P$1" 2>/dev/null)" -H 'Content-Type: application/json' \
    --data '{"answers":{"q1":"yes"}}' "$T_API/v1/events/$EV/entries")
  [ "${out%% *}" == 202 ] && jq -r .entry_id "$T_DIR/last_body" >>"$T_DIR/accepted"
  echo "$out"
}
status_of() { cut -d' ' -f1 <<<"$1"; }
fast() { awk -v t="$(cut -d' ' -f2 <<<"$1")" -v max="$2" 'BEGIN {print (t <= max) ? "yes" : "no (" t " s)"}'; }

expect "baseline" "$(status_of "$(post 1)")" 202
kill -STOP "$REDIS_PID"
for n in 2 3 4; do
  r=$(post $n)
  expect "Redis stalled: entry $n 503 within 2 s" "$(status_of "$r") $(fast "$r" 2.0)" "503 yes"
done
r=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}' "$T_API/v1/events/$EV")
expect "Redis stalled: event info 503 within 2 s" "$(status_of "$r") $(fast "$r" 2.0)" "503 yes"
hz=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}' "$T_API/healthz")
expect "Redis stalled: /healthz at once" "$(status_of "$hz") $(fast "$hz" 0.5)" "200 yes"
expect "Redis stalled: /readyz not ready" "$(wait_status "$T_API/readyz" 503 5 >/dev/null && echo 503)" 503
# Ten at once: each is bounded, none waits behind another.
par=()
for n in $(seq 10 19); do
  post $n >"$T_DIR/par.$n" &
  par+=($!)
done
wait "${par[@]}"
expect "Redis stalled: 10 parallel entries all 503 within 2 s" \
  "$(cat "$T_DIR"/par.* | awk '$1 == 503 && $2 <= 2.0' | wc -l)" 10
kill -CONT "$REDIS_PID"
expect "Redis back: ready again by itself" "$(wait_status "$T_API/readyz" 200 15 >/dev/null && echo 200)" 200
# /readyz answered from one worker; both have reconnected once each has logged it again
expect "Redis back: both workers reconnected" \
  "$(poll_until 15 at_least 4 grep -c 'redis connected' "$T_DIR/api.log" && echo yes || echo no)" yes
for n in 2 3 4; do
  expect "Redis back: member $n's retry" "$(status_of "$(post $n)")" 202
done

# Script cache flushed (as after a Redis restart): NOSCRIPT -> EVAL.
redis_q SCRIPT FLUSH >/dev/null
expect "after SCRIPT FLUSH" "$(status_of "$(post 5)")" 202
expect "event info after SCRIPT FLUSH" "$(req GET "$T_API/v1/events/$EV")" 200

sleep 1
drain_queue stock.entries "$T_DIR/ids"
expect "202 answers whose entry is not in the queue" "$(sort -u "$T_DIR/accepted" | comm -23 - <(sort -u "$T_DIR/ids") | wc -l)" 0
req GET "$T_API/metrics" >/dev/null
expect "Redis timeouts counted" "$(awk '/^giftdrop_redis_timeouts_total/ {print ($2 >= 1)}' "$T_DIR/last_body")" 1
finish
