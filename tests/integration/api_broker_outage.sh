#!/usr/bin/env bash
# api_broker_outage: RabbitMQ stopped in the middle of an open-loop burst
# (500 entries/s over 2 workers) and started again.  Counted exactly, with
# no consumer running: every entry_id answered 202 is a message in
# stock.entries after the restart, and every entry Redis holds has its
# message too (the rollbacks of the refused ones worked).  The API answered
# 503 while the broker was away and is ready again by itself.
source "$(dirname "$0")/../lib.sh"

P="bo$$-"
restore() {
  stack start rabbitmq || true
  mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true
}
purge_entries
at_exit 'restore'
start_api api "$T_API_PORT" WORKERS=2
EV=$(seed_event 0 100000 5000 "$P")

burst_bg "$EV" "$P" 5000 500 8 out
sleep 2
log "stopping RabbitMQ mid-burst"
stack stop rabbitmq
wait $LG
log "burst: $(cat "$T_DIR/out.json")"
stack start rabbitmq
expect "ready again by itself after the restart" "$(wait_status "$T_API/readyz" 200 60 >/dev/null && echo 200)" 200

awk '$2 == 202 {print $4}' "$T_DIR/out.txt" | sort -u >"$T_DIR/accepted"
ACC=$(wc -l <"$T_DIR/accepted")
REFUSED=$(awk '$2 == 503' "$T_DIR/out.txt" | wc -l)
expect "some entries accepted before the stop" "$([ "$ACC" -gt 0 ] && echo yes || echo no)" yes
expect "503 while the broker was away" "$([ "$REFUSED" -gt 0 ] && echo yes || echo no)" yes
expect "answers other than 202/503" "$(awk '$2 != 202 && $2 != 503' "$T_DIR/out.txt" | wc -l)" 0

drain_queue stock.entries "$T_DIR/ids"
sort -u "$T_DIR/ids" >"$T_DIR/ids.sorted"
MISSING=$(comm -23 "$T_DIR/accepted" "$T_DIR/ids.sorted" | wc -l)
expect "202 answers whose message is not in the queue" "$MISSING" 0
redis_q HVALS "ev:{$EV}:entries" | sort -u >"$T_DIR/redis_ids"
expect "entries in Redis without a message" "$(comm -23 "$T_DIR/redis_ids" "$T_DIR/ids.sorted" | wc -l)" 0
log "accepted=$ACC refused=$REFUSED messages=$(wc -l <"$T_DIR/ids") distinct=$(wc -l <"$T_DIR/ids.sorted") redis_entries=$(wc -l <"$T_DIR/redis_ids")"
finish
