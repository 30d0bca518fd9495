#!/usr/bin/env bash
# smoke.sh - end-to-end checks of gd-fake-provider with curl and jq.
#
#   tests/fake-provider/smoke.sh [path/to/gd-fake-provider]
#
# Starts the fake on a free port, exercises every endpoint and injection
# mode, then stops it with SIGTERM and requires exit status 0 - so with an
# ASan/UBSan build (GD_SANITIZE=ON) a leak or UB report fails the run.
# Needs curl (>= 7.66 for --parallel), jq and openssl (the TLS check makes
# its own CA in the temp dir).  Takes about 35 s (the 30 s hold of the
# timeout mode runs in the background).
set -euo pipefail

BIN=${1:-${GD_BUILD_DIR:-build}/tests/fake-provider/gd-fake-provider}
WORK=$(mktemp -d)
SECRET=smoke-secret
PID=

cleanup() {
    if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then kill "$PID"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

source "$(dirname "${BASH_SOURCE[0]}")/../assert.sh"

"$BIN" --listen 127.0.0.1:0 --secret "$SECRET" --latency-ms 5 --jitter-ms 2 --seed 7 \
    --idempotency-window-s 4 --record "$WORK/records.jsonl" 2>"$WORK/stderr" &
PID=$!
for _ in $(seq 50); do
    ADDR=$(jq -r 'select(.msg == "listening") | .addr' "$WORK/stderr" 2>/dev/null || true)
    [[ -n $ADDR ]] && break
    sleep 0.1
done
[[ -n $ADDR ]] || { echo "fake provider did not start"; cat "$WORK/stderr"; exit 1; }
B=http://$ADDR
KAKAO=$B/alimtalk/v2.3/appkeys/app1/messages
SMS=$B/sms/v3.0/appKeys/app1/sender/sms

kakao_body() { # kakao_body NUMBER CODE
    printf '{"senderKey":"sk","templateCode":"GIFT","recipientList":[{"recipientNo":"%s","templateParameter":{"code":"%s"}}]}' "$1" "$2"
}
post() { # post URL BODY [curl args...] -> body, then the status on the last line
    local url=$1 body=$2
    shift 2
    curl -s -w '\n%{http_code}' -X POST "$url" -H "X-Secret-Key: $SECRET" \
        -H 'Content-Type: application/json' "$@" -d "$body"
}
status_of() { tail -n1 <<<"$1"; }
json_of() { sed '$d' <<<"$1"; }
stat() { curl -s "$B/stats" | jq -r "$1"; }
config() { curl -s -o /dev/null -X POST "$B/config" -d "$1"; }

expect "healthz" "$(curl -s "$B/healthz")" "ok"

# Authentication
R=$(curl -s -w '\n%{http_code}' -X POST "$KAKAO" -d "$(kakao_body +821011112222 C1)")
expect "no secret -> 401" "$(status_of "$R")" 401
expect "401 resultCode" "$(json_of "$R" | jq .header.resultCode)" -401
expect "wrong secret -> 401" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$KAKAO" \
    -H 'X-Secret-Key: wrong' -d "$(kakao_body +821011112222 C1)")" 401

# Send and replay
R=$(post "$KAKAO" "$(kakao_body +821011112222 C1)" -H 'X-Idempotency-Key: key-1')
expect "kakao send" "$(status_of "$R") $(json_of "$R" | jq -r .header.resultMessage)" "200 SUCCESS"
RID=$(json_of "$R" | jq -r .message.requestId)
H=$(curl -s -D - -o "$WORK/body" -X POST "$KAKAO" -H "X-Secret-Key: $SECRET" \
    -H 'X-Idempotency-Key: key-1' -d "$(kakao_body +821011112222 C1)")
expect "replay header" "$(grep -ci '^Idempotent-Replay: true' <<<"$H")" 1
expect "replay body" "$(jq -r '.header.resultMessage + " " + .message.requestId' "$WORK/body")" \
    "DUPLICATED_REQUEST $RID"
expect "replay not sent again" "$(stat '"\(.sent) \(.duplicates) \(.unique_keys)"')" "1 1 1"
expect "content type" "$(grep -i '^Content-Type' <<<"$H" | tr -d '\r')" \
    "Content-Type: application/json;charset=UTF-8"
expect "idempotency lookup" "$(curl -s "$B/v1/idempotency/key-1" -H "X-Secret-Key: $SECRET" |
    jq -c '{key,requestId,channel,status:.message.messageStatus,code:.message.sendResults[0].resultCode}')" \
    "{\"key\":\"key-1\",\"requestId\":\"$RID\",\"channel\":\"kakao\",\"status\":\"COMPLETED\",\"code\":0}"

# 500, then a successful retry with the same key
config '{"fail_rate":1}'
R=$(post "$KAKAO" "$(kakao_body +821033334444 C2)" -H 'X-Idempotency-Key: key-2')
expect "injected 500" "$(status_of "$R") $(json_of "$R" | jq -c .header)" \
    '500 {"isSuccessful":false,"resultCode":-500,"resultMessage":"internal error"}'
config '{"fail_rate":0}'
R=$(post "$KAKAO" "$(kakao_body +821033334444 C2)" -H 'X-Idempotency-Key: key-2')
expect "retry after 500 sends" "$(json_of "$R" | jq -r .header.resultMessage)" SUCCESS
expect "sent after retry" "$(stat '"\(.sent) \(.failed_injected)"')" "2 1"

# Key reused for another recipient
R=$(post "$KAKAO" "$(kakao_body +821099998888 C9)" -H 'X-Idempotency-Key: key-2')
expect "key conflict -> 422" "$(status_of "$R")" 422

# Per-recipient failures
R=$(post "$SMS" '{"body":"b","sendNo":"1588","recipientList":[{"recipientNo":"01012345678"},{"recipientNo":"+829912345678"},{"recipientNo":"12ab"}]}')
expect "per-recipient codes" "$(json_of "$R" | jq -c '[.message.sendResults[].resultCode]')" \
    "[0,-1001,-1001]"
SMS_RID=$(json_of "$R" | jq -r .message.requestId)

# Bad requests
for body in 'nope' '{"a":1} x' '[]' '{"body":"b","sendNo":"1"}' \
    '{"body":"b","sendNo":"1","recipientList":[]}' '{"sendNo":"1","recipientList":[{"recipientNo":"01012345678"}]}' \
    '{"body":"b","sendNo":"1","recipientList":[{"recipientNo":7}]}'; do
    R=$(post "$SMS" "$body")
    expect "400 for $body" "$(status_of "$R") $(json_of "$R" | jq .header.resultCode)" "400 -400"
done
R=$(post "$SMS" '{}' -H "X-Idempotency-Key: $(printf 'k%.0s' $(seq 129))")
expect "key too long -> 400" "$(status_of "$R")" 400
head -c 70000 /dev/zero | tr '\0' a >"$WORK/big"
expect "64 KiB body limit" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$SMS" \
    -H "X-Secret-Key: $SECRET" --data-binary @"$WORK/big")" 413

# Lookups
expect "query kakao" "$(curl -s "$KAKAO/$RID" -H "X-Secret-Key: $SECRET" |
    jq -r '.message.requestId + " " + .message.messageStatus')" "$RID COMPLETED"
