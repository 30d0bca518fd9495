#!/usr/bin/env bash
# ops_eventctl: the operator verbs import-coupons, release-safety and dlq
# against the real PostgreSQL, Redis and RabbitMQ, and exit code 2 with a
# message for every bad argument.
#
#   import-coupons: blank / oversized / bad-character / duplicate codes, a
#     bad header, a bad safety value, too many codes and codes already in the
#     pool are refused with nothing imported (all or nothing); a good file
#     (BOM, CRLF, quotes) marks the first safety codes; a safety column works.
#   release-safety: bounds; on a draft event PG only; on a sold-out armed
#     event PG released += N, N codes unflagged, Redis winnable and stock += N,
#     state back to armed and "open" published on ev:{id}:state.
#   status: the event's numbers and every queue's depth (exact DLQ counts),
#     table and --json; without the management API the rest still shows,
#     exit 0, the reason on stderr; consumers as they are now (a consumer
#     that attached or left a moment ago is counted right, where the
#     management API's statistics lag by seconds);
#   sold out: an event whose stock the stock-consumer gave away is sold_out in
#     PostgreSQL too; release-safety re-opens it, and status's coupon line
#     adds up (assigned + free + held back = the pool) before and after.
#   dlq: list shows depths and the dead letters; replay republishes an entry
#     (decided afterwards by the real stock-consumer) and a winner (the
#     notifier sees a duplicate and sends nothing twice), leaves an unroutable
#     one in the queue, exit 1.
source "$(dirname "$0")/../lib.sh"

CTL=$BIN_CTL
PREFIX="ops$$-"
mgmt() { curl -sf -u guest:guest -H 'content-type: application/json' "$@"; }
# rc CMD...: the exit code, output kept in $T_DIR/out and $T_DIR/err
rc() {
  local r=0
  "$@" >"$T_DIR/out" 2>"$T_DIR/err" || r=$?
  echo "$r"
}

# ---- bad arguments: exit 2 and a message -----------------------------------
bad_args=(
  "import-coupons"
  "import-coupons 1"
  "import-coupons x file.csv"
  "import-coupons 0 file.csv"
  "import-coupons 1 a.csv b.csv"
  "release-safety"
  "release-safety 1"
  "release-safety 1 0"
  "release-safety 1 -3"
  "release-safety 1 two"
  "release-safety abc 1"
  "release-safety 1 1 extra"
  "dlq"
  "dlq purge"
  "dlq replay"
  "dlq replay nosuch.queue"
  "dlq list --limit"
  "dlq list --limit 0"
  "dlq list --limit x"
  "dlq list stock extra"
  "dlq replay stock --bogus"
)
for a in "${bad_args[@]}"; do
  # shellcheck disable=SC2086 # word splitting of the argument list is intended
  r=$(rc "$CTL" $a)
  expect "eventctl $a: exit code" "$r" 2
  expect "eventctl $a: says why" "$([ -s "$T_DIR/err" ] && echo yes || echo no)" yes
done

# ---- import-coupons ---------------------------------------------------------
EV=$(new_event 1 10 3)
log "event $EV: stock 10, safety 3"
pool() { psql_q "SELECT count(*) || '/' || count(*) FILTER (WHERE safety) FROM coupons WHERE event_id=$EV"; }
code() { printf 'VND%s-%04d' "$$" "$1"; }

refused() { # NAME CONTENT: the file is refused (exit 1) and nothing is imported
  printf '%b' "$2" >"$T_DIR/c.csv"
  expect "refused: $1 (exit 1)" "$(rc "$CTL" import-coupons "$EV" "$T_DIR/c.csv")" 1
  expect "refused: $1 (pool untouched)" "$(pool)" "0/0"
}
refused "blank line" "$(code 1)\n\n$(code 2)\n"
refused "oversized code" "$(code 1)\n$(printf 'X%.0s' $(seq 1 65))\n"
refused "bad character" "$(code 1)\nABC DEF\n"
refused "duplicate in file" "code\n$(code 1)\n$(code 2)\n$(code 1)\n"
refused "two fields without header" "$(code 1),1\n"
refused "bad header" "code,colour\n$(code 1),red\n"
refused "bad safety value" "code,safety\n$(code 1),maybe\n"
refused "more codes than stock_total" "$(for i in $(seq 1 11); do code "$i"; echo; done)"
refused "empty file" ""
expect "error names the line" "$(grep -c 'c.csv:' "$T_DIR/err")" 1
expect "missing file: exit 1" "$(rc "$CTL" import-coupons "$EV" "$T_DIR/nosuch.csv")" 1

