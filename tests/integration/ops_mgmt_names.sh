#!/usr/bin/env bash
# ops_mgmt_names: what an operator reads in the RabbitMQ management UI,
# checked through its HTTP API (DESIGN §4, issue 6 item 5).
#
#   - an entry waiting in stock.entries carries type entry.submitted.v1,
#     app_id entry-api, message_id = the entry_id the API answered,
#     persistent JSON, a timestamp, x-event-id and traceparent headers;
#   - the winner waiting in notify.* carries type winner.v1, app_id
#     stock-consumer, the same message_id;
#   - every connection of the processes this test started is named
#     <service>@<instance>:<pid>/<role>; every consumer tag names its
#     service, instance and pid.
# Messages are peeked with POST /api/queues/%2F/<q>/get, ackmode
# reject_requeue_true: they stay in the queue.
source "$(dirname "$0")/../lib.sh"

PREFIX="names$$-"
INST="it-names-$$"
export INSTANCE=$INST
mgmt() { curl -sf -u guest:guest -H 'content-type: application/json' "$@"; }
peek() { # QUEUE: the first message's properties, left in the queue
  mgmt -X POST -d '{"count":1,"ackmode":"reject_requeue_true","encoding":"auto","truncate":2000}' \
    "$MGMT_URL/api/queues/%2F/$1/get"
}

no_foreign_consumers
start provider "$BIN_PROVIDER" --listen "127.0.0.1:$T_PROVIDER_PORT" --latency-ms 2 --record "$T_DIR/provider.jsonl"
LISTEN_ADDR="127.0.0.1:$T_API_PORT" start entry-api "$BIN_API"
wait_http "$T_PROVIDER/healthz" 15
wait_http "$T_API/readyz" 30
EV=$(new_event 1 10 0)
"$BIN_CTL" seed "$EV" --members 3 --prefix "$PREFIX" --kakao-percent 100 >/dev/null
"$BIN_CTL" arm "$EV" >/dev/null
wait_until_ms "$(opens_ms "$EV")"

# 1. An entry, waiting in stock.entries (no stock-consumer yet).
TP=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
curl -s -o "$T_DIR/entry.json" -H "Authorization: Bearer $("$BIN_CTL" token "${PREFIX}1")" \
  -H 'Content-Type: application/json' -H "traceparent: $TP" \
  -d '{"answers":{"q1":"yes"}}' "$T_API/v1/events/$EV/entries"
