#!/usr/bin/env bash
# api_soldout: sold-out and closed answered from memory (DESIGN §5).  Once
# ev:{id}:state announces sold_out (or closed), a burst of 2,000 POSTs over
# 2 workers is answered 410 without one Redis gate/read command (INFO
# commandstats unchanged) and without one message to the broker.  A
# restarted instance learns the state on start (a scan of the events' meta
# hashes: not one gate call for its first requests);
# an "open" announcement makes it ask the gate again.
source "$(dirname "$0")/../lib.sh"

P="so$$-"
purge_entries
at_exit 'mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true'
start_api api "$T_API_PORT" WORKERS=2
EV=$(seed_event 0 100 50 "$P")
burst() { # EVENT N OUT: N posts by N members, 64 at a time
  "$BIN_LOADGEN" --url "$T_API" --event "$1" --members "$2" --prefix "$P" --concurrency 64 \
    --secret "$JWT_SECRET" --answers '{"q1":"yes"}' --out "$3" --quiet >/dev/null
}
count() { awk -v s="$2" '$2 == s' "$1" | wc -l; }
enter() { # MEMBER_NO: one entry of member P<MEMBER_NO>; prints the status
  req POST "$T_API/v1/events/$EV/entries" -H "Authorization: Bearer $("$BIN_CTL" token "$P$1")" \
    -H 'Content-Type: application/json' --data '{"answers":{"q1":"yes"}}'
}

burst "$EV" 10 "$T_DIR/open.txt"
expect "entries before the sell-out" "$(count "$T_DIR/open.txt" 202)" 10
# What the stock-consumer does when the last coupon goes.
redis_q HSET "ev:{$EV}:meta" state sold_out >/dev/null
redis_q PUBLISH "ev:{$EV}:state" sold_out >/dev/null
sleep 0.5
drain_queue stock.entries "$T_DIR/before"
CALLS=$(redis_calls)
burst "$EV" 2000 "$T_DIR/sold.txt"
expect "410 answers" "$(count "$T_DIR/sold.txt" 410)" 2000
expect "Redis gate/read commands during the burst" "$(($(redis_calls) - CALLS))" 0
drain_queue stock.entries "$T_DIR/after"
expect "messages published during the burst" "$(wc -l <"$T_DIR/after")" 0
req GET "$T_API/metrics" >/dev/null
expect "answered from memory (metrics)" "$(awk -F'} ' '/^giftdrop_gate_outcomes_total\{outcome="sold_out_from_memory"\}/ {print $2}' "$T_DIR/last_body")" 2000
req POST "$T_API/v1/events/$EV/entries" -H "Authorization: Bearer $("$BIN_CTL" token "${P}1")" -H 'Content-Type: application/json' --data '{}' >/dev/null
expect "the 410 body" "$(last_json .code)" sold_out

# Closed, as eventctl close announces it.
EV2=$(seed_event 0 100 50 "$P")
"$BIN_CTL" close "$EV2" >/dev/null
sleep 0.5
CALLS=$(redis_calls)
burst "$EV2" 500 "$T_DIR/closed.txt"
expect "410 after close" "$(count "$T_DIR/closed.txt" 410)" 500
expect "Redis commands during the closed burst" "$(($(redis_calls) - CALLS))" 0

# A restarted instance learns the state on start: each worker, once
# subscribed, scans the events' meta hashes, and answers 410 from memory
# before any request asks the gate.
learned() { grep 'answering 410 from memory' "$T_DIR/api.log" | grep -c "\"event_id\":$EV[,}]"; }
BEFORE=$(learned)
stop_all
start_api api "$T_API_PORT" WORKERS=2
expect "after a restart: both workers learned the sell-out on start" \
  "$(poll_until 10 at_least $((BEFORE + 2)) learned && echo yes || echo "no ($(($(learned) - BEFORE)))")" yes
CALLS=$(redis_evals)
for i in $(seq 11 30); do # members who never entered (the first 10 are pending: 202)
  enter "$i" >>"$T_DIR/restart.txt" && echo >>"$T_DIR/restart.txt"
done
expect "after a restart: all 410" "$(grep -c '^410$' "$T_DIR/restart.txt")" 20
expect "after a restart: gate calls for 20 requests" "$(($(redis_evals) - CALLS))" 0
CALLS=$(redis_calls)
burst "$EV" 1000 "$T_DIR/sold2.txt"
expect "after a restart: burst all 410" "$(count "$T_DIR/sold2.txt" 410)" 1000
expect "after a restart: Redis commands during the burst" "$(($(redis_calls) - CALLS))" 0

# Re-opened (an operator released stock): the gate decides again.
redis_q HSET "ev:{$EV}:meta" state armed >/dev/null
redis_q PUBLISH "ev:{$EV}:state" open >/dev/null
sleep 0.5
expect "after re-opening: accepted again" "$(enter 40)" 202

# An announcement missed while disconnected: sold out again, then every
# worker's Redis connections are cut and the event re-opened before they are
# back.  The resync after the resubscription (run once the gate can read)
# forgets the sell-out in both workers, even when the subscription is back
# before the gate is.
redis_q HSET "ev:{$EV}:meta" state sold_out >/dev/null
redis_q PUBLISH "ev:{$EV}:state" sold_out >/dev/null
sleep 0.5
expect "sold out again" "$(enter 41)" 410
forgotten() { grep 'forgotten' "$T_DIR/api.log" | grep -c "\"event_id\":$EV[,}]"; }
BEFORE=$(forgotten)
redis_q CLIENT KILL TYPE pubsub >/dev/null
redis_q CLIENT KILL TYPE normal >/dev/null
redis_q HSET "ev:{$EV}:meta" state armed >/dev/null
redis_q PUBLISH "ev:{$EV}:state" open >/dev/null
# Writes paused for 0.7 s: the gate's reconnect waits on its SCRIPT LOADs
# while the subscription is already back, so the re-read must wait for it.
redis_q CLIENT PAUSE 700 WRITE >/dev/null
expect "missed re-opening: both workers forgot the sell-out after resubscribing" \
  "$(poll_until 10 at_least $((BEFORE + 2)) forgotten && echo yes || echo "no ($(($(forgotten) - BEFORE)))")" yes
: >"$T_DIR/missed.txt"
for i in $(seq 42 49); do enter "$i" >>"$T_DIR/missed.txt" && echo >>"$T_DIR/missed.txt"; done
expect "missed re-opening: 8 new members accepted" "$(grep -c '^202$' "$T_DIR/missed.txt")" 8
finish
