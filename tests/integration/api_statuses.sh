#!/usr/bin/env bash
# api_statuses: every endpoint and status code of DESIGN §3 against a real
# entry-api (2 workers), Redis and RabbitMQ, with the headers the contract
# names: problem+json with a stable code, Location and Retry-After (the
# polling pace, POLL_AFTER_S) on 202 and on a pending entries/me, Retry-After and
# opens_in_ms on 425, Retry-After on 429, WWW-Authenticate on 401, Allow on
# 405; survey validation naming the question; repeats (202 same entry_id
# while pending, 200 with the status once decided); every 202 in the queue
# with its traceparent.  (503 is in api_broker_faults / api_redis_faults.)
source "$(dirname "$0")/../lib.sh"

P="st$$-"
SURVEY='{"questions":[{"id":"q1","type":"single","text":"Liked it?","required":true,"choices":["yes","no"]},{"id":"q2","type":"text","text":"Why?","max_len":10}]}'
purge_entries
at_exit 'mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true'
start_api api "$T_API_PORT" WORKERS=2 RATE_LIMIT=5 POLL_AFTER_S=3
EV=$(new_event 3 100 0 "$SURVEY")
"$BIN_CTL" seed "$EV" --members 20 --prefix "$P" >/dev/null
"$BIN_CTL" arm "$EV" >/dev/null
OPENS=$(opens_ms "$EV")
tok() { "$BIN_CTL" token "$1" 2>/dev/null; }
T1=$(tok "${P}1")
JSON=(-H 'Content-Type: application/json')
post() { req POST "$T_API/v1/events/$EV/entries" -H "Authorization: Bearer $1" "${JSON[@]}" --data-binary "$2" "${@:3}"; }
problem_ok() { # STATUS CODE: content type and code of the last answer
  expect "$1 content type" "$(last_header content-type)" "application/problem+json"
  expect "$1 code" "$(last_json .code)" "$2"
  expect "$1 status member" "$(last_json .status)" "$1"
}

# --- before the opening --------------------------------------------------
expect "GET event" "$(req GET "$T_API/v1/events/$EV")" 200
expect "event state before opening" "$(last_json .state)" scheduled
expect "event survey first question" "$(last_json '.survey.questions[0].id')" q1
expect "event opens_at is RFC 3339 ms" "$(last_json .opens_at | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$')" 1
expect "early POST" "$(post "$T1" '{"answers":{"q1":"yes"}}')" 425
problem_ok 425 event_not_open
left=$((OPENS - $(date +%s%3N)))
ra=$(last_header retry-after)
oin=$(last_json .opens_in_ms)
expect "Retry-After rounds opens_in_ms up" "$ra" "$(((oin + 999) / 1000))"
expect "opens_in_ms close to the real wait" "$([ "$oin" -le $((left + 1000)) ] && [ "$oin" -ge $((left - 1000)) ] && echo yes || echo "no ($oin vs $left)")" yes

# --- refusals that need neither Redis nor the broker --------------------
expect "unknown path" "$(req GET "$T_API/v2/nothing")" 404
problem_ok 404 not_found
expect "unknown event" "$(req GET "$T_API/v1/events/$(unused_event_id)")" 404
problem_ok 404 event_not_found
expect "event id with a leading zero" "$(req GET "$T_API/v1/events/0$EV")" 404
expect "PUT on entries" "$(req PUT "$T_API/v1/events/$EV/entries")" 405
problem_ok 405 method_not_allowed
expect "405 Allow" "$(last_header allow)" POST
expect "POST on the event" "$(req POST "$T_API/v1/events/$EV" "${JSON[@]}" --data '{}')" 405
expect "405 Allow (event)" "$(last_header allow)" GET
expect "DELETE /healthz" "$(req DELETE "$T_API/healthz")" 405
expect "no Content-Type" "$(req POST "$T_API/v1/events/$EV/entries" -H "Authorization: Bearer $T1" --data-binary '{"answers":{"q1":"yes"}}' -H 'Content-Type:')" 415
problem_ok 415 unsupported_media_type
expect "text/plain" "$(req POST "$T_API/v1/events/$EV/entries" -H "Authorization: Bearer $T1" -H 'Content-Type: text/plain' --data '{"answers":{"q1":"yes"}}')" 415
head -c 9000 /dev/zero | tr '\0' ' ' >"$T_DIR/big"
expect "9000-byte body" "$(req POST "$T_API/v1/events/$EV/entries" -H "Authorization: Bearer $T1" "${JSON[@]}" --data-binary @"$T_DIR/big")" 413
problem_ok 413 body_too_large
expect "no token" "$(req POST "$T_API/v1/events/$EV/entries" "${JSON[@]}" --data '{"answers":{"q1":"yes"}}')" 401
problem_ok 401 unauthorized
expect "401 WWW-Authenticate" "$(last_header www-authenticate | cut -d' ' -f1)" Bearer
expect "not JSON" "$(post "$T1" '{"answers":')" 400
problem_ok 400 invalid_json
expect "data after the object" "$(post "$T1" '{"answers":{"q1":"yes"}} x')" 400
expect "JSON array body" "$(post "$T1" '[1]')" 400