expect "query sms" "$(curl -s "$SMS/$SMS_RID" -H "X-Secret-Key: $SECRET" | jq -r .message.recipientNo)" \
    01012345678
expect "query wrong channel -> 404" "$(curl -s -o /dev/null -w '%{http_code}' "$SMS/$RID" \
    -H "X-Secret-Key: $SECRET")" 404
expect "query needs secret" "$(curl -s -o /dev/null -w '%{http_code}' "$KAKAO/$RID")" 401
expect "idempotency unknown -> 404" "$(curl -s -o /dev/null -w '%{http_code}' \
    "$B/v1/idempotency/nope" -H "X-Secret-Key: $SECRET")" 404

# Timeout: nothing sent, the client gives up; the fake closes after 30 s
config '{"timeout_rate":1}'
curl -s -o /dev/null -w '%{http_code}' --max-time 40 -X POST "$KAKAO" -H "X-Secret-Key: $SECRET" \
    -d "$(kakao_body +821055556666 C5)" >"$WORK/hold" 2>&1 &
HOLD=$!
set +e
curl -s --max-time 1 -X POST "$KAKAO" -H "X-Secret-Key: $SECRET" -H 'X-Idempotency-Key: key-3' \
    -d "$(kakao_body +821055556666 C5)"
RC=$?
set -e
expect "timeout mode: client times out" "$RC" 28
expect "timed-out key not remembered" "$(curl -s -o /dev/null -w '%{http_code}' \
    "$B/v1/idempotency/key-3" -H "X-Secret-Key: $SECRET")" 404

