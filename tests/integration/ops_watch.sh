#!/usr/bin/env bash
# shellcheck disable=SC2154 # PID_watch: set by start (tests/lib.sh)
# ops_watch: `eventctl watch`, the reconcile checks as Prometheus metrics,
# against the real PostgreSQL and Redis.
#
#   - a clean event (winnable 3): every check 0, stock left 3, no winner
#     waiting, the final checks not yet in force;
#   - violations put in by hand show as 1 on exactly their check: a fourth
#     winner in Redis (oversold_redis), a winner rank used twice
#     (duplicate_seq); three winners without a notification, one sent since:
#     2 unsettled, the oldest decided 11 minutes ago (660-720 s);
#   - a closed event with an accepted entry and no outcome row: `lost` is 1
#     once closes_at is --final-after behind, 0 before (the final checks off);
#   - Redis unreachable: --once exits 1, runs_total{result="failed"} 1, no
#     event series;
#   - --listen: /metrics after two runs (--interval 1), /healthz 200, SIGTERM
#     stops it cleanly;
#   - promtool check metrics accepts the text.
# The events are put back to draft and their keys removed at the end, so a
# stack's Prometheus does not keep the test's violations.
source "$(dirname "$0")/../lib.sh"
export LOG_LEVEL=warn
WATCH_PORT=29103
need_promtool || { log "FAIL promtool unavailable"; exit 1; }

once() { "$BIN_CTL" watch --once "$@" >"$T_DIR/once.prom"; }
# v SERIES: the value of one series line (exact name and labels), "none" if absent
v() { awk -v k="$1" '$1 == k {x = $2} END {print (x == "" ? "none" : x)}' "$T_DIR/once.prom"; }
# failing EVENT: the checks of EVENT that are 1, sorted, space-separated
failing() {
  grep -E "^giftdrop_reconcile_violations\{event_id=\"$1\",check=\"[a-z_]+\"\} 1$" "$T_DIR/once.prom" |
    sed 's/.*check="\([a-z_]*\)".*/\1/' | sort | tr '\n' ' '
}
checks() { grep -c -E "^giftdrop_reconcile_violations\{event_id=\"$1\"," "$T_DIR/once.prom"; }

EV=$(seed_event 0 3 10 "wat$$-")
once
expect "clean event: 11 checks, none failing" "$(checks "$EV") $(failing "$EV")" "11 "
expect "clean event: stock left, winnable, final" \
  "$(v "giftdrop_event_stock_remaining{event_id=\"$EV\"}") $(v "giftdrop_event_winnable{event_id=\"$EV\"}") $(v "giftdrop_reconcile_final{event_id=\"$EV\"}")" "3 3 0"
expect "clean event: no winner waiting" \
  "$(v "giftdrop_event_winners_unsettled{event_id=\"$EV\"}") $(v "giftdrop_event_oldest_unsettled_winner_seconds{event_id=\"$EV\"}")" "0 0"
expect "a good run counted" "$(v 'giftdrop_reconcile_runs_total{result="ok"}') $(v 'giftdrop_reconcile_runs_total{result="failed"}')" "1 0"
promtool check metrics <"$T_DIR/once.prom" >"$T_DIR/promtool.out" 2>&1 && r=0 || r=$?
expect "promtool check metrics" "$r $(head -c 300 "$T_DIR/promtool.out")" "0 "

# Violations, by hand.
redis_q HSET "ev:{$EV}:winners" "wat$$-1" 1 "wat$$-2" 2 "wat$$-3" 2 "wat$$-4" 3 >/dev/null
psql_q "INSERT INTO entries (entry_id, event_id, member_id, answers, outcome, seq, submitted_at, decided_at) VALUES
  (gen_random_uuid(), $EV, 'wat$$-1', '{}', 'won', 1, now() - interval '11 minutes', now() - interval '11 minutes'),
  (gen_random_uuid(), $EV, 'wat$$-2', '{}', 'won', 2, now() - interval '5 minutes', now() - interval '5 minutes'),
  (gen_random_uuid(), $EV, 'wat$$-3', '{}', 'won', 2, now(), now())" >/dev/null