# A good file: BOM, CRLF, quotes and blanks around fields; the first 3 are held back.
printf '\xEF\xBB\xBFcode\r\n"%s"\r\n %s \r\n%s\r\n%s\r\n%s\r\n%s\r\n' \
  "$(code 1)" "$(code 2)" "$(code 3)" "$(code 4)" "$(code 5)" "$(code 6)" >"$T_DIR/good.csv"
expect "import 6 codes" "$(rc "$CTL" import-coupons "$EV" "$T_DIR/good.csv")" 0
expect "pool after import (codes/safety)" "$(pool)" "6/3"
expect "held back are the first in the file" \
  "$(psql_q "SELECT string_agg(code, ',' ORDER BY code) FROM coupons WHERE event_id=$EV AND safety")" \
  "$(code 1),$(code 2),$(code 3)"
# One new code and one already there: all or nothing.
printf '%s\n%s\n' "$(code 7)" "$(code 4)" >"$T_DIR/dup.csv"
expect "code already in the pool: exit 1" "$(rc "$CTL" import-coupons "$EV" "$T_DIR/dup.csv")" 1
expect "code already in the pool: named" "$(grep -c "$(code 4)" "$T_DIR/err")" 1
expect "pool unchanged" "$(pool)" "6/3"
# The safety column: no room left for more held-back codes.
printf 'code,safety\n%s,yes\n' "$(code 7)" >"$T_DIR/s.csv"
expect "more safety codes than safety_stock: exit 1" "$(rc "$CTL" import-coupons "$EV" "$T_DIR/s.csv")" 1
printf 'code,safety\n%s,0\n%s,no\n%s,false\n%s,0\n' "$(code 7)" "$(code 8)" "$(code 9)" "$(code 10)" >"$T_DIR/s.csv"
expect "safety column: import 4 more" "$(rc "$CTL" import-coupons "$EV" "$T_DIR/s.csv")" 0
expect "pool full (codes/safety)" "$(pool)" "10/3"
printf '%s\n' "$(code 11)" >"$T_DIR/one.csv"
expect "pool full: exit 1" "$(rc "$CTL" import-coupons "$EV" "$T_DIR/one.csv")" 1

# ---- release-safety -----------------------------------------------------------
evrow() { psql_q "SELECT released || '/' || state FROM events WHERE event_id=$EV"; }
expect "release more than held back: exit 1" "$(rc "$CTL" release-safety "$EV" 4)" 1
expect "unknown event: exit 1" "$(rc "$CTL" release-safety "$(unused_event_id)" 1)" 1
expect "release 1 on a draft event" "$(rc "$CTL" release-safety "$EV" 1)" 0
expect "draft: released/state" "$(evrow)" "1/draft"
expect "draft: pool (codes/safety)" "$(pool)" "10/2"
"$CTL" seed "$EV" --members 5 --prefix "$PREFIX" >/dev/null
"$CTL" arm "$EV" >/dev/null
expect "armed with winnable = 10 - 3 + 1" "$(redis_q HGET "ev:{$EV}:meta" winnable)" 8
# Sold out, as claim.lua leaves it.
redis_q SET "ev:{$EV}:stock" 0 >/dev/null
redis_q HSET "ev:{$EV}:meta" state sold_out >/dev/null
timeout 10 redis-cli -h 127.0.0.1 -p 6379 SUBSCRIBE "ev:{$EV}:state" >"$T_DIR/sub.txt" &
SUB=$!
sleep 0.5
expect "release 2 on a sold-out event" "$(rc "$CTL" release-safety "$EV" 2)" 0
sleep 0.3
kill "$SUB" 2>/dev/null || true
wait "$SUB" 2>/dev/null || true
expect "PG released/state" "$(evrow)" "3/armed"
expect "pool (codes/safety)" "$(pool)" "10/0"
expect "redis winnable" "$(redis_q HGET "ev:{$EV}:meta" winnable)" 10
expect "redis stock" "$(redis_q GET "ev:{$EV}:stock")" 2
expect "redis state" "$(redis_q HGET "ev:{$EV}:meta" state)" armed
expect "published on ev:{id}:state" "$(tail -n 1 "$T_DIR/sub.txt")" open
expect "nothing left to release: exit 1" "$(rc "$CTL" release-safety "$EV" 1)" 1
expect "stock after a refused release" "$(redis_q GET "ev:{$EV}:stock")" 2

