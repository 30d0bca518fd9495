#!/usr/bin/env bash
# stock_rearm: `eventctl rearm` rebuilds an event's Redis state from
# PostgreSQL after Redis lost it, and the stock-consumer waits for it.
#
#   1. 60 entries decided and notified (100 winnable).  rearm refuses while
#      the event's meta exists.  The event's keys are deleted (Redis lost
#      them); an entry accepted just before the loss is still in the queue:
#      the stock-consumer holds it (no outcome row, nothing dead-lettered)
#      instead of calling the event unknown.  rearm: the held entry is
#      decided with the next rank (61); winners, losers, entries, notified,
#      eligible, survey and meta equal what Redis held (plus that entry),
#      stock is 100 - 61, every key expires.
#   2. 60 more entries: ranks 62..100, 21 losers, sold_out.  Keys deleted
#      again, rearm: every key equal to before (stock 0, state sold_out,
#      last rank 100); rearm --force rebuilds the same again; reconcile
#      --final clean; one more entry loses.
#   Each rearm publishes the rebuilt state on ev:{id}:state (open, then
#   sold_out), so entry-api instances drop or take up their 410 from memory.
source "$(dirname "$0")/../lib.sh"

STOCK=110 SAFETY=10 PREFIX="ra$$-"
WINNABLE=$((STOCK - SAFETY))
export LOG_LEVEL=warn

no_foreign_consumers
start provider "$BIN_PROVIDER" --listen "127.0.0.1:$T_PROVIDER_PORT" --latency-ms 1 --jitter-ms 1
wait_http "$T_PROVIDER/healthz" 15
PROVIDER_URL="$T_PROVIDER" start notifier "$BIN_NOTIFIER"
stock_consumer stock
EV=$(stock_event $STOCK $SAFETY 300 "$PREFIX")
SFX="meta survey stock entries winners losers notified eligible"

# snapshot DIR: every key of the event, in a comparable form
snapshot() {
  mkdir -p "$1"
  redis_q HGETALL "ev:{$EV}:meta" | paste - - | sort >"$1/meta"
  redis_q GET "ev:{$EV}:survey" >"$1/survey"
  redis_q GET "ev:{$EV}:stock" >"$1/stock"
  for h in entries winners notified; do redis_q HGETALL "ev:{$EV}:$h" | paste - - | sort >"$1/$h"; done
  for s in losers eligible; do redis_q SMEMBERS "ev:{$EV}:$s" | sort >"$1/$s"; done
}
same() { diff -q "$1/$3" "$2/$3" >/dev/null && echo same || echo "different ($(diff "$1/$3" "$2/$3" | head -3 | tr '\n' ' '))"; }
lose_redis_state() { for s in $SFX; do redis_q DEL "ev:{$EV}:$s" >/dev/null; done; }
# listen FILE: a subscriber to the event's state channel (pid in LISTENER)
listen() {
  redis-cli -h 127.0.0.1 -p 6379 SUBSCRIBE "ev:{$EV}:state" >"$1" & # not redis_q: $! is redis-cli
  LISTENER=$!
  poll_until 5 grep -q '^subscribe$' "$1"
}
# heard FILE: the messages the subscriber got, space-separated
heard() {
  sleep 0.5
  kill "$LISTENER" 2>/dev/null || true
  wait "$LISTENER" 2>/dev/null || true
  awk 'prev == "message" {getline; print} {prev = $0}' "$1" | tr '\n' ' ' | sed 's/ $//'
}
feed() { "$BIN_FEED" publish --event "$EV" --prefix "$PREFIX" "$@" >/dev/null; }

# --- 1. lost after 60 winners, one entry in flight -----------------------------
feed --count 60
stock_wait_rows "$EV" 60 60
stock_wait_settled "$EV" 60
snapshot "$T_DIR/s1"
LOG_LEVEL=warn "$BIN_CTL" rearm "$EV" >/dev/null 2>"$T_DIR/refused.txt" && rc=0 || rc=$?
expect "rearm while the meta exists: refused" "$rc" 1
lose_redis_state
feed --count 1 --first 61 --no-redis # accepted before the loss: in the queue only
sleep 3
expect "held entry: no outcome row yet" "$(stock_rows "$EV")" 60
mgmt_dlq_get "$T_DIR/dlq.json"
expect "held entry: not dead-lettered" "$(mgmt_dlq_count "$T_DIR/dlq.json" "$EV")" 0
expect "the consumer says it waits for a rearm" \
  "$(grep -q 'until `eventctl rearm' "$T_DIR/stock.log" && echo yes || echo no)" yes
