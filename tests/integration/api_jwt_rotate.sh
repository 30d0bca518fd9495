#!/usr/bin/env bash
# shellcheck disable=SC2154 # PID_api, PID_solo: set by start (tests/lib.sh)
# api_jwt_rotate: the JWT key is rotated under load without a restart.
#
# entry-api (2 workers) reads its keys from JWT_SECRETS_FILE.  Two load
# generators post entries to an event that opens in an hour (a token that
# passes gets 425 event_not_open, a refused one 401), 250 requests/s each
# over kept-alive connections: A with tokens of kid k1, B with kid k2.
# While they run the file is rewritten and entry-api gets SIGHUP:
#   1. k1, k2          (k2 added; B starts once a k2 token passes)
#   2. k2, k1          (k2 primary: a token without kid is checked with k2)
#   3. k2              (k1 removed, after A finished: k1 tokens refused)
#   4. a broken file   (refused: the keys in force stay)
# Expected: every request of A and B answered 425 (0 valid tokens refused,
# 0 connection errors), the same two worker processes before and after,
# a k1 token refused after step 3 with the kid reason, reload counters
# ok 6 / failed 2 (per worker), and SIGHUP to a single-process entry-api
# (WORKERS=1) reloads it too.  `eventctl token` signs with the primary
# under its kid.
source "$(dirname "$0")/../lib.sh"

S1=rotation-test-key-one-0123456789abcdef
S2=rotation-test-key-two-0123456789abcdef
KEYS=$T_DIR/jwt-keys
RATE=250 SECS=9
printf '# giftdrop member-token keys\nk1:%s\n' "$S1" >"$KEYS"
export JWT_SECRETS_FILE=$KEYS LOG_LEVEL=warn

EV=$(seed_event 3600 10 1 "rot$$-")
start_api api "$T_API_PORT" WORKERS=2 LOG_LEVEL=info
URL="$T_API/v1/events/$EV/entries"
NOW=$(date +%s)
CLAIMS="{\"sub\":\"m-rot\",\"iat\":$NOW,\"exp\":$((NOW + 600))}"
tok() { jwt_forge "$1" "$CLAIMS" "$2"; } # HEADER SECRET
T1=$(tok '{"alg":"HS256","typ":"JWT","kid":"k1"}' "$S1")
T2=$(tok '{"alg":"HS256","typ":"JWT","kid":"k2"}' "$S2")
P1=$(tok '{"alg":"HS256","typ":"JWT"}' "$S1") # no kid: the primary
P2=$(tok '{"alg":"HS256","typ":"JWT"}' "$S2")
probe() { req POST "$URL" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data '{"answers":{"q1":"yes"}}'; }
# reloads WANT_OK: until both workers have read the file WANT_OK times in all
reloads_ok() { curl -sf "$T_API/metrics" | awk '$1 == "giftdrop_jwt_reloads_total{result=\"ok\"}" {print $2}'; }
reloads_failed() { curl -sf "$T_API/metrics" | awk '$1 == "giftdrop_jwt_reloads_total{result=\"failed\"}" {print $2}'; }
hup() { # FILE-CONTENT
  printf '%s\n' "$1" >"$KEYS.new" && mv "$KEYS.new" "$KEYS"
  kill -HUP "$PID_api"
}
load() { # NAME KID SECRET
  "$BIN_LOADGEN" --url "$T_API" --event "$EV" --members $((RATE * SECS)) --prefix "rot$1$$-" \
    --rate "$RATE" --duration "$SECS" --connections 8 --kid "$2" --secret "$3" \
    --answers '{"q1":"yes"}' --json "$T_DIR/$1.json" --quiet >/dev/null
}
summary() { jq -c '{sent, errors, by_status}' "$T_DIR/$1.json"; }

expect "before: k1 passes" "$(probe "$T1")" 425
expect "before: no kid, k1's secret (primary) passes" "$(probe "$P1")" 425
expect "before: k2 is unknown" "$(probe "$T2") $(last_json .detail)" "401 token names a key id (kid) that is not configured"
WORKERS_BEFORE=$(pgrep -P "$PID_api" | sort | tr '\n' ' ')
expect "two worker processes" "$(wc -w <<<"$WORKERS_BEFORE")" 2

