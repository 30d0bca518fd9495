#!/usr/bin/env bash
# api_event_info: GET /v1/events/{id} from each worker's memory (evinfo.h).
# One worker, so every count is exact:
#   - the first GET reads Redis once; a burst of 500 then reads it at most
#     once per second (the background reload), all 500 from memory;
#   - the state turns scheduled -> open at opens_at by Redis's clock, with no
#     Redis call;
#   - a sold_out, "open" (re-armed) or closed announcement is shown on the
#     very next GET;
#   - an unknown event is not remembered: armed, it is there on the next GET.
source "$(dirname "$0")/../lib.sh"

start_api api "$T_API_PORT" WORKERS=1
EV=$(new_event 6 10 0)
"$BIN_CTL" seed "$EV" --members 3 --prefix "ei$$-" >/dev/null
"$BIN_CTL" arm "$EV" >/dev/null
OPENS=$(opens_ms "$EV")
URL="$T_API/v1/events/$EV"
from_memory() {
  req GET "$T_API/metrics" >/dev/null
  awk '/^giftdrop_event_info_from_memory_total / {print $2}' "$T_DIR/last_body"
}
# burst LABEL: 500 GETs in one curl; all 200, all from memory, and Redis
# read at most once per second meanwhile (the background reload)
ARGS=()
for _ in $(seq 1 500); do ARGS+=("$URL" -o /dev/null); done
burst() {
  local calls mem t0 t1 d max
  calls=$(redis_evals)
  mem=$(from_memory)
  t0=$(date +%s%3N)
  curl -s -w '%{http_code}\n' "${ARGS[@]}" >"$T_DIR/burst"
  t1=$(date +%s%3N)
  expect "$1: 500 answered 200" "$(grep -c '^200$' "$T_DIR/burst")" 500
  expect "$1: all 500 from memory" "$(($(from_memory) - mem))" 500
  d=$(($(redis_evals) - calls))
  max=$(((t1 - t0) / 1000 + 1))
  expect "$1: Redis reads <= one per second ($((t1 - t0)) ms)" "$([ "$d" -le "$max" ] && echo yes || echo "no ($d > $max)")" yes
}

CALLS=$(redis_evals)
expect "first GET" "$(req GET "$URL")/$(last_json .state)" 200/scheduled
expect "first GET: Redis script calls" "$(($(redis_evals) - CALLS))" 1

burst "burst before the opening"

# The opening, judged by Redis's clock without asking Redis: reload 300 ms
# before (an announcement makes the worker forget), then GET after opens_at.
wait_until_ms $((OPENS - 400))
redis_q PUBLISH "ev:{$EV}:state" open >/dev/null
sleep 0.1
expect "just before opens_at" "$(req GET "$URL")/$(last_json .state)" 200/scheduled
CALLS=$(redis_evals)
wait_until_ms $((OPENS + 100))
expect "just after opens_at" "$(req GET "$URL")/$(last_json .state)" 200/open
expect "the opening: Redis script calls" "$(($(redis_evals) - CALLS))" 0

# Announcements are shown at once (the copy is forgotten, Redis read again).
redis_q HSET "ev:{$EV}:meta" state sold_out >/dev/null
redis_q PUBLISH "ev:{$EV}:state" sold_out >/dev/null
sleep 0.3
expect "after sold_out" "$(req GET "$URL")/$(last_json .state)" 200/sold_out
burst "burst once sold out"
redis_q HSET "ev:{$EV}:meta" state armed >/dev/null
redis_q PUBLISH "ev:{$EV}:state" open >/dev/null
sleep 0.3
expect "re-armed" "$(req GET "$URL")/$(last_json .state)" 200/open
"$BIN_CTL" close "$EV" >/dev/null
sleep 0.3
expect "closed by eventctl" "$(req GET "$URL")/$(last_json .state)" 200/closed

# Not remembered when unknown: an event armed after a 404 is there at once.
EV2=$(new_event 60 10 0)
"$BIN_CTL" seed "$EV2" --members 1 --prefix "ej$$-" >/dev/null
expect "not armed yet" "$(req GET "$T_API/v1/events/$EV2")" 404
"$BIN_CTL" arm "$EV2" >/dev/null
expect "armed" "$(req GET "$T_API/v1/events/$EV2")/$(last_json .state)" 200/scheduled
finish