# Lost reply: sent and remembered, the client never hears of it
config '{"timeout_rate":0,"lost_reply_rate":1}'
set +e
curl -s --max-time 1 -X POST "$KAKAO" -H "X-Secret-Key: $SECRET" -H 'X-Idempotency-Key: key-3' \
    -d "$(kakao_body +821055556666 C5)"
RC=$?
set -e
expect "lost reply: client times out" "$RC" 28
expect "lost reply: key known" "$(curl -s "$B/v1/idempotency/key-3" -H "X-Secret-Key: $SECRET" |
    jq -r .channel)" kakao
config '{"lost_reply_rate":0}'
R=$(post "$KAKAO" "$(kakao_body +821055556666 C5)" -H 'X-Idempotency-Key: key-3')
expect "lost reply: retry is a replay" "$(json_of "$R" | jq -r .header.resultMessage)" \
    DUPLICATED_REQUEST

# 429 with Retry-After: nothing sent
config '{"throttle_rate":1,"retry_after_s":7}'
H=$(curl -s -D - -o "$WORK/body" -X POST "$KAKAO" -H "X-Secret-Key: $SECRET" \
    -H 'X-Idempotency-Key: key-t' -d "$(kakao_body +821044445555 CT)")
expect "throttled -> 429" "$(head -n1 <<<"$H" | awk '{print $2}')" 429
expect "Retry-After" "$(grep -i '^Retry-After' <<<"$H" | tr -d '\r')" "Retry-After: 7"
config '{"throttle_rate":0}'
expect "throttled key unknown" "$(curl -s -o /dev/null -w '%{http_code}' \
    "$B/v1/idempotency/key-t" -H "X-Secret-Key: $SECRET")" 404

# Partial failure: 200, the recipient failed temporarily; the key is not
# remembered, so the retry is delivered
config '{"partial_rate":1}'
R=$(post "$KAKAO" "$(kakao_body +821044446666 CP)" -H 'X-Idempotency-Key: key-p')
expect "partial -> 200 with -2001" "$(status_of "$R") $(json_of "$R" | jq -c '[.message.sendResults[].resultCode]')" \
    "200 [-2001]"
config '{"partial_rate":0}'
R=$(post "$KAKAO" "$(kakao_body +821044446666 CP)" -H 'X-Idempotency-Key: key-p')
expect "retry after partial is sent" "$(json_of "$R" | jq -r '.header.resultMessage + " " + (.message.sendResults[0].resultCode|tostring)')" \
    "SUCCESS 0"

# Uncertain: "result unknown" in the answer; the query tells the truth
config '{"uncertain_rate":1}'
R=$(post "$KAKAO" "$(kakao_body +821044447777 CU)" -H 'X-Idempotency-Key: key-u')
expect "uncertain -> -9000" "$(json_of "$R" | jq -c '[.message.sendResults[].resultCode]')" "[-9000]"
U_RID=$(json_of "$R" | jq -r .message.requestId)
U_STATUS=$(curl -s "$KAKAO/$U_RID" -H "X-Secret-Key: $SECRET" | jq -r .message.messageStatus)
expect "uncertain query is COMPLETED or FAILED" "$([[ $U_STATUS == COMPLETED || $U_STATUS == FAILED ]] && echo yes)" yes
U_KEY=$(curl -s -o /dev/null -w '%{http_code}' "$B/v1/idempotency/key-u" -H "X-Secret-Key: $SECRET")
expect "uncertain key known iff sent" "$U_STATUS $U_KEY" "$([[ $U_STATUS == COMPLETED ]] && echo 'COMPLETED 200' || echo 'FAILED 404')"
config '{"uncertain_rate":0}'

