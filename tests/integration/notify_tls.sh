#!/usr/bin/env bash
# notify_tls: the provider over HTTPS with certificate verification on.
# A CA and a server certificate for 127.0.0.1 are made here with openssl
# (in the test's temp dir, never committed).
#   1. PROVIDER_CA_FILE names the test CA: 100 winners are sent over HTTPS.
#   2. Without it the certificate is untrusted: nothing is sent, the ledger
#      rows stay 'sending' with a clear TLS error, the log says why, and the
#      endpoint saw no request at all (the handshake failed first).
#   3. The operator fixes the setting: the same winners go out, once each.
source "$(dirname "$0")/../lib.sh"

N=100
no_foreign_consumers
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=giftdrop test CA" \
  -keyout "$T_DIR/ca.key" -out "$T_DIR/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -keyout "$T_DIR/srv.key" \
  -out "$T_DIR/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T_DIR/san.ext"
openssl x509 -req -in "$T_DIR/srv.csr" -CA "$T_DIR/ca.pem" -CAkey "$T_DIR/ca.key" -CAcreateserial \
  -days 1 -extfile "$T_DIR/san.ext" -out "$T_DIR/srv.pem" 2>/dev/null
notify_fake tls 29094 --latency-ms 5 --jitter-ms 2 --tls-cert "$T_DIR/srv.pem" --tls-key "$T_DIR/srv.key"
URL=https://127.0.0.1:29094
COMMON=(PROVIDER_URL=$URL PROVIDER_TIMEOUT_MS=2000 NOTIFY_RETRY_SCHEDULE=1 NOTIFY_MAX_ATTEMPTS=100)

# 1. trusted
EV1=$(notify_event $((N + 10)) 10)
notify_start notifier "${COMMON[@]}" PROVIDER_CA_FILE="$T_DIR/ca.pem"
notify_publish "$EV1" $N --kakao-percent 50
notify_wait "$EV1" $N 60 || true
expect "HTTPS with the test CA: sent" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV1 AND status='sent'")" $N
stop_all
notify_fake tls 29094 --latency-ms 5 --jitter-ms 2 --tls-cert "$T_DIR/srv.pem" --tls-key "$T_DIR/srv.key"
BEFORE=$(wc -l <"$T_DIR/tls.jsonl")

# 2. untrusted (the system's CAs do not know ours)
EV2=$(notify_event $((N + 10)) 10)
notify_start untrusted "${COMMON[@]}"
notify_publish "$EV2" $N --first 1001 --kakao-percent 50
sleep 4
expect "untrusted: sent" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV2 AND status='sent'")" 0
expect "untrusted: requests the endpoint saw" "$(($(wc -l <"$T_DIR/tls.jsonl") - BEFORE))" 0
TLS_ERR=$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV2 AND status='sending'
  AND last_error LIKE '%TLS: SSL certificate problem%'")
expect "untrusted: rows with the TLS error (some)" "$([ "$TLS_ERR" -gt 0 ] && echo yes || echo "no ($TLS_ERR)")" yes
expect "untrusted: the log says why" \
  "$([ "$(notify_log_count 'TLS: SSL certificate problem' untrusted)" -gt 0 ] && echo yes || echo no)" yes
psql_q "SELECT last_error FROM notifications WHERE event_id=$EV2 AND last_error IS NOT NULL LIMIT 1" |
  sed "s/^/[$T_NAME] untrusted: last_error: /"
kill -TERM "$PID_untrusted"
wait "$PID_untrusted" 2>/dev/null || true

# 3. fixed: the same winners, exactly once
notify_start fixed "${COMMON[@]}" PROVIDER_CA_FILE="$T_DIR/ca.pem"
notify_wait "$EV2" $N 90 || true
notify_check_once "$EV2" $N tls
finish
