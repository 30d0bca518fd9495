#!/usr/bin/env bash
# notify_kill: notifiers are killed with SIGKILL five times (two instances,
# alternately) while 1,000 winners (GD_SOAK=1: 5,000) go out through two
# provider endpoints that lose 10 % of their replies after delivering (and
# fail 5 % with 500).
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
# Two instances; winners arrive in waves and one of them dies (SIGKILL) in
# the middle of each, alternately: its deliveries move to the other while
# PostgreSQL is still dropping its winner leases.
# up NAME N: NAME's log says "running" N times (its N-th start is consuming),
# so a kill always lands on a notifier at work, never on one still starting.
up() { poll_until 30 at_least "$2" notify_log_count '"msg":"running' "$1"; }
notify_start notifier_a "${ENV[@]}"
notify_start notifier_b "${ENV[@]}"
up notifier_a 1 && up notifier_b 1 || log "a notifier did not start"
for k in $(seq 1 $KILLS); do
  victim=notifier_$([ $((k % 2)) -eq 1 ] && echo a || echo b)
  notify_publish "$EV" $((N / KILLS)) --first $(((k - 1) * (N / KILLS) + 1)) --kakao-percent 40
  sleep "0.$((RANDOM % 5 + 4))"
  pid_var=PID_$victim
  kill -KILL "${!pid_var}"
  wait "${!pid_var}" 2>/dev/null || true
  log "kill $k ($victim): $(notify_settled "$EV") settled, $(psql_q "SELECT count(*) FROM notifications
    WHERE event_id=$EV AND status='sending'") sending"
  notify_start "$victim" "${ENV[@]}"
  up "$victim" $(((k + 1) / 2 + 1)) || log "$victim did not come back"
done
notify_wait "$EV" "$N" $((N / 10 + 120)) || true

notify_check_once "$EV" "$N" fake1 fake2
LOST=$(notify_records fake1 fake2 | jq -c 'select(.result == "lost_reply")' | wc -l)
log "provider: $LOST replies lost after delivering"
expect "lost replies resolved without a resend (lookups made)" \
  "$([ "$(notify_log_count 'resolved earlier' notifier_a notifier_b)" -gt 0 ] && echo yes || echo no)" yes
log "winners met busy (the other instance held them): $(notify_log_count 'another notifier' notifier_a notifier_b)"
expect "rows 'sending' left" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV AND status='sending'")" 0
expect "kills survived (starts)" "$(notify_log_count '"msg":"running' notifier_a notifier_b)" $((KILLS + 2))
finish
