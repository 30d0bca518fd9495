#!/usr/bin/env bash
# api_jwt: the HTTP-level token attack set.  With JWT_ISSUER and
# JWT_AUDIENCE configured, every forged, expired, premature, malformed or
# oversized token is answered 401 problem+json with WWW-Authenticate: Bearer,
# while the control token passes authentication (404 for an unknown event,
# which is decided after it).  Start-up refuses a missing, short or
# unreadable secret.
source "$(dirname "$0")/../lib.sh"

ISS=giftdrop-login AUD=giftdrop-entry
start_api api "$T_API_PORT" WORKERS=1 JWT_ISSUER=$ISS JWT_AUDIENCE=$AUD
NOW=$(date +%s)
K=$JWT_SECRET
HS='{"alg":"HS256","typ":"JWT"}'
claims() { # SUB EXP [extra members]
  printf '{"sub":"%s","iss":"%s","aud":"%s","iat":%d,"exp":%d%s}' "$1" "$ISS" "$AUD" "$NOW" "$2" "${3:-}"
}
NOEV=$(unused_event_id)
URL="$T_API/v1/events/$NOEV/entries"
try() { # NAME TOKEN [WANT]
  local st
  st=$(req POST "$URL" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data '{"answers":{}}')
  if [ "${3:-401}" == 401 ]; then
    expect "$1" "$st $(last_json .code) $(last_header www-authenticate | cut -d' ' -f1)" "401 unauthorized Bearer"
  else
    expect "$1" "$st" "$3"
  fi
}

