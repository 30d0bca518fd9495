#!/usr/bin/env bash
# notify_failures: 1,000 winners (GD_SOAK=1: 10,000) against two provider
# endpoints that fail 30 % of sends with HTTP 500 and hold 5 % until the
# notifier's timeout (neither delivers anything), over the real RabbitMQ,
# Redis and PostgreSQL.  Every winner must end 'sent', the providers must
# have delivered each entry exactly once (by idempotency key, across both
# endpoints, which share no state), no member may hold two coupons, and
# each phone must have received the code the pool assigned it.  On the way:
# retries went round the retry queues (attempts > 1, x-attempt), unknown
# outcomes were resolved by asking the endpoint first, and the consuming
# connection never dropped (heartbeats kept it up with sends in flight).
# Then every winner is published again with the same entry ids: all are
# acked without a send, and the providers see nothing new.
source "$(dirname "$0")/../lib.sh"

N=${GD_SOAK:+10000}
N=${N:-1000}
no_foreign_consumers
EV=$(notify_event $((N + 10)) 10)
log "event $EV, $N winners"
for p in 1 2; do
  notify_fake "fake$p" $((29090 + p)) --latency-ms 10 --jitter-ms 5 --seed $((41 + p)) \
    --fail-rate 0.3 --timeout-rate 0.05
done
# One second per retry keeps the run short; the default schedule is 1,5,30.
notify_start notifier PROVIDER_ALIMTALK_ENDPOINTS="http://127.0.0.1:29091,http://127.0.0.1:29092" \
  PROVIDER_SMS_ENDPOINTS="http://127.0.0.1:29091,http://127.0.0.1:29092=2" \
  PROVIDER_ALIMTALK_POLICY=round_robin PROVIDER_SMS_POLICY=weighted \
  PROVIDER_TIMEOUT_MS=1000 NOTIFY_RETRY_SCHEDULE=1 NOTIFY_MAX_ATTEMPTS=40 AMQP_HEARTBEAT_S=2
T0=$(date +%s)
notify_publish "$EV" "$N" --kakao-percent 40
notify_wait "$EV" "$N" $((N / 5 + 120)) || true
log "settled in $(($(date +%s) - T0)) s"

notify_check_once "$EV" "$N" fake1 fake2
expect "winners failed" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV AND status='failed'")" 0
expect "Redis mirror: sent" "$(redis_q HVALS "ev:{$EV}:notified" | grep -c '^sent$')" "$N"
RETRIED=$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV AND attempts > 1")
expect "winners that needed retries (some)" "$([ "$RETRIED" -gt $((N / 10)) ] && echo yes || echo "no ($RETRIED)")" yes
FAILED_500=$(notify_records fake1 fake2 | jq -c 'select(.result == "failed_injected")' | wc -l)
TIMEOUTS=$(notify_records fake1 fake2 | jq -c 'select(.result == "timeout_injected")' | wc -l)
log "provider answers: $FAILED_500 injected 500s, $TIMEOUTS injected hangs, $RETRIED winners retried"
expect "unknown outcomes resolved by lookup first" \
  "$([ "$(notify_log_count 'resolved earlier' notifier)" -gt 0 ] && echo yes || echo no)" yes
expect "consume connection drops" "$(notify_log_count 'consume connection lost' notifier)" 0
expect "retries that reached the DLQ" "$(notify_log_count 'failed for good' notifier)" 0

# Every winner again, same entry ids (a redelivery, a republished winner):
# acked without a send, nothing new at the providers.
DELIVERED=$(notify_records fake1 fake2 | jq -c 'select(.recipients[0].delivered == true)' | wc -l)
"$BIN_WINNERS" --event "$EV" --replay "$T_DIR/winners.txt" >/dev/null
for _ in $(seq 1 240); do
  [ "$(notify_log_count 'already sent: acked without a send' notifier)" -ge "$N" ] && break
  sleep 0.25
done
expect "replayed winners acked without a send" "$(notify_log_count 'already sent: acked without a send' notifier)" "$N"
expect "deliveries after the replay" "$(notify_records fake1 fake2 | jq -c 'select(.recipients[0].delivered == true)' | wc -l)" "$DELIVERED"
kill -TERM "$PID_notifier"
wait "$PID_notifier" || true
STATS=$(grep '"msg":"stopped: ' "$T_DIR/notifier.log" | tail -n1)
BACK=$(sed -E 's/.*back from the retry queues ([0-9]+).*/\1/' <<<"$STATS")
RETRIED_N=$(sed -E 's/.*retried ([0-9]+).*/\1/' <<<"$STATS")
log "notifier: retried $RETRIED_N, back from the retry queues (x-attempt, routing key kept) $BACK"
# (A retry may come back more than once: delayed again while breakers are open.)
expect "retries that came back through event.winner (some)" "$([ "$BACK" -gt 0 ] && echo yes || echo no)" yes
finish
