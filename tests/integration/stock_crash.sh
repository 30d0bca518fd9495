#!/usr/bin/env bash
# stock_crash: the stock-consumer under fire.  Entries arrive in bursts
# (published straight to the broker, the gate's Redis write first, with
# confirms; a lost connection republishes the unconfirmed ones with the same
# entry_id), one burst per kill: while the consumer drains a burst it is
# SIGKILLed at a random moment and restarted, and RabbitMQ, Redis (AOF
# everysec, graceful restart) and PostgreSQL are each restarted once while a
# burst is in flight.  A notifier and the fake provider settle the winners.
#
#   default:    4,000 entries,   300 winnable,  5 kills  (CI size)
#   GD_SOAK=1: 20,000 entries, 1,000 winnable, 10 kills  (the issue's size)
#
# At the end, counted exactly and printed: lost 0 (every confirmed entry has
# its outcome row), one row per member, winners == winnable with ranks
# 1..winnable each once (oversold 0, duplicate winners 0), nothing of the
# event dead-lettered (kills must not burn the delivery limit of good
# entries), one coupon and one send per winner, work queues empty,
# reconcile --final clean, no sanitizer report.  The redeliveries the
# consumers saw are printed: the proof that kills landed mid-batch.
source "$(dirname "$0")/../lib.sh"

if [ "${GD_SOAK:-0}" = 1 ]; then
  N=20000 STOCK=1010 SAFETY=10 KILLS=10 RMQ_AT=3 REDIS_AT=6 PG_AT=8
else
  N=4000 STOCK=310 SAFETY=10 KILLS=5 RMQ_AT=2 REDIS_AT=3 PG_AT=4
fi
WINNABLE=$((STOCK - SAFETY))
PREFIX="crash$$-"
export LOG_LEVEL=warn # the consumers' logs: warnings (held batches, reconnects) and errors

no_foreign_consumers
start provider "$BIN_PROVIDER" --listen "127.0.0.1:$T_PROVIDER_PORT" --latency-ms 2 --jitter-ms 1 \
  --record "$T_DIR/provider.jsonl"
wait_http "$T_PROVIDER/healthz" 15
PROVIDER_URL="$T_PROVIDER" start notifier "$BIN_NOTIFIER"
EV=$(stock_event $STOCK $SAFETY $N "$PREFIX")
log "event $EV: $N entries in $KILLS bursts for $WINNABLE winnable; $KILLS kills, restarts of" \
  "rabbitmq (burst $RMQ_AT), redis ($REDIS_AT), postgres ($PG_AT)"
stock_consumer stock LOG_LEVEL=info

restart() {
  local t0=$SECONDS
  stack restart "$1" || true
  log "$1 restarted in $((SECONDS - t0))s"
}
# wait_consuming: until the current stock-consumer process said it consumes
wait_consuming() {
  for _ in $(seq 1 100); do
    grep -q "\"pid\":$PID_stock,.*\"consuming stock.entries" "$T_DIR/stock.log" && return 0
    sleep 0.1
  done
  log "stock-consumer $PID_stock: not consuming after 10 s"
}
PER=$((N / KILLS))
feed_rc=0
for k in $(seq 1 $KILLS); do
  # A burst at full speed; the bursts that see a restart are spread over
  # 10 s, so that entries are still flowing while the component is down.
  PACE=()
  [ "$k" -eq $RMQ_AT ] || [ "$k" -eq $REDIS_AT ] || [ "$k" -eq $PG_AT ] && PACE=(--rate $((PER / 10)))
  # Kill a consumer that is working, not one still starting up.
  wait_consuming
  "$BIN_FEED" publish --event "$EV" --count $PER --first $(((k - 1) * PER + 1)) --prefix "$PREFIX" \
    --window 500 "${PACE[@]}" --out "$T_DIR/confirmed-$k.txt" >"$T_DIR/publish-$k.json" 2>>"$T_DIR/feed.log" &
  FEED=$!
  # A random moment while the burst is being published and drained.
  sleep "$(awk -v r=$((RANDOM % 280 + 20)) 'BEGIN{print r/1000}')"
  kill -KILL "$PID_stock"
  wait "$PID_stock" 2>/dev/null || true
  log "burst $k: stock-consumer $PID_stock SIGKILLed after $(stock_rows "$EV") rows"
  stock_consumer stock LOG_LEVEL=info
  [ "$k" -eq $RMQ_AT ] && restart rabbitmq
  [ "$k" -eq $REDIS_AT ] && restart redis
  [ "$k" -eq $PG_AT ] && restart postgres
  wait $FEED || feed_rc=$?
  log "burst $k: $(jq -c '{confirmed, republished, reconnects}' "$T_DIR/publish-$k.json")"
