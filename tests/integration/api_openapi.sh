#!/usr/bin/env bash
# api_openapi: docs/openapi.yaml and entry-api cannot drift apart.  A whole
# event's requests go through Stoplight Prism in proxy mode, which checks
# every request and every answer against the document and reports what does
# not fit in an `sl-violations` header.  The app's side and the service's
# side are both checked:
#   - every answer: no response violation (status, headers, body schema,
#     formats such as date-time);
#   - every well-formed request: no request violation either (the document
#     describes what the app sends);
#   - the malformed requests of the run (no token, bad JSON, ...) are the
#     service's business: their answers must still fit the document.
# The event's Redis meta holds only the fields DESIGN §5 names (opens_at_ms,
# closes_at_ms, ...): the string copies an older eventctl wrote are deleted,
# so the API must format the times from the one source of truth.
#
# Prism comes from npm (Debian has no package), pinned, installed into
# /var/tmp/giftdrop-npm-prism outside the repository and kept between runs;
# 5.14.2 is the newest release that runs on Debian 12's Node.js 20 (5.16
# needs Node 24).
source "$(dirname "$0")/../lib.sh"

PRISM_VERSION=5.14.2
PRISM_DIR=/var/tmp/giftdrop-npm-prism
PRISM=$PRISM_DIR/node_modules/.bin/prism
PRISM_PORT=28086
if ! "$PRISM" --version 2>/dev/null | grep -qx "$PRISM_VERSION"; then
  command -v npm >/dev/null || apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
  mkdir -p "$PRISM_DIR"
  npm install --prefix "$PRISM_DIR" --no-audit --no-fund --loglevel=error \
    "@stoplight/prism-cli@$PRISM_VERSION" >"$T_DIR/npm.log" 2>&1 || { cat "$T_DIR/npm.log"; exit 1; }
fi

purge_entries
at_exit 'mgmt DELETE "/queues/%2F/stock.entries/contents" >/dev/null || true'
start_all
start prism "$PRISM" proxy --host 127.0.0.1 --port "$PRISM_PORT" \
  "$GD_SOURCE_DIR/docs/openapi.yaml" "$T_API"
poll_until 60 curl -sf -o /dev/null "http://127.0.0.1:$PRISM_PORT/healthz" ||
  { log "Prism did not start"; exit 1; }
P="http://127.0.0.1:$PRISM_PORT"

# 2 winnable of 3 (1 held back), 4 members; opens in a few seconds.
EV=$(new_event 5 3 1)
"$BIN_CTL" seed "$EV" --members 4 --prefix "oa$$-" >/dev/null
"$BIN_CTL" arm "$EV" >/dev/null
redis_q HDEL "ev:{$EV}:meta" opens_at closes_at >/dev/null
expect "meta holds only DESIGN §5's times" "$(redis_q HEXISTS "ev:{$EV}:meta" opens_at) $(redis_q HEXISTS "ev:{$EV}:meta" opens_at_ms)" "0 1"
tok() { "$BIN_CTL" token "oa$$-$1"; }
ANSWERS='{"answers":{"q1":"yes"}}'

# call WANT_STATUS KIND METHOD PATH [curl args...]: one request through Prism.
# KIND "valid": neither side may violate the document; "bad": the request is
# malformed on purpose, only the answer is checked.
call() {
  local want=$1 kind=$2 m=$3 path=$4 st v
  shift 4
  st=$(curl -s -o "$T_DIR/last_body" -D "$T_DIR/last_headers" -w '%{http_code}' -X "$m" "$@" "$P$path")
  v=$(tr -d '\r' <"$T_DIR/last_headers" | sed -n 's/^sl-violations: //Ip' | tail -n 1)
  [ -n "$v" ] || v='[]'
  echo "$v" >>"$T_DIR/violations.jsonl"
  local resp req
  resp=$(jq -c '[.[] | select(.location[0] == "response") | {location, message}]' <<<"$v" 2>/dev/null || echo "unparsed: $v")
  req=$(jq -c '[.[] | select(.location[0] == "request") | {location, message}]' <<<"$v" 2>/dev/null || echo "unparsed: $v")
  expect "$m $path -> $want: status" "$st" "$want"
  expect "$m $path -> $st: answer fits the document" "$resp" "[]"
  [ "$kind" != valid ] || expect "$m $path: request fits the document" "$req" "[]"
}

call 200 valid GET "/v1/events/$EV"
expect "scheduled, with RFC 3339 times" "$(jq -r '[.state, (.opens_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$"))] | join(" ")' "$T_DIR/last_body")" "scheduled true"
expect "opens_at is the event's" "$(jq -r .opens_at "$T_DIR/last_body")" \
  "$(psql_q "SELECT to_char(opens_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM events WHERE event_id=$EV")"
call 425 valid POST "/v1/events/$EV/entries" -H "Authorization: Bearer $(tok 1)" -H 'Content-Type: application/json' --data "$ANSWERS"
call 404 valid GET "/v1/events/$(unused_event_id)"
call 401 bad POST "/v1/events/$EV/entries" -H 'Content-Type: application/json' --data "$ANSWERS"
call 415 bad POST "/v1/events/$EV/entries" -H "Authorization: Bearer $(tok 1)" -H 'Content-Type: text/plain' --data "$ANSWERS"
call 405 bad DELETE "/v1/events/$EV/entries"
call 200 valid GET /healthz
call 200 valid GET /readyz
call 200 valid GET /metrics

wait_until_ms $(($(opens_ms "$EV") + 200))
call 200 valid GET "/v1/events/$EV"
expect "open" "$(last_json .state)" open
call 400 bad POST "/v1/events/$EV/entries" -H "Authorization: Bearer $(tok 1)" -H 'Content-Type: application/json' --data '{"answers":'
call 400 valid POST "/v1/events/$EV/entries" -H "Authorization: Bearer $(tok 1)" -H 'Content-Type: application/json' --data '{"answers":{"q1":"maybe"}}'
call 202 valid POST "/v1/events/$EV/entries" -H "Authorization: Bearer $(tok 1)" -H 'Content-Type: application/json' --data "$ANSWERS"
call 404 valid GET "/v1/events/$EV/entries/me" -H "Authorization: Bearer $(tok 4)"
wait_drained "$EV" 30
call 200 valid GET "/v1/events/$EV/entries/me" -H "Authorization: Bearer $(tok 1)"
expect "member 1 won" "$(last_json .status)" notified
call 200 valid POST "/v1/events/$EV/entries" -H "Authorization: Bearer $(tok 1)" -H 'Content-Type: application/json' --data "$ANSWERS"
call 202 valid POST "/v1/events/$EV/entries" -H "Authorization: Bearer $(tok 2)" -H 'Content-Type: application/json' --data "$ANSWERS"
wait_drained "$EV" 30
call 410 valid POST "/v1/events/$EV/entries" -H "Authorization: Bearer $(tok 3)" -H 'Content-Type: application/json' --data "$ANSWERS"
call 200 valid GET "/v1/events/$EV"
expect "sold out" "$(last_json .state)" sold_out
"$BIN_CTL" close "$EV" >/dev/null
call 200 valid GET "/v1/events/$EV"
expect "closed" "$(last_json .state)" closed
log "violations Prism reported, all requests: $(jq -s 'add | length' "$T_DIR/violations.jsonl")"
finish
