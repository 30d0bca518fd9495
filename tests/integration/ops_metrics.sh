#!/usr/bin/env bash
# ops_metrics: the /metrics of stock-consumer and notifier-consumer
# (METRICS_ADDR) are valid Prometheus text and count exactly.
#
#   A stock event of 20 coupons: 60 entries fed to stock.entries, every 20th
#   one poison (3); then 30 winners of a second event straight to the
#   notifier, every 10th with an invalid number (failed for good) and every
#   3rd KakaoTalk winner not a KakaoTalk user (SMS fallback); the fake
#   provider throttles 10 % of the sends (HTTP 429: a retry).  Expected:
#   - `promtool check metrics` passes on both (promtool is required: it
#     comes with Debian's prometheus package, which `stack install` adds);
#   - stock-consumer: decisions won/lost == the outcome rows in PostgreSQL,
#     poison == 3, duplicate 0, redeliveries 0, batches == the batch
#     histogram's count, one connect per connection, ready 1;
#   - notifier: winners sent/failed == the ledger's sent/failed rows, sends
#     (all outcomes) == the requests the provider recorded, sends "sent" ==
#     the provider's "sent" records, retries == throttled records == sends
#     "retry_clean", fallbacks == sends "not_kakao", failures == sends
#     "permanent" == invalid numbers, latency histogram count == sends, the
#     endpoint's breaker closed, nothing in flight or held, ready 1;
#   - /healthz 200, another path 404, another method 405, on both.
source "$(dirname "$0")/../lib.sh"

STOCK_M=127.0.0.1:29101 NOTIFY_M=127.0.0.1:29102 FAKE_PORT=29091
STOCK=20 MEMBERS=60 POISON_EVERY=20 WINNERS=30
POISON=$((MEMBERS / POISON_EVERY))
GOOD=$((MEMBERS - POISON))
PREFIX="met$$-"
export LOG_LEVEL=warn

command -v promtool >/dev/null ||
  { log "FAIL promtool is not installed (deploy/local/stack install brings Debian's prometheus package)"; exit 1; }

# scrape NAME ADDR: the metrics text into $T_DIR/NAME.prom
scrape() { curl -sf "http://$2/metrics" >"$T_DIR/$1.prom"; }
# val NAME SERIES: the value of one series (exact name and labels), "none" if absent
val() { awk -v k="$2" '$1 == k {v = $2} END {print (v == "" ? "none" : v)}' "$T_DIR/$1.prom"; }
# sum NAME REGEX: the sum of the series matching REGEX (anchored at the line start)
sum() { grep -E "^$2" "$T_DIR/$1.prom" | awk '{s += $2} END {print s + 0}'; }
# wait_metric NAME ADDR SERIES WANT: until the series shows WANT (30 s)
wait_metric() {
  for _ in $(seq 1 120); do
    scrape "$1" "$2" && [ "$(val "$1" "$3")" == "$4" ] && return 0
    sleep 0.25
  done
  log "$1: $3 is $(val "$1" "$3"), not $4, after 30 s"
  return 1
}
promcheck() {
  promtool check metrics <"$T_DIR/$1.prom" >"$T_DIR/$1.promtool" 2>&1 && r=0 || r=$?
  expect "promtool check metrics: $1" "$r $(head -c 300 "$T_DIR/$1.promtool")" "0 "
}

no_foreign_consumers
# Leftovers of an earlier, failed run would be counted by these processes.
for q in stock.entries notify.kakao notify.sms notify.retry.1s notify.retry.5s notify.retry.30s; do
  mgmt DELETE "/queues/%2F/$q/contents" >/dev/null
done
notify_fake fake1 $FAKE_PORT --latency-ms 5 --jitter-ms 2 --seed 11 --throttle-rate 0.1 --retry-after-s 1
stock_consumer stock METRICS_ADDR=$STOCK_M
notify_start notifier PROVIDER_URL=http://127.0.0.1:$FAKE_PORT METRICS_ADDR=$NOTIFY_M \
  NOTIFY_RETRY_SCHEDULE=1 NOTIFY_MAX_ATTEMPTS=40
