#!/usr/bin/env bash
# stock_compete: one, two and three stock-consumer instances competing on
# stock.entries give exactly the same counts.
#
# For each instance count a fresh event: 3,000 members for 200 winnable,
# every 10th member published twice with the same entry_id (entry-api's
# repeat republish), all pre-filled before the consumers start together
# with small batches (BATCH_SIZE=50, prefetch 100) so their deliveries
# interleave.  Per run: outcome rows, winners, losers, highest rank,
# duplicate ranks, lost entries, dead letters; every run must equal the
# expected line, every instance must have decided a share, and reconcile
# --final must be clean.
source "$(dirname "$0")/../lib.sh"

N=3000 STOCK=210 SAFETY=10 REPEAT=10
WINNABLE=$((STOCK - SAFETY))
export LOG_LEVEL=warn
WANT="rows=$N won=$WINNABLE lost=$((N - WINNABLE)) max_rank=$WINNABLE dup_ranks=0 missing=0"

no_foreign_consumers
start provider "$BIN_PROVIDER" --listen "127.0.0.1:$T_PROVIDER_PORT" --latency-ms 1 --jitter-ms 1
wait_http "$T_PROVIDER/healthz" 15
PROVIDER_URL="$T_PROVIDER" start notifier "$BIN_NOTIFIER"

EVENTS=()
for K in 1 2 3; do
  EV=$(stock_event $STOCK $SAFETY $N "cmp$$-$K-")
  EVENTS+=("$EV")
  "$BIN_FEED" publish --event "$EV" --count $N --prefix "cmp$$-$K-" --repeat-every $REPEAT \
    --out "$T_DIR/confirmed-$K.txt" >"$T_DIR/publish-$K.json"
  expect "run $K: entries confirmed" "$(wc -l <"$T_DIR/confirmed-$K.txt")" $N
  PIDS=()
  for i in $(seq 1 $K); do
    stock_consumer "stock-$K-$i" BATCH_SIZE=50 AMQP_PREFETCH=100 LOG_LEVEL=info
    PIDS+=("$!")
  done
  t0=$(date +%s%3N)
  stock_wait_rows "$EV" $N 120 || true
  log "run $K: $N entries (+$((N / REPEAT)) repeats) decided by $K instance(s) in $(($(date +%s%3N) - t0)) ms"
  stock_wait_settled "$EV" 120 || true
  mgmt_wait_depth stock.entries 0 20 || true
  for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  SHARES=""
  for i in $(seq 1 $K); do
    d=$(grep -o '"msg":"stopping: decided [0-9]*' "$T_DIR/stock-$K-$i.log" | grep -o '[0-9]*$' || echo 0)
    SHARES="$SHARES $d"
    [ "$d" -gt 0 ] || { T_FAILS=$((T_FAILS + 1)); log "FAIL instance $i of $K decided nothing"; }
  done
  GOT="rows=$(stock_rows "$EV") won=$(stock_rows "$EV" "outcome='won'") lost=$(stock_rows "$EV" "outcome='lost'")"
  GOT="$GOT max_rank=$(psql_q "SELECT coalesce(max(seq), 0) FROM entries WHERE event_id=$EV")"
  GOT="$GOT dup_ranks=$(stock_dup_seq "$EV") missing=$(stock_missing "$EV" "$T_DIR/confirmed-$K.txt")"
  log "run $K: $GOT; deliveries decided per instance:$SHARES"
  expect "run $K: counts" "$GOT" "$WANT"
  eval "COUNTS_$K=\"\$GOT\""
  LOG_LEVEL=warn "$BIN_CTL" reconcile "$EV" --final >"$T_DIR/reconcile-$K.txt" && rc=0 || rc=$?
  [ "$rc" -eq 0 ] || cat "$T_DIR/reconcile-$K.txt"
  expect "run $K: reconcile --final exit code" "$rc" 0
done
expect "two instances count like one" "$COUNTS_2" "$COUNTS_1"
expect "three instances count like one" "$COUNTS_3" "$COUNTS_1"
mgmt_dlq_get "$T_DIR/dlq.json"
for K in 1 2 3; do
  expect "run $K: dead-lettered" "$(mgmt_dlq_count "$T_DIR/dlq.json" "${EVENTS[K - 1]}")" 0
done
finish