# --- after the opening ---------------------------------------------------
wait_until_ms $((OPENS + 50))
expect "choice not allowed" "$(post "$T1" '{"answers":{"q1":"maybe"}}')" 400
problem_ok 400 invalid_answers
expect "detail names the question" "$(last_json .detail | grep -c '"q1"')" 1
expect "required question missing" "$(post "$T1" '{"answers":{"q2":"ok"}}')" 400
expect "detail names the missing one" "$(last_json .detail | grep -c '"q1"')" 1
expect "text too long" "$(post "$T1" '{"answers":{"q1":"yes","q2":"far too long a text"}}')" 400
expect "detail names q2" "$(last_json .detail | grep -c '"q2"')" 1
expect "unknown question" "$(post "$T1" '{"answers":{"q1":"yes","q9":"x"}}')" 400
expect "ineligible member" "$(post "$(tok "out$$-1")" '{"answers":{"q1":"yes"}}')" 403
problem_ok 403 not_eligible

TP="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
expect "first entry" "$(post "$T1" '{"answers":{"q1":"yes","q2":"great"}}' -H "traceparent: $TP")" 202
ID1=$(last_json .entry_id)
expect "202 status" "$(last_json .status)" pending
expect "202 event_id" "$(last_json .event_id)" "$EV"
expect "202 Location" "$(last_header location)" "/v1/events/$EV/entries/me"
expect "202 Retry-After is POLL_AFTER_S" "$(last_header retry-after)" 3
expect "traceparent echoed" "$(last_header traceparent)" "$TP"
expect "entry_id is a UUIDv7" "$(grep -cE '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' <<<"$ID1")" 1
expect "entries/me" "$(req GET "$T_API/v1/events/$EV/entries/me" -H "Authorization: Bearer $T1")" 200
expect "entries/me entry_id" "$(last_json .entry_id)" "$ID1"
expect "entries/me status" "$(last_json .status)" pending
expect "pending entries/me Retry-After is POLL_AFTER_S" "$(last_header retry-after)" 3
expect "entries/me Cache-Control" "$(last_header cache-control)" no-store
expect "entries/me without token" "$(req GET "$T_API/v1/events/$EV/entries/me")" 401
expect "entries/me of a member who did not enter" "$(req GET "$T_API/v1/events/$EV/entries/me" -H "Authorization: Bearer $(tok "${P}2")")" 404
problem_ok 404 entry_not_found
expect "repeat while pending" "$(post "$T1" '{"answers":{"q1":"no"}}')" 202
expect "repeat names the same entry" "$(last_json .entry_id)" "$ID1"
# The stock-consumer's decision, written as it writes it.
redis_q HSET "ev:{$EV}:winners" "${P}1" 7 >/dev/null
expect "repeat once decided" "$(post "$T1" '{"answers":{"q1":"yes"}}')" 200
expect "decided status" "$(last_json .status)/$(last_json .seq)/$(last_json .entry_id)" "won/7/$ID1"
redis_q HSET "ev:{$EV}:notified" "${P}1" sent >/dev/null
expect "entries/me once notified" "$(req GET "$T_API/v1/events/$EV/entries/me" -H "Authorization: Bearer $T1")/$(last_json .status)/$(last_json .seq)" "200/notified/7"
expect "a decided entries/me has no Retry-After" "$(last_header retry-after)" ""
expect "decided entries/me Cache-Control" "$(last_header cache-control)" no-store
T3=$(tok "${P}3")
expect "member 3 enters" "$(post "$T3" '{"answers":{"q1":"no"}}')" 202
ID3=$(last_json .entry_id)
redis_q SADD "ev:{$EV}:losers" "${P}3" >/dev/null
expect "a loser's repeat" "$(post "$T3" '{"answers":{"q1":"no"}}')/$(last_json .status)" "200/lost"