wait_http "http://$STOCK_M/healthz" 15
wait_http "http://$NOTIFY_M/healthz" 15
wait_metric stock $STOCK_M giftdrop_stock_ready 1 || true
wait_metric notify $NOTIFY_M giftdrop_notify_ready 1 || true

# Before any work: valid, and zero.
promcheck stock
promcheck notify
expect "stock: won before any entry" "$(val stock 'giftdrop_stock_decisions_total{outcome="won"}')" 0
expect "notifier: sent before any winner" "$(val notify 'giftdrop_notify_winners_total{result="sent"}')" 0
for m in "stock $STOCK_M" "notify $NOTIFY_M"; do
  read -r name addr <<<"$m"
  expect "$name: GET /healthz" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/healthz")" 200
  expect "$name: GET /other" "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/other")" 404
  expect "$name: POST /metrics" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$addr/metrics")" 405
  expect "$name: content type" "$(curl -s -o /dev/null -w '%{content_type}' "http://$addr/metrics")" \
    "text/plain; version=0.0.4; charset=utf-8"
done

# --- the work ---------------------------------------------------------------
EV1=$(stock_event $STOCK 0 $MEMBERS "$PREFIX")
"$BIN_FEED" publish --event "$EV1" --count $MEMBERS --prefix "$PREFIX" --poison-every $POISON_EVERY \
  --out "$T_DIR/ok.txt" >/dev/null
EV2=$(notify_event $((WINNERS + 5)) 5)
notify_publish "$EV2" $WINNERS --kakao-percent 50 --not-kakao-every 3 --invalid-every 10
INVALID=$(grep -c ' +8299' "$T_DIR/winners.txt" || true)
NOT_KAKAO=$(grep -c ' kakao +8298' "$T_DIR/winners.txt" || true)
log "event $EV1: $GOOD good entries, $POISON poison; event $EV2: $WINNERS winners, $INVALID invalid, $NOT_KAKAO not KakaoTalk users"
stock_wait_rows "$EV1" $GOOD 60 || true
notify_wait "$EV1" $STOCK 90 || true
notify_wait "$EV2" $WINNERS 90 || true
SENT=$(psql_q "SELECT count(*) FROM notifications WHERE event_id IN ($EV1, $EV2) AND status='sent'")
FAILED=$(psql_q "SELECT count(*) FROM notifications WHERE event_id IN ($EV1, $EV2) AND status='failed'")
# The counters follow the commits by a moment: wait for the last ones.
wait_metric stock $STOCK_M 'giftdrop_stock_decisions_total{outcome="poison"}' $POISON || true
wait_metric notify $NOTIFY_M 'giftdrop_notify_winners_total{result="failed"}' "$FAILED" || true
wait_metric notify $NOTIFY_M 'giftdrop_notify_winners_total{result="sent"}' "$SENT" || true
stock_dlq_take "$EV1"

# --- stock-consumer -----------------------------------------------------------
promcheck stock
expect "stock: decisions won == winners in PostgreSQL" \
  "$(val stock 'giftdrop_stock_decisions_total{outcome="won"}')" "$(stock_rows "$EV1" "outcome='won'")"
expect "stock: winners" "$(stock_rows "$EV1" "outcome='won'")" $STOCK
expect "stock: decisions lost == losers in PostgreSQL" \
  "$(val stock 'giftdrop_stock_decisions_total{outcome="lost"}')" "$(stock_rows "$EV1" "outcome='lost'")"
expect "stock: losers" "$(stock_rows "$EV1" "outcome='lost'")" $((GOOD - STOCK))
expect "stock: poison" "$(val stock 'giftdrop_stock_decisions_total{outcome="poison"}')" $POISON
expect "stock: duplicate" "$(val stock 'giftdrop_stock_decisions_total{outcome="duplicate"}')" 0
expect "stock: redeliveries" "$(val stock giftdrop_stock_redeliveries_total)" 0
BATCHES=$(val stock giftdrop_stock_batches_total)
expect "stock: batches (some)" "$([ "$BATCHES" -ge 1 ] && echo yes || echo "no ($BATCHES)")" yes
expect "stock: batch histogram count == batches" "$(val stock giftdrop_stock_batch_duration_seconds_count)" "$BATCHES"
expect "stock: +Inf bucket == batches" "$(val stock 'giftdrop_stock_batch_duration_seconds_bucket{le="+Inf"}')" "$BATCHES"
expect "stock: failed batch attempts" "$(val stock giftdrop_stock_batch_attempts_failed_total)" 0
for c in broker_consume broker_publish redis postgres postgres_replica; do
  expect "stock: connects $c" "$(val stock "giftdrop_stock_connects_total{conn=\"$c\"}")" 1
