#!/usr/bin/env bash
# stock_claim: the claim script's edge cases, EVAL'd straight from
# common/scripts/claim.lua against the real Redis (scratch event ids that
# PostgreSQL does not know, deleted afterwards), plus the safety stock of a
# real event armed by eventctl.
#
#   last unit: ranks 1..3, the third flips meta state to sold_out and is
#     published once on ev:{id}:state; every answer carries the stock left
#     (0 tells the stock-consumer the event sold out); stock never goes below 0
#   repeat member: same rank again (a winner), lost again (a loser), nothing written
#   entries hash: a decided entry is in it (healed after a rearm), the gate's id kept
#   zero stock: lost, no state change, nothing published
#   unknown event: unknown_event, nothing written
#   closed event: the last unit does not turn `closed` into `sold_out`
#   rank after a rearm with a gap (last_seq 7, 3 units left): next rank 8
#   concurrency: 4 clients x 60 members race for 100 units: exactly 100
#     winners with ranks 1..100, 140 losers, one sold_out message
#   safety stock: an event of 5 with 2 held back wins exactly 3
source "$(dirname "$0")/../lib.sh"

SCRIPT=$(cat "$GD_SOURCE_DIR/common/scripts/claim.lua")
BASE=$((900000000 + ($$ % 100000) * 10))

keys() { echo "ev:{$1}:meta" "ev:{$1}:stock" "ev:{$1}:winners" "ev:{$1}:losers" "ev:{$1}:entries"; }
# claim EVENT MEMBER: "won 3 LEFT", "lost 0 LEFT" or "unknown_event 0 0" (LEFT: stock after it)
claim() {
  # shellcheck disable=SC2046
  redis_q EVAL "$SCRIPT" 5 $(keys "$1") "$2" "$1" "e-$2" | paste -sd' '
}
# scratch EVENT WINNABLE STOCK [STATE]: an armed event's claim keys, by hand
scratch() {
  redis_q DEL $(keys "$1") >/dev/null
  redis_q HSET "ev:{$1}:meta" winnable "$2" state "${4:-armed}" >/dev/null
  redis_q SET "ev:{$1}:stock" "$3" >/dev/null
}
published() { grep -c '^sold_out$' "$T_DIR/sub-$1.log" || true; }
subscribe() {
  start "sub-$1" redis-cli -h 127.0.0.1 -p 6379 SUBSCRIBE "ev:{$1}:state"
  for _ in $(seq 1 50); do grep -q '^subscribe$' "$T_DIR/sub-$1.log" 2>/dev/null && return 0; sleep 0.1; done
  log "subscription to ev:{$1}:state did not start"
  return 1
}

# --- last unit, repeats ------------------------------------------------------
EV=$BASE
scratch $EV 3 3
subscribe $EV
expect "first claim" "$(claim $EV a)" "won 1 2"
expect "second claim" "$(claim $EV b)" "won 2 1"
expect "stock before the last unit" "$(redis_q GET "ev:{$EV}:stock")" 1
expect "state before the last unit" "$(redis_q HGET "ev:{$EV}:meta" state)" armed
expect "last unit: stock left 0" "$(claim $EV c)" "won 3 0"
expect "state after the last unit" "$(redis_q HGET "ev:{$EV}:meta" state)" sold_out
expect "after the last unit" "$(claim $EV d)" "lost 0 0"
expect "stock never below zero" "$(redis_q GET "ev:{$EV}:stock")" 0
expect "repeat winner, same rank, the stock as it is now" "$(claim $EV b)" "won 2 0"
expect "repeat loser" "$(claim $EV d)" "lost 0 0"
expect "winners" "$(redis_q HLEN "ev:{$EV}:winners")" 3
expect "losers" "$(redis_q SCARD "ev:{$EV}:losers")" 1
expect "rank counter" "$(redis_q HGET "ev:{$EV}:meta" last_seq)" 3
expect "a decided entry is in the entries hash" "$(redis_q HGET "ev:{$EV}:entries" a)" e-a
redis_q HSET "ev:{$EV}:entries" x e-accepted-first >/dev/null
claim $EV x >/dev/null
expect "the gate's entry_id is kept" "$(redis_q HGET "ev:{$EV}:entries" x)" e-accepted-first
sleep 0.3
expect "sold_out messages on ev:{id}:state" "$(published $EV)" 1