# ---- dlq ------------------------------------------------------------------------
# The DLQs are shared: this test holds the infra lock, so whatever is in them
# now is a leftover of an earlier run.
for q in stock.entries.dlq notify.dlq; do mgmt -X DELETE "$MGMT_URL/api/queues/%2F/$q/contents" >/dev/null; done
start_all
uuid() { cat /proc/sys/kernel/random/uuid; }
# dead_letter RK MESSAGE_ID TYPE EVENT_HEADER BODY: as a consumer dead-letters (event.dlx)
dead_letter() {
  local hdr='{"x-reason":"test: '"$3"'"}'
  [ "$4" = - ] || hdr='{"x-reason":"test: '"$3"'","x-event-id":'"$4"'}'
  jq -n --arg rk "$1" --arg id "$2" --arg type "$3" --argjson h "$hdr" --arg body "$5" \
    '{routing_key:$rk, payload:$body, payload_encoding:"string",
      properties:{message_id:$id, type:$type, app_id:"stock-consumer", delivery_mode:2,
                  content_type:"application/json", headers:$h}}' |
    mgmt -X POST -d @- "$MGMT_URL/api/exchanges/%2F/event.dlx/publish" | jq -r .routed
}
# A member wins through the API first (stock 2 left).
T1=$("$CTL" token "${PREFIX}1")
expect "member 1 enters" "$(http_status POST "/v1/events/$EV/entries" "$T1" '{"answers":{"q1":"yes"}}')" 202
wait_drained "$EV" 30
expect "member 1 won and was sent" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV AND status='sent'")" 1
# An accepted entry of member 2 that ended in the DLQ (gate wrote it to Redis).
E2=$(uuid)
redis_q HSET "ev:{$EV}:entries" "${PREFIX}2" "$E2" >/dev/null
NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
expect "entry dead-lettered" "$(dead_letter stock.entries "$E2" poison "$EV" \
  "{\"entry_id\":\"$E2\",\"event_id\":$EV,\"member_id\":\"${PREFIX}2\",\"submitted_at\":\"$NOW\",\"answers\":{\"q1\":\"no\"}}")" true
# Member 1's winner message, dead-lettered although it was sent.
W1=$(psql_q "SELECT json_build_object('entry_id', e.entry_id, 'event_id', e.event_id, 'member_id', e.member_id,
  'seq', e.seq, 'channel', n.channel, 'phone', m.phone, 'won_at', '$NOW')
  FROM entries e JOIN notifications n USING (event_id, member_id) JOIN members m USING (member_id)
  WHERE e.event_id=$EV AND e.member_id='${PREFIX}1'")
W1_ID=$(jq -r .entry_id <<<"$W1")
expect "winner dead-lettered" "$(dead_letter notify "$W1_ID" dead-letter "$EV" "$W1")" true
# Junk that cannot be routed back (no event id anywhere).
JUNK=$(uuid)
expect "junk dead-lettered" "$(dead_letter stock.entries "$JUNK" poison - 'not json')" true
mgmt_wait_depth stock.entries.dlq 2 || true
mgmt_wait_depth notify.dlq 1 || true

# status: the event's numbers plus every queue's depth (management API).
expect "status --json" "$(rc "$CTL" status "$EV" --json)" 0
cp "$T_DIR/out" "$T_DIR/status.json"
expect "status json: accepted, decided, won, sent" "$(jq -c '[.accepted, .decided, .won, .sent]' "$T_DIR/status.json")" "[2,1,1,1]"
expect "status json: stock.entries.dlq" "$(jq -c '.queues["stock.entries.dlq"]' "$T_DIR/status.json")" \
  '{"ready":2,"unacked":0,"consumers":0,"live":true}'
expect "status json: notify.dlq" "$(jq -c '.queues["notify.dlq"]' "$T_DIR/status.json")" \
  '{"ready":1,"unacked":0,"consumers":0,"live":true}'
expect "status json: every topology queue, by name" "$(jq -c '.queues | keys' "$T_DIR/status.json")" \
  "$(jq -c '[.queues[].name] | sort' "$GD_SOURCE_DIR/deploy/rabbitmq/definitions.json")"