done
expect "stock: ready" "$(val stock giftdrop_stock_ready)" 1

# --- notifier-consumer --------------------------------------------------------
promcheck notify
notify_records fake1 >"$T_DIR/records.jsonl"
REQS=$(wc -l <"$T_DIR/records.jsonl")
THROTTLED=$(jq -c 'select(.result == "throttled")' "$T_DIR/records.jsonl" | wc -l)
log "provider: $REQS send requests, $THROTTLED throttled"
expect "notifier: sent == ledger rows sent" "$(val notify 'giftdrop_notify_winners_total{result="sent"}')" "$SENT"
expect "notifier: ledger rows sent" "$SENT" $((STOCK + WINNERS - INVALID))
expect "notifier: failed == ledger rows failed" "$(val notify 'giftdrop_notify_winners_total{result="failed"}')" "$FAILED"
expect "notifier: ledger rows failed (invalid numbers)" "$FAILED" "$INVALID"
expect "notifier: poison" "$(val notify 'giftdrop_notify_winners_total{result="poison"}')" 0
expect "notifier: duplicate" "$(val notify 'giftdrop_notify_winners_total{result="duplicate"}')" 0
expect "notifier: sends == provider requests" "$(sum notify 'giftdrop_notify_sends_total\{')" "$REQS"
expect "notifier: sends sent == provider's sent records" "$(sum notify 'giftdrop_notify_sends_total\{.*result="sent"')" \
  "$(jq -c 'select(.result == "sent")' "$T_DIR/records.jsonl" | wc -l)"
expect "notifier: throttled sends (some)" "$([ "$THROTTLED" -gt 0 ] && echo yes || echo no)" yes
expect "notifier: sends retry_clean == throttled" "$(sum notify 'giftdrop_notify_sends_total\{.*result="retry_clean"')" "$THROTTLED"
expect "notifier: retries == throttled" "$(val notify giftdrop_notify_retries_total)" "$THROTTLED"
expect "notifier: returned from the retry queue == retries" "$(val notify giftdrop_notify_returned_total)" "$THROTTLED"
expect "notifier: sends permanent == invalid numbers" "$(sum notify 'giftdrop_notify_sends_total\{.*result="permanent"')" "$INVALID"
expect "notifier: fallbacks == sends not_kakao" "$(val notify giftdrop_notify_fallbacks_total)" \
  "$(sum notify 'giftdrop_notify_sends_total\{.*result="not_kakao"')"
expect "notifier: fallbacks (at least one per non-KakaoTalk winner)" \
  "$([ "$(val notify giftdrop_notify_fallbacks_total)" -ge "$NOT_KAKAO" ] && [ "$NOT_KAKAO" -gt 0 ] && echo yes || echo no)" yes
expect "notifier: SMS fallbacks delivered" \
  "$(jq -r 'select(.result == "sent" and .channel == "sms") | .idempotency_key' "$T_DIR/records.jsonl" | grep -c -- '-sms$' || true)" "$NOT_KAKAO"
expect "notifier: latency observations == sends" "$(sum notify 'giftdrop_notify_send_duration_seconds_count')" "$REQS"
for api in alimtalk sms; do
  expect "notifier: $api breaker closed" \
    "$(val notify "giftdrop_notify_endpoint_state{api=\"$api\",endpoint=\"http://127.0.0.1:$FAKE_PORT\",state=\"closed\"}")" 1
done
expect "notifier: in flight" "$(val notify giftdrop_notify_in_flight)" 0
expect "notifier: held" "$(val notify giftdrop_notify_held)" 0
expect "notifier: provider requests in flight" "$(val notify giftdrop_notify_provider_requests_in_flight)" 0
expect "notifier: ready" "$(val notify giftdrop_notify_ready)" 1
finish
