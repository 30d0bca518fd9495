#!/usr/bin/env bash
# notify_endpoints: three provider endpoints behind round robin; one is
# killed (SIGKILL) while 3,000 winners go out and restarted a few seconds
# later with its ledger restored from its record file (as a real provider's
# host would come back knowing what it had sent).  Traffic must move away
# while it is down (the other two keep sending; its breaker opens after
# consecutive failures), come back after recovery (a probe closes the
# breaker and it gets sends again), and exactly-once must hold: the sends
# that were in flight at the kill are resolved by asking that endpoint once
# it is back, never resent elsewhere.
source "$(dirname "$0")/../lib.sh"

N=${GD_SOAK:+12000}
N=${N:-3000}
no_foreign_consumers
EV=$(notify_event $((N + 10)) 10)
log "event $EV, $N winners"
for p in 1 2 3; do
  notify_fake "fake$p" $((29090 + p)) --latency-ms 50 --jitter-ms 10 --restore
done
EPS="http://127.0.0.1:29091,http://127.0.0.1:29092,http://127.0.0.1:29093"
notify_start notifier PROVIDER_ALIMTALK_ENDPOINTS="$EPS" PROVIDER_SMS_ENDPOINTS="$EPS" \
  PROVIDER_ALIMTALK_POLICY=round_robin PROVIDER_SMS_POLICY=round_robin \
  PROVIDER_TIMEOUT_MS=1000 NOTIFY_RETRY_SCHEDULE=1 NOTIFY_MAX_ATTEMPTS=60 NOTIFY_CONCURRENCY=12
notify_publish "$EV" "$N" --kakao-percent 40
sleep 2
KILLED_MS=$(date +%s%3N)
kill -KILL "$PID_fake2"
wait "$PID_fake2" 2>/dev/null || true
log "fake2 killed at $(notify_settled "$EV") settled"
sleep 4
DOWN_SENDS=$(notify_records fake1 fake3 | jq -c "select(.ts_ms > $KILLED_MS + 1000 and .result == \"sent\")" | wc -l)
RESTART_MS=$(date +%s%3N)
notify_fake fake2 29092 --latency-ms 50 --jitter-ms 10 --restore
log "fake2 restarted at $(notify_settled "$EV") settled"
notify_wait "$EV" "$N" 180 || true

notify_check_once "$EV" "$N" fake1 fake2 fake3
expect "sends by the two others while fake2 was down (some)" \
  "$([ "$DOWN_SENDS" -gt 100 ] && echo yes || echo "no ($DOWN_SENDS)")" yes
OPENED=$(grep 'breaker open' "$T_DIR/notifier.log" | grep -c '"conn":"http://127.0.0.1:29092"' || true)
CLOSED=$(grep 'breaker closed' "$T_DIR/notifier.log" | grep -c '"conn":"http://127.0.0.1:29092"' || true)
log "fake2 breakers (AlimTalk and SMS): opened $OPENED times, closed $CLOSED times"
expect "breaker opened on fake2 (both APIs)" "$([ "$OPENED" -ge 2 ] && echo yes || echo "no ($OPENED)")" yes
AFTER=$(jq -c "select(.ts_ms > $RESTART_MS and .result == \"sent\")" "$T_DIR/fake2.jsonl" | wc -l)
expect "fake2 sends after recovery (some)" "$([ "$AFTER" -gt 0 ] && echo yes || echo "no ($AFTER)")" yes
expect "breaker closed again on fake2 (both APIs)" "$([ "$CLOSED" -ge 2 ] && echo yes || echo "no ($CLOSED)")" yes
expect "fake2 restored its ledger" "$(grep -c 'ledger restored' "$T_DIR/fake2.log")" 1
expect "other endpoints' breakers opened" "$(grep 'breaker open' "$T_DIR/notifier.log" | grep -c -v '29092' || true)" 0
finish