# Not a KakaoTalk user: AlimTalk refuses per recipient, SMS delivers
R=$(post "$KAKAO" "$(kakao_body +829812345678 CK)" -H 'X-Idempotency-Key: key-k')
expect "not a KakaoTalk user -> -3018" "$(json_of "$R" | jq -c '[.message.sendResults[].resultCode]')" "[-3018]"
R=$(post "$SMS" '{"body":"b","sendNo":"1588","recipientList":[{"recipientNo":"+829812345678"}]}' -H 'X-Idempotency-Key: key-k-sms')
expect "SMS to the same number" "$(json_of "$R" | jq -c '[.message.sendResults[].resultCode]')" "[0]"

# Routing
expect "unknown path" "$(curl -s -o /dev/null -w '%{http_code}' "$B/nope")" 404
expect "wrong method" "$(curl -s -D - -o /dev/null -X DELETE "$B/config" | grep -i '^Allow' | tr -d '\r')" \
    "Allow: GET, POST"
expect "GET on a send endpoint" "$(curl -s -o /dev/null -w '%{http_code}' "$KAKAO")" 405

# Config
expect "bad config -> 400" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/config" \
    -d '{"fail_rate":0.7,"timeout_rate":0.7}')" 400
expect "bad dist -> 400" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/config" \
    -d '{"latency_dist":"normal"}')" 400
expect "unknown setting -> 400" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/config" \
    -d '{"latency":5}')" 400
expect "config unchanged" "$(curl -s "$B/config" | jq -c '[.fail_rate,.timeout_rate]')" "[0,0]"

# Records: one per send request, in memory and in the file
N=$(stat .received)
expect "records in memory" "$(curl -s "$B/records" | jq length)" "$N"
expect "records in file" "$(wc -l <"$WORK/records.jsonl")" "$N"
DELIVERED='["-","-","C1","C2","C5","CP"'$([[ $U_STATUS == COMPLETED ]] && echo ',"CU"')']'
expect "delivered codes" "$(curl -s "$B/records" |
    jq -c '[.[] | .recipients[]? | select(.delivered) | .templateParameter.code // "-"] | sort')" \
    "$DELIVERED"
expect "delivered = sent" "$(curl -s "$B/records" | jq '[.[] | .recipients[]? | select(.delivered)] | length')" \
    "$(stat .sent)"

# The idempotency window (4 s here)
R=$(post "$KAKAO" "$(kakao_body +821077778888 C7)" -H 'X-Idempotency-Key: key-w')
W_RID=$(json_of "$R" | jq -r .message.requestId)
sleep 4.1
expect "expired key unknown" "$(curl -s -o /dev/null -w '%{http_code}' "$B/v1/idempotency/key-w" \
    -H "X-Secret-Key: $SECRET")" 404
R=$(post "$KAKAO" "$(kakao_body +821077778888 C7)" -H 'X-Idempotency-Key: key-w')
expect "expired key sends again" "$(json_of "$R" | jq -r .header.resultMessage)" SUCCESS
expect "new request id" "$([[ $(json_of "$R" | jq -r .message.requestId) != "$W_RID" ]] && echo 1)" 1
expect "live keys after expiry" "$(stat .unique_keys)" 1

# Reset
curl -s -o /dev/null -X POST "$B/reset"
expect "reset" "$(stat '[.received,.sent,.unique_keys,.by_channel.kakao] | map(tostring) | join(" ")')" \
    "0 0 0 0"
expect "records after reset" "$(curl -s "$B/records")" "[]"