listen "$T_DIR/sub1.txt"
LOG_LEVEL=warn "$BIN_CTL" rearm "$EV" >"$T_DIR/rearm1.txt" && rc=0 || rc=$?
cat "$T_DIR/rearm1.txt"
expect "rearm exit code" "$rc" 0
expect "rearm published the state" "$(heard "$T_DIR/sub1.txt")" open
stock_wait_rows "$EV" 61 30
stock_wait_settled "$EV" 30
expect "held entry decided with the next rank" \
  "$(psql_q "SELECT outcome || ' ' || seq FROM entries WHERE event_id=$EV AND member_id='${PREFIX}61'")" "won 61"
snapshot "$T_DIR/r1"
# What Redis held, plus the entry decided since.
cp -r "$T_DIR/s1" "$T_DIR/w1"
grep -v -E '^(last_seq|state)' "$T_DIR/s1/meta" >"$T_DIR/w1/meta"
printf 'last_seq\t61\nstate\tarmed\n' >>"$T_DIR/w1/meta"
sort -o "$T_DIR/w1/meta" "$T_DIR/w1/meta"
echo $((WINNABLE - 61)) >"$T_DIR/w1/stock"
ENTRY61=$(psql_q "SELECT entry_id FROM entries WHERE event_id=$EV AND member_id='${PREFIX}61'")
printf '%s\t%s\n' "${PREFIX}61" "$ENTRY61" >>"$T_DIR/w1/entries"
printf '%s\t61\n' "${PREFIX}61" >>"$T_DIR/w1/winners"
printf '%s\tsent\n' "${PREFIX}61" >>"$T_DIR/w1/notified"
for f in entries winners notified; do sort -o "$T_DIR/w1/$f" "$T_DIR/w1/$f"; done
for f in $SFX; do expect "rebuilt $f" "$(same "$T_DIR/w1" "$T_DIR/r1" $f)" same; done
expect "keys without an expiry" \
  "$(for s in $SFX; do redis_q PTTL "ev:{$EV}:$s"; done | awk '$1 == -1' | wc -l)" 0

# --- 2. sold out, lost again --------------------------------------------------
feed --count 60 --first 62
stock_wait_rows "$EV" 121 60
stock_wait_settled "$EV" 60
expect "winners" "$(stock_rows "$EV" "outcome='won'")" $WINNABLE
snapshot "$T_DIR/s2"
expect "sold out before the loss" "$(grep -c $'^state\tsold_out$' "$T_DIR/s2/meta")" 1
lose_redis_state
listen "$T_DIR/sub2.txt"
LOG_LEVEL=warn "$BIN_CTL" rearm "$EV" >"$T_DIR/rearm2.txt" && rc=0 || rc=$?
cat "$T_DIR/rearm2.txt"
expect "rearm exit code" "$rc" 0
expect "rearm after sold out published the state" "$(heard "$T_DIR/sub2.txt")" sold_out
snapshot "$T_DIR/r2"
for f in $SFX; do expect "rebuilt after sold out: $f" "$(same "$T_DIR/s2" "$T_DIR/r2" $f)" same; done
LOG_LEVEL=warn "$BIN_CTL" rearm "$EV" --force >/dev/null && rc=0 || rc=$?
expect "rearm --force exit code" "$rc" 0
snapshot "$T_DIR/r3"
for f in $SFX; do expect "rebuilt by --force: $f" "$(same "$T_DIR/s2" "$T_DIR/r3" $f)" same; done
LOG_LEVEL=warn "$BIN_CTL" reconcile "$EV" --final >"$T_DIR/reconcile.txt" && rc=0 || rc=$?
cat "$T_DIR/reconcile.txt"
expect "reconcile --final exit code" "$rc" 0
feed --count 1 --first 122
stock_wait_rows "$EV" 122 30
expect "an entry after the sell-out" \
  "$(psql_q "SELECT outcome FROM entries WHERE event_id=$EV AND member_id='${PREFIX}122'")" lost
finish
