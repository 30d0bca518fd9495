#!/usr/bin/env bash
# stock_poison: bad messages are dead-lettered with a reason and never block
# the good ones.
#
#   5,000 messages, 1 % poison (bad JSON, missing field, wrong type, unknown
#   event, bad UUID, answers not an object, bad member id, not an object),
#   with 20 entries of a "ghost" event in the middle: armed in Redis but
#   unknown to PostgreSQL, so their outcome rows break the foreign key.
#   Expected: every one of the 50 poison and 20 ghost messages in
#   stock.entries.dlq with an x-reason (read through the management API),
#   the ghost ones naming the foreign key; every good entry decided (rows
#   == good entries, lost 0) although ghost rows shared their batches.
#   Then the delivery limit: a message whose consumer dies holding it
#   (gd-stock-feed bounce, 6 times) ends in the DLQ, dead-lettered by the
#   broker (x-death reason delivery_limit), not looping in stock.entries.
source "$(dirname "$0")/../lib.sh"

HALF=2500 POISON_EVERY=100 GHOSTS=20 STOCK=110 SAFETY=10
POISON=$((2 * HALF / POISON_EVERY))
GOOD=$((2 * HALF - POISON))
PREFIX="psn$$-"
GHOST=$((9100000000 + $$))
export LOG_LEVEL=warn

no_foreign_consumers
start provider "$BIN_PROVIDER" --listen "127.0.0.1:$T_PROVIDER_PORT" --latency-ms 1 --jitter-ms 1
wait_http "$T_PROVIDER/healthz" 15
PROVIDER_URL="$T_PROVIDER" start notifier "$BIN_NOTIFIER"
EV=$(stock_event $STOCK $SAFETY $((2 * HALF)) "$PREFIX")
redis_q DEL "ev:{$GHOST}:meta" "ev:{$GHOST}:stock" "ev:{$GHOST}:winners" "ev:{$GHOST}:losers" "ev:{$GHOST}:entries" >/dev/null
redis_q HSET "ev:{$GHOST}:meta" winnable 5 state armed >/dev/null
redis_q SET "ev:{$GHOST}:stock" 5 >/dev/null

# Queue order: good+poison, the ghost block, good+poison; then the consumer starts.
"$BIN_FEED" publish --event "$EV" --count $HALF --prefix "$PREFIX" --poison-every $POISON_EVERY \
  --out "$T_DIR/ok-1.txt" >"$T_DIR/publish-1.json"
"$BIN_FEED" publish --event "$GHOST" --count $GHOSTS --prefix "ghost-" --no-redis >"$T_DIR/publish-ghost.json"
"$BIN_FEED" publish --event "$EV" --count $HALF --first $((HALF + 1)) --prefix "$PREFIX" \
  --poison-every $POISON_EVERY --out "$T_DIR/ok-2.txt" >"$T_DIR/publish-2.json"
cat "$T_DIR/ok-1.txt" "$T_DIR/ok-2.txt" >"$T_DIR/ok.txt"
expect "good entries confirmed" "$(wc -l <"$T_DIR/ok.txt")" $GOOD
stock_consumer stock
stock_wait_rows "$EV" $GOOD 60 || true
stock_wait_settled "$EV" 60 || true
mgmt_wait_depth stock.entries 0 20 || true
expect "outcome rows (every good entry)" "$(stock_rows "$EV")" $GOOD
expect "lost good entries" "$(stock_missing "$EV" "$T_DIR/ok.txt")" 0
expect "winners" "$(stock_rows "$EV" "outcome='won'")" $((STOCK - SAFETY))
expect "ghost rows in PostgreSQL" "$(psql_q "SELECT count(*) FROM entries WHERE event_id=$GHOST")" 0

mgmt_wait_depth stock.entries.dlq $((POISON + GHOSTS)) 20 || true
mgmt_dlq_get "$T_DIR/dlq.json"
SEL="[.[] | select(.properties.headers[\"x-event-id\"] == $EV)]"
GSEL="[.[] | select(.properties.headers[\"x-event-id\"] == $GHOST)]"
expect "poison messages in the DLQ" "$(mgmt_dlq_count "$T_DIR/dlq.json" "$EV")" $POISON
expect "poison messages with an x-reason" \
  "$(jq "$SEL | map(select((.properties.headers[\"x-reason\"] // \"\") != \"\")) | length" "$T_DIR/dlq.json")" $POISON
jq -r "$SEL | .[].properties.headers[\"x-reason\"]" "$T_DIR/dlq.json" | sort | uniq -c >"$T_DIR/reasons.txt"
log "poison reasons:"
cat "$T_DIR/reasons.txt"
expect "distinct poison reasons (8 kinds, two of them 'not a JSON object')" "$(wc -l <"$T_DIR/reasons.txt")" 7
expect "unknown event named" "$(grep -c 'unknown event 8' "$T_DIR/reasons.txt")" 1
expect "ghost entries in the DLQ" "$(mgmt_dlq_count "$T_DIR/dlq.json" "$GHOST")" $GHOSTS
expect "ghost entries whose x-reason names the foreign key" \
  "$(jq "$GSEL | map(select(.properties.headers[\"x-reason\"] | test(\"foreign key\"))) | length" "$T_DIR/dlq.json")" $GHOSTS

# The delivery limit: a consumer that dies holding a message, again and again.
kill -TERM "$PID_stock"
wait "$PID_stock" 2>/dev/null || true
"$BIN_FEED" publish --event "$EV" --count 1 --prefix "limit$$-" --no-redis >/dev/null
"$BIN_FEED" bounce --times 7 >"$T_DIR/bounce.txt"
cat "$T_DIR/bounce.txt"
expect "deliveries before the broker dead-lettered it (limit 5: 1 + 5 redeliveries)" \
  "$(grep -c 'x-delivery-count' "$T_DIR/bounce.txt")" 6
expect "left in stock.entries" "$(mgmt_settled_depth stock.entries 0)" 0
mgmt_dlq_get "$T_DIR/dlq2.json"
expect "the crashing message in the DLQ, by the delivery limit" \
  "$(jq -r "$SEL | map(select(.properties.headers[\"x-death\"][0].reason == \"delivery_limit\")) | length" "$T_DIR/dlq2.json")" 1

# Leave the shared DLQ as we found it; the ghost's Redis keys go too.
stock_dlq_take "$EV"
stock_dlq_take "$GHOST"
redis_q DEL "ev:{$GHOST}:meta" "ev:{$GHOST}:stock" "ev:{$GHOST}:winners" "ev:{$GHOST}:losers" "ev:{$GHOST}:entries" >/dev/null
LOG_LEVEL=warn "$BIN_CTL" reconcile "$EV" --final >"$T_DIR/reconcile.txt" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || cat "$T_DIR/reconcile.txt"
expect "reconcile --final exit code" "$rc" 0
finish