expect "status json: stock.entries consumed by the stock-consumer" "$(jq '.queues["stock.entries"].consumers' "$T_DIR/status.json")" 1
expect "status table" "$(rc "$CTL" status "$EV")" 0
expect "status table: stock.entries.dlq line" \
  "$(grep -c -x -E '  queue stock.entries.dlq +ready +2  unacked +0  consumers 0' "$T_DIR/out")" 1
expect "status table: notify.dlq line" \
  "$(grep -c -x -E '  queue notify.dlq +ready +1  unacked +0  consumers 0' "$T_DIR/out")" 1
expect "status table: one line per queue" "$(grep -c -E '^  queue [a-z0-9.]+ +ready' "$T_DIR/out")" \
  "$(jq '.queues | length' "$GD_SOURCE_DIR/deploy/rabbitmq/definitions.json")"
expect "status table: says where the figures come from" \
  "$(grep -c -F '  (ready and consumers: now, from each queue; unacked: management API statistics' "$T_DIR/out")" 1
# Management API unreachable: the rest still shows, exit 0, the reason on stderr.
NOMGMT=(env RABBITMQ_MGMT_URL=http://127.0.0.1:9)
expect "status, no management API: exit 0" "$(rc "${NOMGMT[@]}" "$CTL" status "$EV")" 0
expect "status, no management API: the event's lines" "$(grep -c -x -E '  notifications +sent 1, failed 0, in progress 0' "$T_DIR/out")" 1
expect "status, no management API: no queue lines" "$(grep -c -E '^  queue [a-z0-9.]+ +ready' "$T_DIR/out" || true)" 0
expect "status, no management API: says so" "$(grep -c -E '^  queue depths +unavailable \(management API http://127.0.0.1:9' "$T_DIR/out")" 1
expect "status, no management API: reason on stderr" \
  "$(grep -c -F 'eventctl status: queue depths unavailable: management API http://127.0.0.1:9' "$T_DIR/err")" 1
expect "status --json, no management API: exit 0" "$(rc "${NOMGMT[@]}" "$CTL" status "$EV" --json)" 0
expect "status --json, no management API: rest, queues null, error" \
  "$(jq -c '[.sent, .queues, (.queues_error | startswith("management API http://127.0.0.1:9"))]' "$T_DIR/out")" "[1,null,true]"

expect "dlq list --json" "$(rc "$CTL" dlq list --json)" 0
cp "$T_DIR/out" "$T_DIR/list.json"
expect "list: stock.entries.dlq depth" "$(jq '.queues[] | select(.name=="stock.entries.dlq") | .ready' "$T_DIR/list.json")" 2
expect "list: notify.dlq depth" "$(jq '.queues[] | select(.name=="notify.dlq") | .ready' "$T_DIR/list.json")" 1
expect "list: every topology queue shown" "$(jq '[.queues[] | select(.exists)] | length' "$T_DIR/list.json")" \
  "$(jq '.queues | length' "$GD_SOURCE_DIR/deploy/rabbitmq/definitions.json")"
expect "list: the entry, its reason and where it goes back" \
  "$(jq -r --arg id "$E2" '.messages[] | select(.message_id==$id) | "\(.type) \(.reason) \(.replay_to)"' "$T_DIR/list.json")" \
  "poison test: poison event.entry.$EV"
expect "list: the winner goes back to its channel" \
  "$(jq -r --arg id "$W1_ID" '.messages[] | select(.message_id==$id) | .replay_to' "$T_DIR/list.json")" \
  "$(jq -r .channel <<<"$W1")"
expect "list: peeking left them in place" "$(rc "$CTL" dlq list stock --limit 1)" 0
expect "list: table output" "$(grep -c -E '^stock.entries.dlq +2 ' "$T_DIR/out")" 1

expect "replay stock: exit 1 (junk skipped)" "$(rc "$CTL" dlq replay stock.entries.dlq --json)" 1
expect "replay stock: counts" "$(jq -c '[.replayed, .skipped, .failed]' "$T_DIR/out")" "[1,1,0]"
expect "replay stock: says why junk stayed" "$(grep -c "$JUNK" "$T_DIR/err")" 1
expect "replay notify" "$(rc "$CTL" dlq replay notify)" 0
wait_drained "$EV" 30
expect "replayed entry decided by the stock-consumer" \
  "$(psql_q "SELECT outcome FROM entries WHERE event_id=$EV AND entry_id='$E2'")" won
sleep 1
expect "replayed winner not sent twice (provider)" \
  "$(curl -sf "$T_PROVIDER/records" | jq --arg k "$W1_ID" '[.[] | select(.result=="sent" and .idempotency_key==$k)] | length')" 1
expect "junk left in stock.entries.dlq" "$(mgmt_settled_depth stock.entries.dlq 1)" 1
expect "notify.dlq empty" "$(mgmt_settled_depth notify.dlq 0)" 0
# Take the junk out (the DLQs are shared).
mgmt -X POST -d '{"count":1,"ackmode":"ack_requeue_false","encoding":"auto"}' \
  "$MGMT_URL/api/queues/%2F/stock.entries.dlq/get" >/dev/null
"$CTL" reconcile "$EV" --final >"$T_DIR/reconcile.txt" && r=0 || r=$?
expect "reconcile --final after release and replay" "$r" 0

# ---- consumers as they are now ------------------------------------------------
# A second notifier attaches: the status taken right after counts it (the
# management API's statistics would show it only at their next refresh).
notify_start notifier2 PROVIDER_URL="$T_PROVIDER"
poll_until 20 grep -q '"consuming notify.kakao and notify.sms' "$T_DIR/notifier2.log" || true
"$CTL" status "$EV" --json >"$T_DIR/live.json"
expect "a consumer that just attached is counted (kakao, sms)" \
  "$(jq -c '[.queues["notify.kakao"].consumers, .queues["notify.sms"].consumers, .queues["notify.kakao"].live]' "$T_DIR/live.json")" \
  "[2,2,true]"
# shellcheck disable=SC2154 # set by start (lib.sh)
kill -TERM "$PID_notifier2"
wait "$PID_notifier2" 2>/dev/null || true
"$CTL" status "$EV" >"$T_DIR/live.txt"
expect "a consumer that just left is not counted" \
  "$(grep -c -x -E '  queue notify.kakao +ready +[0-9]+  unacked +[0-9]+  consumers 1' "$T_DIR/live.txt")" 1

# ---- sold out in PostgreSQL, and a status that adds up --------------------------
# stock 3, safety 1: 2 winnable; members 1 and 2 take them, member 3 is
# refused (sold out); 1 held-back unit released; member 3 takes it.
EV3=$(stock_event 3 1 4 "${PREFIX}so-")
enter() { http_status POST "/v1/events/$EV3/entries" "$("$CTL" token "${PREFIX}so-$1")" '{"answers":{"q1":"yes"}}'; }
for m in 1 2; do expect "sold-out event: member $m enters" "$(enter $m)" 202; done
wait_drained "$EV3" 30
coupon_line() { "$CTL" status "$EV3" | grep -E '^  coupons assigned' | sed -E 's/ +/ /g'; }
state_line() { "$CTL" status "$EV3" | head -n 1; }
expect "sold out: PostgreSQL's state follows Redis'" "$(state_line)" "event $EV3  state sold_out (redis: sold_out)"
expect "sold out: member 3 refused" "$(enter 3)" 410
expect "sold out: coupons line" "$(coupon_line)" " coupons assigned 2 of 3 (0 free, 1 held back)"
expect "release the held-back unit" "$(rc "$CTL" release-safety "$EV3" 1)" 0
expect "released: open again, in both" "$(state_line)" "event $EV3  state armed (redis: armed)"
expect "released: coupons line adds up" "$(coupon_line)" " coupons assigned 2 of 3 (1 free, 0 held back)"
# (until the entry-api instances heard the re-opening: a 410 records nothing)
entered3() { [ "$(enter 3)" == 202 ]; }
expect "member 3 enters once the re-opening is announced" "$(poll_until 10 entered3 && echo 202)" 202
wait_drained "$EV3" 30
expect "sold out again" "$(state_line)" "event $EV3  state sold_out (redis: sold_out)"
expect "sold out again: coupons line" "$(coupon_line)" " coupons assigned 3 of 3 (0 free, 0 held back)"
expect "sold out again: json coupons assigned/free/held" \
  "$("$CTL" status "$EV3" --json | jq -c '[.coupons_assigned, .coupons_free, .coupons_held, .state]')" '[3,0,0,"sold_out"]'
"$CTL" reconcile "$EV3" --final >"$T_DIR/reconcile3.txt" && r=0 || r=$?
expect "reconcile --final of the re-opened event" "$r" 0
finish
