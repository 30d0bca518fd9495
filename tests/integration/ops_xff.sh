#!/usr/bin/env bash
# ops_xff: entry-api believes X-Forwarded-For only from TRUSTED_PROXIES.
#
#   - a malformed TRUSTED_PROXIES (bad address, prefix past /32 or /128, host
#     bits, stray comma, garbage) stops entry-api at start-up: exit 1 and one
#     line naming the bad item;
#   - trusted peer (TRUSTED_PROXIES=127.0.0.1): a request carrying
#     "X-Forwarded-For: 6.6.6.6, 203.0.113.7" is logged with client
#     203.0.113.7 (the spoofed leftmost entry is ignored); junk in the header
#     or no header: the peer; several header lines read as one list;
#     `Forwarded: for=1.2.3.4` alone is ignored;
#   - untrusted peer (TRUSTED_PROXIES empty, or 10.0.0.0/8): the same
#     requests are logged with client 127.0.0.1;
#   - the log lines of an entry POST (entry.c) carry the same client;
#   - through HAProxy (deploy/haproxy/haproxy.cfg): a client at 127.0.0.2
#     forging both headers is logged as 127.0.0.2, while the same client
#     talking to entry-api directly cannot name itself with the header.
source "$(dirname "$0")/../lib.sh"

API_T=28080 API_NONE=28081 API_NET=28082 HA_PORT=28088 HA_STATS=28089
# rc CMD...: the exit code, stderr kept in $T_DIR/err
rc() {
  local r=0
  "$@" >"$T_DIR/out" 2>"$T_DIR/err" || r=$?
  echo "$r"
}

# ---- malformed TRUSTED_PROXIES: refused at start-up ---------------------------
bad_values=(
  '10.0.0.0/33|"10.0.0.0/33": prefix length must be a number from 0 to 32'
  '::/129|"::/129": prefix length must be a number from 0 to 128'
  '127.0.0.1, 300.1.1.1|"300.1.1.1": not an IPv4 or IPv6 address'
  '10.0.0.1/8|"10.0.0.1/8": bits set past the /8 prefix (host part must be 0)'
  '127.0.0.1,,::1|empty item at position 2 (stray comma?)'
  'garbage|"garbage": not an IPv4 or IPv6 address'
  '10.0.0.0/x|"10.0.0.0/x": prefix length must be a number from 0 to 32'
)
for bv in "${bad_values[@]}"; do
  v=${bv%%|*} want=${bv#*|}
  r=$(rc env TRUSTED_PROXIES="$v" LISTEN_ADDR="127.0.0.1:$API_T" WORKERS=1 timeout 20 "$BIN_API")
  expect "TRUSTED_PROXIES='$v': exit code" "$r" 1
  expect "TRUSTED_PROXIES='$v': names the bad item" "$(grep -c -x -F "TRUSTED_PROXIES: $want" "$T_DIR/err")" 1
done
expect "a good list passes --check-config" \
  "$(rc env TRUSTED_PROXIES=' 127.0.0.1, 10.0.0.0/8, ::1/128 ' "$BIN_API" --check-config)" 0
expect "--check-config shows it" "$(grep -c -x -F 'TRUSTED_PROXIES= 127.0.0.1, 10.0.0.0/8, ::1/128 ' "$T_DIR/out")" 1

# ---- three instances: trusting 127.0.0.1, nobody, and 10.0.0.0/8 ------------
start_api api-trust $API_T WORKERS=1 LOG_LEVEL=debug TRUSTED_PROXIES=127.0.0.1
start_api api-none $API_NONE WORKERS=1 LOG_LEVEL=debug
start_api api-net $API_NET WORKERS=1 LOG_LEVEL=debug TRUSTED_PROXIES=10.0.0.0/8

# client_of NAME TAG: the client field of NAME's request log line for /healthz?t=TAG
client_of() {
  grep -F "\"GET /healthz?t=$2 -> 200" "$T_DIR/$1.log" | jq -r '.client' | paste -sd, -
}
# ask PORT TAG [curl args]: GET /healthz?t=TAG on PORT
ask() {
  local port=$1 tag=$2
  shift 2
  curl -sf -o /dev/null "$@" "http://127.0.0.1:$port/healthz?t=$tag"
}
XFF=(-H 'X-Forwarded-For: 6.6.6.6, 203.0.113.7')
for p in $API_T $API_NONE $API_NET; do
  ask "$p" spoof "${XFF[@]}"
  ask "$p" forwarded -H 'Forwarded: for=1.2.3.4'
  ask "$p" none
  ask "$p" junk -H 'X-Forwarded-For: 203.0.113.7, unknown'
  ask "$p" lines -H 'X-Forwarded-For: 6.6.6.6' -H 'X-Forwarded-For: 198.51.100.4'
  ask "$p" v6 -H 'X-Forwarded-For: 2001:db8::7'
done
expect "trusted peer, XFF '6.6.6.6, 203.0.113.7'" "$(client_of api-trust spoof)" 203.0.113.7
expect "trusted peer, Forwarded alone ignored" "$(client_of api-trust forwarded)" 127.0.0.1
expect "trusted peer, no header" "$(client_of api-trust none)" 127.0.0.1
expect "trusted peer, junk rightmost entry: the peer" "$(client_of api-trust junk)" 127.0.0.1
expect "trusted peer, two header lines: the nearest" "$(client_of api-trust lines)" 198.51.100.4
expect "trusted peer, IPv6 entry" "$(client_of api-trust v6)" 2001:db8::7
for name in api-none api-net; do
  for tag in spoof forwarded none junk lines v6; do
    expect "$name (peer not trusted), $tag" "$(client_of $name $tag)" 127.0.0.1
  done
done

# ---- an entry POST's own log lines carry the client too ---------------------
# A survey that does not parse makes entry.c log an error about the request
# (503), without publishing anything.
EV=$((990000000 + $$ % 1000000))
redis_q SET "ev:{$EV}:survey" 'not json' >/dev/null
TOKEN=$("$BIN_CTL" token "xff-$$")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "${XFF[@]}" \
  -H 'Content-Type: application/json' -d '{"answers":{"q1":"yes"}}' "http://127.0.0.1:$API_T/v1/events/$EV/entries")
