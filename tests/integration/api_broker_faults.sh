#!/usr/bin/env bash
# api_broker_faults: never 202 without the broker's confirm.  Each broker
# failure answers 503 (Retry-After, code unavailable), rolls the gate back
# (the member's entry is gone from Redis, so the retry is a first entry) and
# heals by itself once the broker is back:
#   - basic.return: the binding of stock.entries removed (unroutable);
#   - basic.nack: the queue full under reject-publish (max-length policy);
#   - a memory alarm (connection.blocked), raised for real with
#     rabbitmqctl set_vm_memory_high_watermark;
#   - a black-holed broker (beam SIGSTOPped): 503 within 2 s while /healthz
#     answers and /readyz says not ready.
# At the end every 202 entry_id, and every entry Redis holds, is in the queue.
source "$(dirname "$0")/../lib.sh"

P="bf$$-"
RMQ_PID=$(cat "$STACK_DIR/run/rabbitmq.pid")
restore() {
  kill -CONT "$RMQ_PID" 2>/dev/null || true
  rmqctl set_vm_memory_high_watermark 0.4 >/dev/null 2>&1 || true
  mgmt DELETE "/policies/%2F/gd-test-maxlen" >/dev/null || true
  mgmt POST "/bindings/%2F/e/event.entry/q/stock.entries" '{"routing_key":"event.entry.*"}' >/dev/null || true
  mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true
}
purge_entries
at_exit 'restore'
start_api api "$T_API_PORT" WORKERS=2
EV=$(seed_event 0 1000 200 "$P")
: >"$T_DIR/accepted"
# post N: POST for member N; prints "STATUS SECONDS", remembers 202 ids
post() {
  local out
  out=$(curl -s -o "$T_DIR/last_body" -D "$T_DIR/last_headers" -w '%{http_code} %{time_total}' \
    -X POST -H "Authorization: Bearer $("$BIN_CTL" token "$P$1" 2>/dev/null)" \
    -H 'Content-Type: application/json' --data '{"answers":{"q1":"yes"}}' "$T_API/v1/events/$EV/entries")
  [ "${out%% *}" == 202 ] && jq -r .entry_id "$T_DIR/last_body" >>"$T_DIR/accepted"
  echo "$out"
}
status_of() { cut -d' ' -f1 <<<"$1"; }
fast() { awk -v t="$(cut -d' ' -f2 <<<"$1")" -v max="$2" 'BEGIN {print (t <= max) ? "yes" : "no (" t " s)"}'; }
rolled_back() { sleep 0.3; [ -z "$(redis_q HGET "ev:{$EV}:entries" "$P$1")" ] && echo yes || echo no; }
unavailable_ok() { # what a 503 must carry
  expect "$1: code" "$(last_json .code)" unavailable
  expect "$1: Retry-After" "$(last_header retry-after)" 1
}

expect "baseline" "$(status_of "$(post 1)")" 202

# --- basic.return: nothing routes event.entry.* any more ------------------
mgmt DELETE "/bindings/%2F/e/event.entry/q/stock.entries/event.entry.%2A" >/dev/null
r=$(post 2)
expect "unroutable entry" "$(status_of "$r")" 503
unavailable_ok "unroutable"
expect "unroutable: gate rolled back" "$(rolled_back 2)" yes
mgmt POST "/bindings/%2F/e/event.entry/q/stock.entries" '{"routing_key":"event.entry.*"}' >/dev/null
expect "unroutable: retry after the binding is back" "$(status_of "$(post 2)")" 202

# --- basic.nack: queue full with reject-publish ---------------------------
mgmt PUT "/policies/%2F/gd-test-maxlen" \
  '{"pattern":"^stock\\.entries$","definition":{"max-length":1,"overflow":"reject-publish"},"priority":99,"apply-to":"queues"}' >/dev/null
sleep 2 # the policy reaches the queue
nacked=0
for n in 3 4 5 6 7; do
  r=$(post $n)
  if [ "$(status_of "$r")" == 503 ]; then nacked=$n; break; fi
done
expect "a full queue pushes back with 503" "$([ $nacked -gt 0 ] && echo yes || echo no)" yes
unavailable_ok "nack"
expect "nack: gate rolled back" "$(rolled_back $nacked)" yes
mgmt DELETE "/policies/%2F/gd-test-maxlen" >/dev/null
sleep 2
expect "nack: retry once there is room" "$(status_of "$(post $nacked)")" 202

# --- memory alarm: the broker blocks publishers ---------------------------
rmqctl set_vm_memory_high_watermark 0.0000001 >/dev/null
sleep 1
r=$(post 20)
expect "during a memory alarm" "$(status_of "$r")" 503
expect "alarm: answered within 2 s" "$(fast "$r" 2.0)" yes
unavailable_ok "alarm"
expect "alarm: gate rolled back" "$(rolled_back 20)" yes
r=$(post 21)
expect "alarm: next entry also 503 within 2 s" "$(status_of "$r") $(fast "$r" 2.0)" "503 yes"
expect "alarm: /readyz not ready" "$(wait_status "$T_API/readyz" 503 5 >/dev/null && echo 503)" 503
expect "alarm: /healthz alive" "$(req GET "$T_API/healthz")" 200
rmqctl set_vm_memory_high_watermark 0.4 >/dev/null
expect "alarm cleared: ready again" "$(wait_status "$T_API/readyz" 200 20 >/dev/null && echo 200)" 200
expect "alarm cleared: retry" "$(status_of "$(post 20)")" 202

# --- black hole: the broker stops answering at all ------------------------
kill -STOP "$RMQ_PID"
r=$(post 30)
expect "black-holed broker" "$(status_of "$r")" 503
expect "black hole: answered within 2 s" "$(fast "$r" 2.0)" yes
expect "black hole: gate rolled back" "$(rolled_back 30)" yes
hz=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$T_API/healthz")
expect "black hole: /healthz answers at once" "$(status_of "$hz") $(fast "$hz" 0.5)" "200 yes"
expect "black hole: /readyz not ready" "$(wait_status "$T_API/readyz" 503 5 >/dev/null && echo 503)" 503
for n in 31 32 33; do
  r=$(post $n)
  expect "black hole: entry $n 503 within 2 s" "$(status_of "$r") $(fast "$r" 2.0)" "503 yes"
done
kill -CONT "$RMQ_PID"
expect "broker back: ready again by itself" "$(wait_status "$T_API/readyz" 200 30 >/dev/null && echo 200)" 200
expect "broker back: retry" "$(status_of "$(post 30)")" 202

# --- the count ------------------------------------------------------------
sleep 1
drain_queue stock.entries "$T_DIR/ids"
sort -u "$T_DIR/ids" >"$T_DIR/ids.sorted"
expect "202 answers whose entry is not in the queue" "$(sort -u "$T_DIR/accepted" | comm -23 - "$T_DIR/ids.sorted" | wc -l)" 0
redis_q HVALS "ev:{$EV}:entries" | sort -u >"$T_DIR/redis_ids"
expect "entries in Redis without a message" "$(comm -23 "$T_DIR/redis_ids" "$T_DIR/ids.sorted" | wc -l)" 0
expect "202 answers (at least one per phase)" "$(awk 'END {print (NR >= 5)}' "$T_DIR/accepted")" 1
finish