# 300 concurrent sends at 50 ms latency
config '{"latency_ms":50,"jitter_ms":0}'
for i in $(seq 300); do
    printf 'next\nurl = "%s"\nrequest = "POST"\nheader = "X-Secret-Key: %s"\n' "$KAKAO" "$SECRET"
    printf 'header = "X-Idempotency-Key: par-%d"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$i"
    printf 'data = "%s"\n' "$(kakao_body "+8210$(printf %08d "$i")" "P$i" | sed 's/"/\\"/g')"
done >"$WORK/par.cfg"
START=$(date +%s%N)
OK=$(curl -s --no-progress-meter -Z --parallel-max 300 --parallel-immediate -K "$WORK/par.cfg" | grep -c '^200$' || true)
MS=$((($(date +%s%N) - START) / 1000000))
expect "300 concurrent: all 200" "$OK" 300
expect "300 concurrent under 1 s (${MS} ms)" "$((MS < 1000))" 1
expect "300 concurrent sent" "$(stat .sent)" 300

# Clean stop with a request still held
kill -TERM "$PID"
set +e
wait "$PID"
RC=$?
set -e
PID=
expect "SIGTERM exit status" "$RC" 0
wait "$HOLD" || true
expect "held request closed without reply" "$(cat "$WORK/hold")" 000

# --restore: a restarted endpoint remembers the keys in its record file
start_fake() { # start_fake ARGS... -> sets PID and B
    : >"$WORK/stderr"
    "$BIN" --listen 127.0.0.1:0 --secret "$SECRET" --latency-ms 1 --jitter-ms 0 "$@" 2>"$WORK/stderr" &
    PID=$!
    ADDR=
    for _ in $(seq 50); do
        ADDR=$(jq -r 'select(.msg == "listening") | .addr' "$WORK/stderr" 2>/dev/null || true)
        [[ -n $ADDR ]] && break
        sleep 0.1
    done
}
stop_fake() {
    kill -TERM "$PID"
    set +e
    wait "$PID"
    RC=$?
    set -e
    PID=
}
start_fake --record "$WORK/records.jsonl" --restore
B=http://$ADDR
expect "restored key known" "$(curl -s "$B/v1/idempotency/par-7" -H "X-Secret-Key: $SECRET" | jq -r .channel)" kakao
R=$(post "$B/alimtalk/v2.3/appkeys/app1/messages" "$(kakao_body "+8210$(printf %08d 7)" P7)" -H 'X-Idempotency-Key: par-7')
expect "restored key replays" "$(json_of "$R" | jq -r .header.resultMessage)" DUPLICATED_REQUEST
expect "records restored" "$(curl -s "$B/records" | jq length)" "$(wc -l <"$WORK/records.jsonl")"
stop_fake
expect "restored: SIGTERM exit status" "$RC" 0

# TLS with a CA made here (never committed): trusted -> 200, untrusted -> curl 60
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=smoke-ca -keyout "$WORK/ca.key" \
    -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
    -extfile "$WORK/san.ext" -out "$WORK/srv.pem" 2>/dev/null
start_fake --tls-cert "$WORK/srv.pem" --tls-key "$WORK/srv.key"
expect "https with the test CA" "$(curl -s --cacert "$WORK/ca.pem" "https://$ADDR/healthz")" ok
R=$(curl -s -w '\n%{http_code}' --cacert "$WORK/ca.pem" -X POST "https://$ADDR/sms/v3.0/appKeys/a/sender/sms" \
    -H "X-Secret-Key: $SECRET" -d '{"body":"b","sendNo":"1588","recipientList":[{"recipientNo":"01012345678"}]}')
expect "https send" "$(status_of "$R")" 200
set +e
curl -s -o /dev/null "https://$ADDR/healthz"
RC=$?
set -e
expect "untrusted certificate refused by the client" "$RC" 60
stop_fake
expect "tls: SIGTERM exit status" "$RC" 0

if ((T_FAILS > 0)); then
    echo "provider stderr:"
    tail -n 50 "$WORK/stderr"
fi
tally