# 429: RATE_LIMIT=5 per member and window; the 6th gate call is refused
# (an ineligible member: the limit is checked before eligibility).
T4=$(tok "out$$-4")
for _ in 1 2 3 4 5; do post "$T4" '{"answers":{"q1":"yes"}}' >/dev/null; done
expect "6th request in the window" "$(post "$T4" '{"answers":{"q1":"yes"}}')" 429
problem_ok 429 rate_limited
expect "429 Retry-After in 1..10 s" "$(ra=$(last_header retry-after); [ "$ra" -ge 1 ] && [ "$ra" -le 10 ] && echo yes || echo "no ($ra)")" yes

# 410: sold out (as the stock-consumer announces it) and closed (eventctl close).
redis_q HSET "ev:{$EV}:meta" state sold_out >/dev/null
redis_q PUBLISH "ev:{$EV}:state" sold_out >/dev/null
sleep 0.3
expect "after the sell-out" "$(post "$(tok "${P}5")" '{"answers":{"q1":"yes"}}')" 410
problem_ok 410 sold_out
expect "event state sold_out" "$(req GET "$T_API/v1/events/$EV" >/dev/null; last_json .state)" sold_out
EV2=$(new_event 0 10 0)
"$BIN_CTL" seed "$EV2" --members 3 --prefix "c$$-" >/dev/null
"$BIN_CTL" arm "$EV2" >/dev/null
"$BIN_CTL" close "$EV2" >/dev/null
sleep 0.3
expect "after close" "$(req POST "$T_API/v1/events/$EV2/entries" -H "Authorization: Bearer $(tok "c$$-1")" "${JSON[@]}" --data '{"answers":{"q1":"yes"}}')" 410
problem_ok 410 event_closed

# --- operations ----------------------------------------------------------
expect "/healthz" "$(req GET "$T_API/healthz")" 200
expect "/readyz" "$(req GET "$T_API/readyz")/$(last_json .status)" 200/ready
expect "/metrics" "$(req GET "$T_API/metrics")" 200
expect "/metrics content type" "$(last_header content-type | cut -d';' -f1)" text/plain
cp "$T_DIR/last_body" "$T_DIR/metrics.txt"
expect "metrics count the 202s" "$(awk '/^giftdrop_http_requests_total\{route="entry_post",status="202"\}/ {print $2}' "$T_DIR/metrics.txt")" 3
expect "metrics know the sold-out event" "$(grep -c "giftdrop_event_state{event_id=\"$EV\",state=\"sold_out\"} 1" "$T_DIR/metrics.txt")" 1
for fam in giftdrop_http_request_duration_seconds_bucket giftdrop_publish_confirm_seconds_bucket \
  giftdrop_http_requests_in_flight giftdrop_gate_outcomes_total giftdrop_publish_in_flight; do
  expect "metrics family $fam" "$(grep -c "^$fam" "$T_DIR/metrics.txt" | awk '{print ($1 > 0)}')" 1
done
# promtool comes with Debian's prometheus package (deploy/local/stack install).
expect "promtool installed" "$(command -v promtool >/dev/null && echo yes || echo no)" yes
promtool check metrics <"$T_DIR/metrics.txt" >"$T_DIR/promtool.out" 2>&1 && rc=0 || rc=$?
expect "promtool check metrics" "$rc $(cat "$T_DIR/promtool.out")" "0 "

# Every 202 is in the queue, with the request's trace context.
drain_queue stock.entries "$T_DIR/ids"
expect "member 1's entry in the queue (twice: first and republished)" "$(grep -c "$ID1" "$T_DIR/ids")" 2
expect "member 3's entry in the queue" "$(grep -c "$ID3" "$T_DIR/ids")" 1
expect "messages in the queue" "$(wc -l <"$T_DIR/ids")" 3
expect "traceparent carried into AMQP" "$(grep "$ID1" "$T_DIR/ids.full" | head -1 | jq -r '.headers.traceparent')" "$TP"
expect "x-event-id header" "$(grep "$ID1" "$T_DIR/ids.full" | head -1 | jq -r '.headers["x-event-id"]')" "$EV"
finish
