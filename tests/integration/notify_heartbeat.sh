#!/usr/bin/env bash
# notify_heartbeat: a provider that takes 4 s to answer, an AMQP heartbeat
# of 1 s (the broker drops a connection silent for 2 s).  rabbitmq-c only
# heartbeats while called (PITFALLS): a notifier blocked in a send would
# lose its connection and have every delivery in flight requeued.  Here the
# loop keeps calling it while 300 sends wait: one consuming connection from
# start to end, none lost, every winner sent once.
source "$(dirname "$0")/../lib.sh"

N=300
no_foreign_consumers
EV=$(notify_event $((N + 10)) 10)
notify_fake fake1 29091 --latency-ms 4000 --jitter-ms 200
notify_start notifier PROVIDER_URL=http://127.0.0.1:29091 PROVIDER_TIMEOUT_MS=15000 \
  AMQP_HEARTBEAT_S=1 NOTIFY_CONCURRENCY=400 AMQP_PREFETCH=400
# consume_conn: the notifier's consuming connection as the broker lists it
consume_conn() {
  curl -sf -u guest:guest "$MGMT_URL/api/connections" | jq -r '.[] | select(.client_properties.connection_name |
    test("^notifier-consumer@notifier:[0-9]+/consume$")) | .name'
}
CONN=
for _ in $(seq 1 40); do # the management API lists a new connection within a few seconds
  CONN=$(consume_conn)
  [ -n "$CONN" ] && break
  sleep 0.25
done
notify_publish "$EV" $N --kakao-percent 50
notify_wait "$EV" $N 60 || true
AFTER=$(consume_conn)
log "consume connection: $CONN (heartbeat $(curl -sf -u guest:guest "$MGMT_URL/api/connections/$(jq -rn --arg n "$CONN" '$n|@uri')" | jq .timeout) s)"
notify_check_once "$EV" $N fake1
expect "the same consume connection throughout" "$([ -n "$CONN" ] && [ "$CONN" == "$AFTER" ] && echo yes || echo "no ($CONN / $AFTER)")" yes
expect "consume connection drops" "$(notify_log_count 'connection lost' notifier)" 0
expect "deliveries seen twice (duplicates)" "$(psql_q "SELECT count(*) FROM notifications WHERE event_id=$EV AND attempts > 1")" 0
finish
