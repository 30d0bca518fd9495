#!/usr/bin/env bash
# notify_kill: the notifier is killed with SIGKILL five times while 1,000
# winners (GD_SOAK=1: 5,000) go out through two provider endpoints that
# lose 10 % of their replies after delivering (and fail 5 % with 500).
# Every kill leaves sends in flight with unknown outcomes and ledger rows
# 'sending'; the broker requeues the unacked deliveries and PostgreSQL drops
# the dead process's winner leases.  Afterwards every winner is 'sent',
# each entry was delivered exactly once across both endpoints (which share
# no state: the ledger must remember which one may have it), one coupon per
# winner, and the coupon delivered is the one the pool assigned.
source "$(dirname "$0")/../lib.sh"

N=${GD_SOAK:+5000}
N=${N:-1000}
KILLS=5
no_foreign_consumers
EV=$(notify_event $((N + 10)) 10)
log "event $EV, $N winners, $KILLS kills"
for p in 1 2; do
  notify_fake "fake$p" $((29090 + p)) --latency-ms 60 --jitter-ms 30 --seed $((7 + p)) \
    --lost-reply-rate 0.1 --fail-rate 0.05
done
ENV=(PROVIDER_ALIMTALK_ENDPOINTS="http://127.0.0.1:29091,http://127.0.0.1:29092"
  PROVIDER_SMS_ENDPOINTS="http://127.0.0.1:29092,http://127.0.0.1:29091"
  PROVIDER_ALIMTALK_POLICY=least_conn PROVIDER_SMS_POLICY=chash
  PROVIDER_TIMEOUT_MS=800 NOTIFY_RETRY_SCHEDULE=1 NOTIFY_MAX_ATTEMPTS=60 NOTIFY_CONCURRENCY=24)
notify_start notifier "${ENV[@]}"
# Winners arrive in waves; the notifier dies in the middle of each.
for k in $(seq 1 $KILLS); do
  notify_publish "$EV" $((N / KILLS)) --first $(((k - 1) * (N / KILLS) + 1)) --kakao-percent 40
  sleep "0.$((RANDOM % 5 + 4))"
  kill -KILL "$PID_notifier"
  wait "$PID_notifier" 2>/dev/null || true
  log "kill $k: $(notify_settled "$EV") settled, $(psql_q "SELECT count(*) FROM notifications
    WHERE event_id=$EV AND status='sending'") sending"
  notify_start notifier "${ENV[@]}"
done
notify_wait "$EV" "$N" $((N / 10 + 120)) || true

notify_check_once "$EV" "$N" fake1 fake2
LOST=$(notify_records fake1 fake2 | jq -c 'select(.result == "lost_reply")' | wc -l)
log "provider: $LOST replies lost after delivering"
expect "lost replies resolved without a resend (lookups made)" \
  "$([ "$(grep -h -c 'resolved earlier' "$T_DIR"/notifier.log)" -gt 0 ] && echo yes || echo no)" yes
expect "rows 'sending' left" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV AND status='sending'")" 0
expect "kills survived (restarts)" "$(grep -c '"msg":"running' "$T_DIR/notifier.log")" $((KILLS + 1))
finish