ENTRY=$(jq -r .entry_id "$T_DIR/entry.json")
expect "entry accepted" "$(jq -r .status "$T_DIR/entry.json")" pending
mgmt_wait_depth stock.entries 1 || true
peek stock.entries >"$T_DIR/entry-msg.json"
p='.[0].properties'
expect "entry: type" "$(jq -r "$p.type" "$T_DIR/entry-msg.json")" entry.submitted.v1
expect "entry: app_id" "$(jq -r "$p.app_id" "$T_DIR/entry-msg.json")" entry-api
expect "entry: message_id = entry_id" "$(jq -r "$p.message_id" "$T_DIR/entry-msg.json")" "$ENTRY"
expect "entry: persistent JSON" "$(jq -r "$p.delivery_mode, $p.content_type" "$T_DIR/entry-msg.json" | paste -sd' ')" "2 application/json"
expect "entry: timestamp set" "$(jq -r "($p.timestamp // 0) > 1600000000" "$T_DIR/entry-msg.json")" true
expect "entry: x-event-id header" "$(jq -r "$p.headers[\"x-event-id\"]" "$T_DIR/entry-msg.json")" "$EV"
expect "entry: traceparent carried from the request" \
  "$(jq -r "$p.headers.traceparent | split(\"-\")[1]" "$T_DIR/entry-msg.json")" 4bf92f3577b34da6a3ce929d0e0e4736
expect "entry: routing key" "$(jq -r '.[0].routing_key' "$T_DIR/entry-msg.json")" "event.entry.$EV"
expect "entry: still queued after the peek" "$(jq -r '.[0].message_count' "$T_DIR/entry-msg.json")" 0

# 2. The stock-consumer decides it; the winner waits in notify.kakao (no notifier yet).
start stock "$BIN_STOCK"
mgmt_wait_depth notify.kakao 1 || true
peek notify.kakao >"$T_DIR/winner-msg.json"
expect "winner: type" "$(jq -r "$p.type" "$T_DIR/winner-msg.json")" winner.v1
expect "winner: app_id" "$(jq -r "$p.app_id" "$T_DIR/winner-msg.json")" stock-consumer
expect "winner: message_id = entry_id" "$(jq -r "$p.message_id" "$T_DIR/winner-msg.json")" "$ENTRY"
expect "winner: persistent" "$(jq -r "$p.delivery_mode" "$T_DIR/winner-msg.json")" 2
expect "winner: x-event-id header" "$(jq -r "$p.headers[\"x-event-id\"]" "$T_DIR/winner-msg.json")" "$EV"

# 3. The notifier drains it; meanwhile every connection and consumer is named.
PROVIDER_URL="$T_PROVIDER" start notifier "$BIN_NOTIFIER"
wait_drained "$EV" 30
# shellcheck disable=SC2154 # PID_* are set by start (lib.sh)
declare -A SVC=([$PID_entry_api]=entry-api [$PID_stock]=stock-consumer [$PID_notifier]=notifier-consumer)
# The management API lists connections a few seconds late.
for _ in $(seq 1 40); do
  mgmt "$MGMT_URL/api/connections?columns=name,user_provided_name,client_properties" >"$T_DIR/conns.json"
  mgmt "$MGMT_URL/api/consumers/%2F" >"$T_DIR/consumers.json"
  # every service listed (the count alone is reached by entry-api's workers and the stock-consumer)
  n=$(jq --arg i "$INST" '[.[] | (.user_provided_name // "") | select(contains("@" + $i + ":")) | split("@")[0]] | unique | length' "$T_DIR/conns.json")
  c=$(jq --arg i "$INST" '[.[] | select(.consumer_tag | contains("@" + $i + ":"))] | length' "$T_DIR/consumers.json")
  [ "$n" -ge 3 ] && [ "$c" -ge 3 ] && break
  sleep 0.5
done
jq -r --arg i "$INST" '.[] | .user_provided_name // "" | select(contains("@" + $i + ":"))' "$T_DIR/conns.json" | sort >"$T_DIR/names.txt"
log "connections: $(paste -sd' ' "$T_DIR/names.txt")"
for pid in "${!SVC[@]}"; do
  svc=${SVC[$pid]}
  # A service may fork workers (entry-api does): its pid or a child's.
  pids=$({ echo "$pid"; pgrep -P "$pid" || true; } | paste -sd'|')
  expect "$svc has a named connection" "$(grep -c -E "^$svc@$INST:($pids)/[a-z-]+\$" "$T_DIR/names.txt" | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
done
expect "every connection of ours is <service>@<instance>:<pid>/<role>" \
  "$(grep -v -c -E "^(entry-api|stock-consumer|notifier-consumer)@$INST:[0-9]+/[a-z-]+\$" "$T_DIR/names.txt" || true)" 0
expect "connection_name client property matches the UI name" \
  "$(jq --arg i "$INST" '[.[] | select((.user_provided_name // "") | contains("@" + $i + ":")) | select(.client_properties.connection_name != .user_provided_name)] | length' "$T_DIR/conns.json")" 0
jq -r --arg i "$INST" '.[] | select(.consumer_tag | contains("@" + $i + ":")) | "\(.queue.name) \(.consumer_tag)"' \
  "$T_DIR/consumers.json" | sort >"$T_DIR/tags.txt"
log "consumers: $(paste -sd',' "$T_DIR/tags.txt")"
for want in "notify.kakao notifier-consumer@$INST:$PID_notifier/notify.kakao" \
  "notify.sms notifier-consumer@$INST:$PID_notifier/notify.sms" \
  "stock.entries stock-consumer@$INST:$PID_stock/stock.entries"; do
  expect "consumer tag: $want" "$(grep -c -x -F "$want" "$T_DIR/tags.txt")" 1
done
expect "every consumer tag of ours is <service>@<instance>:<pid>/<queue>" \
  "$(awk -v i="$INST" '$2 !~ "^(stock|notifier)-consumer@" i ":[0-9]+/" $1 "$"' "$T_DIR/tags.txt" | wc -l)" 0
finish
