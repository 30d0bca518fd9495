#!/usr/bin/env bash
# notify_fallback: what a provider's answers mean, over 600 winners.
#   - AlimTalk refuses a recipient who is not a KakaoTalk user (-3018): the
#     winner gets exactly one SMS instead, under its own idempotency key
#     ("<entry_id>-sms"), and nothing is sent twice.
#   - An invalid number (-1001) is permanent: 'failed' in the ledger and
#     Redis, a dead letter in notify.dlq with the reason, no retry.
#   - HTTP 429 with Retry-After, a 200 whose recipient failed temporarily
#     (-2001, "partial") and a 200 saying "result unknown" (-9000, then a
#     query by request id tells the truth) all end with the winner sent once.
#   - An exhausted coupon pool: the winners it cannot serve end 'failed'
#     with the reason and an error log, and the notifier carries on.
source "$(dirname "$0")/../lib.sh"

N=600 NOT_KAKAO_EVERY=5 INVALID_EVERY=40
no_foreign_consumers
EV=$(notify_event $((N + 10)) 10)
notify_fake fake1 29091 --latency-ms 10 --jitter-ms 5 --seed 5 \
  --throttle-rate 0.1 --retry-after-s 1 --partial-rate 0.1 --uncertain-rate 0.1
notify_start notifier PROVIDER_URL=http://127.0.0.1:29091 PROVIDER_TIMEOUT_MS=1000 \
  NOTIFY_RETRY_SCHEDULE=1 NOTIFY_MAX_ATTEMPTS=40
notify_publish "$EV" $N --kakao-percent 60 --not-kakao-every $NOT_KAKAO_EVERY --invalid-every $INVALID_EVERY
notify_wait "$EV" $N 120 || true

INVALID=$(grep -c ' +8299' "$T_DIR/winners.txt" || true)
NOT_KAKAO=$(grep -c ' kakao +8298' "$T_DIR/winners.txt" || true)
log "$N winners: $INVALID invalid numbers, $NOT_KAKAO KakaoTalk winners who are not KakaoTalk users"
SENT=$((N - INVALID))
notify_check_once "$EV" $SENT fake1
expect "failed (invalid numbers)" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV AND status='failed'
  AND last_error LIKE '%-1001%'")" "$INVALID"
expect "Redis mirror: failed" "$(redis_q HVALS "ev:{$EV}:notified" | grep -c '^failed$' || true)" "$INVALID"
notify_records fake1 >"$T_DIR/all.jsonl"
expect "AlimTalk refusals (one per non-KakaoTalk winner)" \
  "$(jq -r 'select(.result == "not_kakao_user") | .idempotency_key' "$T_DIR/all.jsonl" | sort -u | wc -l)" "$NOT_KAKAO"
expect "SMS fallbacks delivered" \
  "$(jq -r 'select(.result == "sent" and .channel == "sms") | .idempotency_key' "$T_DIR/all.jsonl" | grep -c -- '-sms$' || true)" "$NOT_KAKAO"
expect "fallbacks for KakaoTalk users" "$(jq -r 'select(.result == "sent" and .channel == "kakao") |
  .idempotency_key' "$T_DIR/all.jsonl" | sed 's/$/-sms/' | sort >"$T_DIR/k"; jq -r 'select(.result == "sent") |
  .idempotency_key' "$T_DIR/all.jsonl" | grep -- '-sms$' | sort | comm -12 - "$T_DIR/k" | wc -l)" 0
expect "ledger: KakaoTalk winners sent by SMS" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV
  AND channel='kakao' AND status='sent' AND endpoint LIKE 'sms %'")" "$NOT_KAKAO"
for r in throttled temporary_failure; do
  n=$(jq -c "select(.result == \"$r\")" "$T_DIR/all.jsonl" | wc -l)
  expect "provider answers '$r' (some)" "$([ "$n" -gt 0 ] && echo yes || echo no)" yes
done
expect "uncertain answers queried (some)" \
  "$([ "$(notify_log_count 'queried uncertain' notifier)" -gt 0 ] && echo yes || echo no)" yes
# The dead letters, peeked through the management API (and left in place).
curl -sf -u guest:guest -H 'content-type: application/json' -X POST \
  "$MGMT_URL/api/queues/%2F/notify.dlq/get" \
  -d '{"count":100000,"ackmode":"reject_requeue_true","encoding":"auto","truncate":4000}' >"$T_DIR/dlq.json"
expect "dead letters of this event" \
  "$(jq "[.[] | select(.properties.headers[\"x-event-id\"] == $EV)] | length" "$T_DIR/dlq.json")" "$INVALID"
expect "dead letters naming the reason" "$(jq "[.[] | select(.properties.headers[\"x-event-id\"] == $EV) |
  select(.properties.headers[\"x-reason\"] | test(\"-1001\"))] | length" "$T_DIR/dlq.json")" "$INVALID"
# An exhausted pool: 8 winners, 5 codes (10 more held back as safety stock):
# three end 'failed' with the reason and an error log, nothing crashes, and
# no held-back code is handed out.
EV2=$(notify_event 15 10)
notify_publish "$EV2" 8 --first 5001 --kakao-percent 50
notify_wait "$EV2" 8 60 || true
expect "exhausted pool: sent" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV2 AND status='sent'")" 5
expect "exhausted pool: failed with the reason" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV2
  AND status='failed' AND last_error='coupon pool exhausted' AND coupon_code IS NULL")" 3
expect "exhausted pool: held-back codes handed out" "$(psql_q "SELECT count(member_id) FROM coupons WHERE event_id=$EV2 AND safety")" 0
expect "exhausted pool: error logs" "$(notify_log_count '"level":"error".*coupon pool exhausted' notifier)" 3
expect "exhausted pool: notifier still running" "$(kill -0 "$PID_notifier" && echo yes)" yes
finish