GOOD=$(jwt_forge "$HS" "$(claims m-1 $((NOW + 600)))" "$K")
try "control: a valid token gets past authentication" "$GOOD" 404
try "alg none, no signature" "$(printf '%s' '{"alg":"none","typ":"JWT"}' | b64url).$(claims m-1 $((NOW + 600)) | b64url)."
try "alg none, with the real signature" "$(printf '%s' '{"alg":"none","typ":"JWT"}' | b64url).$(claims m-1 $((NOW + 600)) | b64url).$(cut -d. -f3 <<<"$GOOD")"
try "alg NONE" "$(jwt_forge '{"alg":"NONE"}' "$(claims m-1 $((NOW + 600)))" "$K")"
try "HS512 with the right key" "$(jwt_forge '{"alg":"HS512","typ":"JWT"}' "$(claims m-1 $((NOW + 600)))" "$K" sha512)"
try "HS384 with the right key" "$(jwt_forge '{"alg":"HS384","typ":"JWT"}' "$(claims m-1 $((NOW + 600)))" "$K" sha384)"
try "RS256 header, HMAC signature (key confusion)" "$(jwt_forge '{"alg":"RS256","typ":"JWT"}' "$(claims m-1 $((NOW + 600)))" "$K")"
try "HS256 header, HS512 signature" "$(jwt_forge "$HS" "$(claims m-1 $((NOW + 600)))" "$K" sha512)"
try "signed with another key" "$(jwt_forge "$HS" "$(claims m-1 $((NOW + 600)))" "another-secret-0123456789abcdef-xyz")"
sig=$(cut -d. -f3 <<<"$GOOD")
flip=$([ "${sig:0:1}" == A ] && echo B || echo A)
try "one signature character changed" "$(cut -d. -f1,2 <<<"$GOOD").$flip${sig:1}"
try "signature dropped" "$(cut -d. -f1,2 <<<"$GOOD")."
try "claims swapped under a valid signature" "$(cut -d. -f1 <<<"$GOOD").$(claims m-2 $((NOW + 600)) | b64url).$sig"
try "expired (beyond the 30 s leeway)" "$(jwt_forge "$HS" "$(claims m-1 $((NOW - 120)))" "$K")"
try "nbf in the future" "$(jwt_forge "$HS" "$(claims m-1 $((NOW + 600)) ",\"nbf\":$((NOW + 300))")" "$K")"
try "iat in the future" "$(jwt_forge "$HS" "$(printf '{"sub":"m-1","iss":"%s","aud":"%s","iat":%d,"exp":%d}' $ISS $AUD $((NOW + 300)) $((NOW + 600)))" "$K")"
try "exp missing" "$(jwt_forge "$HS" "$(printf '{"sub":"m-1","iss":"%s","aud":"%s"}' $ISS $AUD)" "$K")"
try "exp a string" "$(jwt_forge "$HS" "$(printf '{"sub":"m-1","iss":"%s","aud":"%s","exp":"%d"}' $ISS $AUD $((NOW + 600)))" "$K")"
try "wrong iss" "$(jwt_forge "$HS" "$(printf '{"sub":"m-1","iss":"evil","aud":"%s","exp":%d}' $AUD $((NOW + 600)))" "$K")"
try "iss missing" "$(jwt_forge "$HS" "$(printf '{"sub":"m-1","aud":"%s","exp":%d}' $AUD $((NOW + 600)))" "$K")"
try "wrong aud" "$(jwt_forge "$HS" "$(printf '{"sub":"m-1","iss":"%s","aud":"other","exp":%d}' $ISS $((NOW + 600)))" "$K")"
try "sub with a space" "$(jwt_forge "$HS" "$(claims 'm 1' $((NOW + 600)))" "$K")"
try "sub missing" "$(jwt_forge "$HS" "$(printf '{"iss":"%s","aud":"%s","exp":%d}' $ISS $AUD $((NOW + 600)))" "$K")"
try "crit header" "$(jwt_forge '{"alg":"HS256","crit":["exp"]}' "$(claims m-1 $((NOW + 600)))" "$K")"
try "typ not JWT" "$(jwt_forge '{"alg":"HS256","typ":"JWE"}' "$(claims m-1 $((NOW + 600)))" "$K")"
try "malformed base64 (*)" "$(cut -d. -f1 <<<"$GOOD").*$(cut -d. -f2 <<<"$GOOD").$sig"
try "base64 with padding" "$(cut -d. -f1 <<<"$GOOD")=.$(cut -d. -f2,3 <<<"$GOOD")"
try "standard base64 alphabet (+/)" "$(cut -d. -f1 <<<"$GOOD")+/.$(cut -d. -f2,3 <<<"$GOOD")"
try "two segments" "$(cut -d. -f1,2 <<<"$GOOD")"
try "four segments" "$GOOD.$sig"
try "header not JSON" "$(printf 'nope' | b64url).$(cut -d. -f2,3 <<<"$GOOD")"
try "empty token" ""
try "10 KB token" "$(head -c 10240 /dev/zero | tr '\0' 'A').$(cut -d. -f2,3 <<<"$GOOD")"
expect "Basic scheme" "$(req POST "$URL" -H "Authorization: Basic $(printf 'a:b' | base64)" -H 'Content-Type: application/json' --data '{}')" 401
expect "token in the query string is not read" "$(req POST "$URL?access_token=$GOOD" -H 'Content-Type: application/json' --data '{}')" 401
expect "entries/me with an expired token" "$(req GET "$T_API/v1/events/$NOEV/entries/me" -H "Authorization: Bearer $(jwt_forge "$HS" "$(claims m-1 $((NOW - 120)))" "$K")")" 401
stop_all

# Start-up refuses a weak or missing secret (and says why).
for bad in "JWT_SECRET=short" "JWT_SECRET=" "JWT_SECRET_FILE=/nonexistent/secret"; do
  env "$bad" LISTEN_ADDR=127.0.0.1:$((T_API_PORT + 1)) timeout 10 "$BIN_API" >"$T_DIR/refuse.log" 2>&1 && rc=0 || rc=$?
  expect "start-up with $bad exits 1" "$rc" 1
  expect "start-up with $bad says why" "$(grep -c 'JWT_SECRET' "$T_DIR/refuse.log" | awk '{print ($1 > 0)}')" 1
done
finish