redis_q DEL "ev:{$EV}:survey" >/dev/null
expect "entry with a broken survey: 503" "$code" 503
expect "entry.c's error line names the client" \
  "$(grep -F 'armed survey is invalid' "$T_DIR/api-trust.log" | jq -r "select(.event_id == $EV) | .client")" 203.0.113.7

# ---- through HAProxy ------------------------------------------------------------
command -v haproxy >/dev/null || apt-get install -y -q --no-install-recommends haproxy >/dev/null
env GD_HAPROXY_BIND="127.0.0.1:$HA_PORT" GD_HAPROXY_STATS_BIND="127.0.0.1:$HA_STATS" \
  GD_HAPROXY_SOCKET="$T_DIR/haproxy.sock" GD_API1="127.0.0.1:$API_T" GD_API2="127.0.0.1:$API_T" \
  haproxy -db -f "$GD_SOURCE_DIR/deploy/haproxy/haproxy.cfg" >>"$T_DIR/haproxy.log" 2>&1 &
T_PIDS+=($!)
wait_http "http://127.0.0.1:$HA_STATS/healthz" 10
# The client is 127.0.0.2 (its own source address); HAProxy connects from 127.0.0.1.
for _ in $(seq 1 50); do
  curl -sf -o /dev/null --interface 127.0.0.2 "http://127.0.0.1:$HA_PORT/healthz?t=warmup" && break
  sleep 0.1
done
curl -sf -o /dev/null --interface 127.0.0.2 "${XFF[@]}" -H 'Forwarded: for=1.2.3.4' \
  "http://127.0.0.1:$HA_PORT/healthz?t=haproxy"
curl -sf -o /dev/null --interface 127.0.0.3 "http://127.0.0.1:$HA_PORT/healthz?t=haproxy3"
curl -sf -o /dev/null --interface 127.0.0.2 "${XFF[@]}" "http://127.0.0.1:$API_T/healthz?t=direct"
expect "via HAProxy: the client HAProxy saw, forged headers replaced" "$(client_of api-trust haproxy)" 127.0.0.2
expect "via HAProxy: another client address" "$(client_of api-trust haproxy3)" 127.0.0.3
expect "direct from 127.0.0.2 (not a proxy): the header is ignored" "$(client_of api-trust direct)" 127.0.0.2
finish