# --- zero stock --------------------------------------------------------------
EV=$((BASE + 1))
scratch $EV 5 0
subscribe $EV
expect "zero stock" "$(claim $EV a)" "lost 0 0"
expect "zero stock leaves the state alone" "$(redis_q HGET "ev:{$EV}:meta" state)" armed
expect "zero stock: no winner" "$(redis_q HLEN "ev:{$EV}:winners")" 0
sleep 0.3
expect "zero stock: nothing published" "$(published $EV)" 0

# --- unknown event -----------------------------------------------------------
EV=$((BASE + 2))
redis_q DEL $(keys $EV) >/dev/null
expect "unknown event" "$(claim $EV a)" "unknown_event 0 0"
expect "unknown event: nothing written" "$(redis_q EXISTS $(keys $EV))" 0

# --- closed event ------------------------------------------------------------
EV=$((BASE + 3))
scratch $EV 2 1 closed
redis_q HSET "ev:{$EV}:meta" last_seq 1 >/dev/null
subscribe $EV
expect "closed event, last unit (accepted before the close)" "$(claim $EV a)" "won 2 0"
expect "closed stays closed" "$(redis_q HGET "ev:{$EV}:meta" state)" closed
sleep 0.3
expect "closed: nothing published" "$(published $EV)" 0

# --- rank after a rearm with a gap -------------------------------------------
EV=$((BASE + 4))
scratch $EV 10 3
redis_q HSET "ev:{$EV}:meta" last_seq 7 >/dev/null
expect "rank follows last_seq, not the stock" "$(claim $EV a)" "won 8 2"
expect "stock after" "$(redis_q GET "ev:{$EV}:stock")" 2

# --- concurrency -------------------------------------------------------------
EV=$((BASE + 5))
scratch $EV 100 100
subscribe $EV
SHA=$(redis_q SCRIPT LOAD "$SCRIPT")
RACERS=()
for c in 1 2 3 4; do
  (for i in $(seq 1 60); do
    # shellcheck disable=SC2046
    echo "EVALSHA $SHA 5 $(keys $EV) c$c-$i $EV e-c$c-$i"
  done | redis_q >"$T_DIR/race-$c.txt") &
  RACERS+=($!)
done
wait "${RACERS[@]}"
expect "race: winners" "$(redis_q HLEN "ev:{$EV}:winners")" 100
expect "race: losers" "$(redis_q SCARD "ev:{$EV}:losers")" 140
expect "race: ranks 1..100, each once" \
  "$(redis_q HVALS "ev:{$EV}:winners" | sort -n | uniq | paste -sd, | md5sum)" "$(seq 1 100 | paste -sd, | md5sum)"
expect "race: won answers" "$(cat "$T_DIR"/race-*.txt | grep -c '^won$')" 100
expect "race: stock" "$(redis_q GET "ev:{$EV}:stock")" 0
sleep 0.3
expect "race: sold_out messages" "$(published $EV)" 1

for i in 0 1 2 3 4 5; do redis_q DEL $(keys $((BASE + i))) >/dev/null; done

# --- safety stock through eventctl arm ---------------------------------------
EV=$(new_event 0 5 2 2>/dev/null)
LOG_LEVEL=warn "$BIN_CTL" arm "$EV" >/dev/null
expect "armed winnable = stock_total - safety_stock" "$(redis_q HGET "ev:{$EV}:meta" winnable)" 3
expect "armed stock" "$(redis_q GET "ev:{$EV}:stock")" 3
OUT=""
for m in s1 s2 s3 s4 s5; do OUT="$OUT$(claim "$EV" $m | cut -d' ' -f1) "; done
expect "5 claims for 5 coupons with 2 held back" "$OUT" "won won won lost lost "
expect "safety stock untouched" "$(redis_q GET "ev:{$EV}:stock")" 0
finish