done
expect "publisher exit codes (every entry confirmed)" "$feed_rc" 0
cat "$T_DIR"/confirmed-*.txt >"$T_DIR/confirmed.txt"
CONFIRMED=$(wc -l <"$T_DIR/confirmed.txt")
expect "entries confirmed by the broker" "$CONFIRMED" $N

stock_wait_rows "$EV" "$CONFIRMED" 180 || true
stock_wait_settled "$EV" 180 || true
ROWS=$(stock_rows "$EV")
WON=$(stock_rows "$EV" "outcome='won'")
LOST=$(stock_missing "$EV" "$T_DIR/confirmed.txt")
DUP_SEQ=$(stock_dup_seq "$EV")
MAX_SEQ=$(psql_q "SELECT coalesce(max(seq), 0) FROM entries WHERE event_id=$EV")
OVERSOLD=$((WON > WINNABLE ? WON - WINNABLE : 0))
expect "lost (confirmed entries without an outcome row)" "$LOST" 0
expect "outcome rows (one per member)" "$ROWS" $N
expect "winners" "$WON" $WINNABLE
expect "oversold" "$OVERSOLD" 0
expect "duplicate winner ranks" "$DUP_SEQ" 0
expect "highest rank (ranks 1..winnable, no gap)" "$MAX_SEQ" $WINNABLE
expect "coupons handed out" "$(psql_q "SELECT count(member_id) FROM coupons WHERE event_id=$EV")" $WINNABLE
curl -sf "$T_PROVIDER/records" >"$T_DIR/records.json"
SENT=$(jq '[.[] | select(.result == "sent")] | length' "$T_DIR/records.json")
SENT_KEYS=$(jq -r '.[] | select(.result == "sent") | .idempotency_key' "$T_DIR/records.json" | sort -u | wc -l)
expect "distinct winners sent a coupon" "$SENT_KEYS" $WINNABLE
expect "second sends to a winner" "$((SENT - SENT_KEYS))" 0

mgmt_wait_depth stock.entries 0 20 || true
mgmt_dlq_get "$T_DIR/dlq.json"
DLQ=$(mgmt_dlq_count "$T_DIR/dlq.json" "$EV")
expect "entries of the event dead-lettered" "$DLQ" 0
for q in stock.entries notify.kakao notify.sms; do
  expect "messages left in $q" "$(mgmt_settled_depth $q 0)" 0
done
LOG_LEVEL=warn "$BIN_CTL" reconcile "$EV" --final >"$T_DIR/reconcile.txt" && rc=0 || rc=$?
cat "$T_DIR/reconcile.txt"
expect "reconcile --final exit code" "$rc" 0
HELD=$(cat "$T_DIR"/stock.log | grep -c '"batch of [0-9]* held' || true)
BACK=$(cat "$T_DIR"/stock.log | grep -c 'given back to the broker' || true)
AGAIN=$(cat "$T_DIR"/stock.log | grep -o '[0-9]* of them redelivered' | awk '{s += $1} END {print s + 0}')
log "counts: confirmed=$CONFIRMED rows=$ROWS winners=$WON lost=$LOST oversold=$OVERSOLD" \
  "duplicate_ranks=$DUP_SEQ dead_lettered=$DLQ sends=$SENT kills=$KILLS redelivered=$AGAIN" \
  "batches_held_and_retried=$HELD batches_given_back=$BACK"
[ "$DLQ" -eq 0 ] || stock_dlq_take "$EV"
finish