psql_q "INSERT INTO notifications (event_id, member_id, entry_id, channel, status)
  SELECT event_id, member_id, entry_id, 'sms', 'sent' FROM entries WHERE event_id = $EV AND member_id = 'wat$$-2'" >/dev/null
once
expect "violations: exactly oversold_redis and duplicate_seq" "$(failing "$EV")" "duplicate_seq oversold_redis "
expect "winners 3, unsettled 2" \
  "$(v "giftdrop_event_winners{event_id=\"$EV\"}") $(v "giftdrop_event_winners_unsettled{event_id=\"$EV\"}")" "3 2"
oldest=$(v "giftdrop_event_oldest_unsettled_winner_seconds{event_id=\"$EV\"}")
expect "the oldest unsettled winner waits 660-720 s ($oldest)" "$((oldest >= 660 && oldest <= 720))" 1

# The final checks, once closes_at is --final-after behind.
EV2=$(seed_event 0 3 5 "waf$$-")
redis_q HSET "ev:{$EV2}:entries" "waf$$-1" "$(cat /proc/sys/kernel/random/uuid)" >/dev/null
psql_q "UPDATE events SET opens_at = now() - interval '1 hour', closes_at = now() - interval '20 minutes', state = 'closed' WHERE event_id = $EV2" >/dev/null
once --final-after 3600
expect "closed 20 min ago, --final-after 3600: final 0, nothing failing" \
  "$(v "giftdrop_reconcile_final{event_id=\"$EV2\"}") $(failing "$EV2")" "0 "
once --final-after 900
expect "closed 20 min ago, --final-after 900: final 1, the entry without outcome is lost" \
  "$(v "giftdrop_reconcile_final{event_id=\"$EV2\"}") $(failing "$EV2")" "1 lost "

# Redis unreachable: a failed run, no event series.
REDIS_URL=redis://127.0.0.1:1 "$BIN_CTL" watch --once >"$T_DIR/once.prom" 2>"$T_DIR/fail.err" && r=0 || r=$?
expect "Redis unreachable: exit 1, one failed run, no event series" \
  "$r $(v 'giftdrop_reconcile_runs_total{result="failed"}') $(grep -c '^giftdrop_event_' "$T_DIR/once.prom" || true)" "1 1 0"

# --listen: served, repeated, stopped by SIGTERM.
start watch "$BIN_CTL" watch --listen "127.0.0.1:$WATCH_PORT" --interval 1
runs() { curl -sf "http://127.0.0.1:$WATCH_PORT/metrics" | awk '$1 == "giftdrop_reconcile_runs_total{result=\"ok\"}" {print $2}'; }
two_runs() { [ "$(runs)" -ge 2 ] 2>/dev/null; }
poll_until 10 two_runs || log "watch: $(runs) runs after 10 s"
expect "--listen: two runs or more within 10 s" "$(two_runs && echo yes)" yes
expect "--listen: /healthz" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WATCH_PORT/healthz")" 200
expect "--listen: the event's violations served" \
  "$(curl -sf "http://127.0.0.1:$WATCH_PORT/metrics" | grep -c -E "^giftdrop_reconcile_violations\{event_id=\"$EV\",check=\"(oversold_redis|duplicate_seq)\"\} 1$")" 2
kill -TERM "$PID_watch"
for _ in $(seq 1 30); do kill -0 "$PID_watch" 2>/dev/null || break; sleep 0.1; done
wait "$PID_watch" && r=0 || r=$?
expect "--listen: SIGTERM stops it, exit 0" "$r" 0

# Leave nothing for a stack's Prometheus to page about.
for e in "$EV" "$EV2"; do
  psql_q "DELETE FROM notifications WHERE event_id = $e; DELETE FROM entries WHERE event_id = $e;
          UPDATE events SET state = 'draft' WHERE event_id = $e" >/dev/null
  mapfile -t keys < <(redis_q --scan --pattern "ev:{$e}:*")
  [ "${#keys[@]}" -eq 0 ] || redis_q DEL "${keys[@]}" >/dev/null
done
finish