load A k1 "$S1" &
LOAD_A=$!
sleep 2
hup "$(printf 'k1:%s\nk2:%s' "$S1" "$S2")"
poll_until 5 at_least 2 reloads_ok || log "reload 1 not seen"
expect "1. k2 added: k2 passes" "$(probe "$T2")" 425
expect "1. k1 still passes" "$(probe "$T1")" 425
load B k2 "$S2" &
LOAD_B=$!
sleep 2
hup "$(printf 'k2:%s\nk1:%s' "$S2" "$S1")"
poll_until 5 at_least 4 reloads_ok || log "reload 2 not seen"
expect "2. k2 primary: no kid, k2's secret passes" "$(probe "$P2")" 425
expect "2. k2 primary: no kid, k1's secret refused" "$(probe "$P1") $(last_json .detail)" "401 token signature does not verify"
expect "2. k1 still passes by its kid" "$(probe "$T1")" 425
wait "$LOAD_A"
hup "$(printf 'k2:%s' "$S2")"
poll_until 5 at_least 6 reloads_ok || log "reload 3 not seen"
expect "3. k1 removed: its token is refused" "$(probe "$T1") $(last_json .detail)" "401 token names a key id (kid) that is not configured"
expect "3. k2 passes" "$(probe "$T2")" 425
hup "$(printf 'k2 %s' "$S2")" # no ':' : refused
poll_until 5 at_least 2 reloads_failed || log "reload 4 not seen"
expect "4. a broken file is refused: k2 still passes" "$(probe "$T2")" 425
expect "4. ... and k1 still refused" "$(probe "$T1")" 401
wait "$LOAD_B"

for l in A B; do
  sent=$(jq .sent "$T_DIR/$l.json")
  expect "load $l: every request answered 425, none refused, no connection error" "$(summary $l)" \
    "{\"sent\":$sent,\"errors\":0,\"by_status\":{\"425\":$sent}}"
  expect "load $l: sent at least 90 % of $((RATE * SECS))" "$((sent * 10 >= RATE * SECS * 9))" 1
done
expect "the same worker processes (none restarted)" "$(pgrep -P "$PID_api" | sort | tr '\n' ' ')" "$WORKERS_BEFORE"
expect "reloads per worker: ok 6, failed 2" "$(reloads_ok) $(reloads_failed)" "6 2"
expect "keys in force per worker" "$(curl -sf "$T_API/metrics" | grep -c '^giftdrop_jwt_keys{worker="[01]"} 1$')" 2
expect "log: each worker names the keys it put in force" "$(grep -c 'JWT keys reloaded: k2 (primary)"' "$T_DIR/api.log")" 2
expect "log: the refusal gives the reason, not the secret" \
  "$(grep -c 'JWT key reload refused, the keys in force stay: JWT_SECRETS_FILE: entry 1: not kid:secret' "$T_DIR/api.log") $(grep -c "$S2" "$T_DIR/api.log")" "2 0"

# The file mended: eventctl (which refuses a broken file at start-up) signs
# with the primary key (k2) under its kid.
hup "$(printf 'k2:%s' "$S2")"
poll_until 5 at_least 8 reloads_ok || log "reload 5 not seen"
TOKEN=$("$BIN_CTL" token m-rot)
H=$(cut -d. -f1 <<<"$TOKEN" | tr '_-' '/+')
while [ $((${#H} % 4)) -ne 0 ]; do H="$H="; done
expect "eventctl token: header names k2" "$(base64 -d <<<"$H" | jq -r .kid)" k2
expect "eventctl token passes" "$(probe "$TOKEN")" 425

# One process serving alone (WORKERS=1) takes SIGHUP itself.
printf 'k1:%s\n' "$S1" >"$KEYS"
start_api solo $((T_API_PORT + 1)) WORKERS=1
URL="http://127.0.0.1:$((T_API_PORT + 1))/v1/events/$EV/entries"
expect "solo: k2 unknown" "$(probe "$T2")" 401
printf 'k2:%s\n' "$S2" >"$KEYS"
kill -HUP "$PID_solo"
solo_ok() { curl -sf "http://127.0.0.1:$((T_API_PORT + 1))/metrics" | grep -qx 'giftdrop_jwt_reloads_total{result="ok"} 1'; }
poll_until 5 solo_ok || log "solo reload not seen"
expect "solo: after SIGHUP k2 passes, k1 refused" "$(probe "$T2") $(probe "$T1")" "425 401"
expect "solo: still running" "$(kill -0 "$PID_solo" 2>/dev/null && echo yes)" yes
finish
