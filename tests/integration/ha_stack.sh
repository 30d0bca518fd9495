#!/usr/bin/env bash
# ha_stack: `deploy/local/stack up --ha` for real (DESIGN §10), in a private
# network namespace and its own GD_STACK_DIR: the shared stack (single-node,
# on the same ports) is neither stopped nor touched, and nothing of this test
# is reachable from outside the namespace.
#
#   - up --ha: three RabbitMQ nodes in one cluster, every quorum queue of
#     definitions-ha.json with a member on each (group size 3, delivery limit
#     and dead-letter exchange as single-node); Redis primary + 2 replicas
#     with 3 Sentinels agreeing on it; PostgreSQL primary + synchronous
#     standby under pg_auto_failover, migrations applied and replicated;
#     `stack status` shows the roles, `stack env` the HA settings;
#   - kill -9 of the node leading stock.entries: another leads, confirmed
#     publishes (management API, publisher confirms) go on, the confirmed
#     messages published before are all still there;
#   - kill -9 of the Redis primary: the Sentinels promote a replica, a key
#     written (WAIT 1) before is on it, it takes writes;
#   - kill -9 of the PostgreSQL primary (pg_autoctl and postgres): the standby
#     takes writes through the multi-host URI, the row committed before is there;
#   - `stack start` of each: back as follower / replica / secondary;
#   - `stack down` leaves nothing running.
#   - down, then up --ha again: the Redis primary as before, a PostgreSQL
#     primary and a secondary, the messages and rows still there.
# Prints the boot and failover times.  About 3 minutes on 2 cores: only with
# GD_TEST_HA=1 (`GD_TEST_HA=1 tests/run -R ha_stack`).
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${GD_BUILD_DIR:-$SRC/build}

if [ "${1:-}" != --inside ] && [ "${GD_TEST_HA:-0}" != 1 ]; then
  echo "ha_stack: skipped (about 3 minutes; set GD_TEST_HA=1 to run it)"
  echo "0 passed, 0 failed"
  exit 0
fi
source "$SRC/tests/stack_ns.sh"
stack_ns_enter ha-stack "$@"

# ---- inside the namespace (STACK, down: tests/stack_ns.sh) -----------------
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }
mgmt() { curl -sf -m 5 -u guest:guest "http://127.0.0.1:$((15671 + $1))$2"; }
# publish NODE: one persistent message to event.entry through NODE's
# management API, which publishes with publisher confirms: "true" = routed
# and confirmed by stock.entries.
publish() {
  curl -s -m 10 -u guest:guest -H 'content-type: application/json' -X POST \
    -d '{"properties":{"delivery_mode":2},"routing_key":"event.entry.0","payload":"{}","payload_encoding":"string"}' \
    "http://127.0.0.1:$((15671 + $1))/api/exchanges/%2F/event.entry/publish" | jq -r '.routed // "error"' 2>/dev/null || echo error
}
leader() { mgmt "$1" /api/queues/%2F/stock.entries | jq -r '.leader // empty' 2>/dev/null || true; }
depth() { mgmt "$1" /api/queues/%2F/stock.entries | jq -r '.messages // empty' 2>/dev/null || true; }
# role NODE: the STATE column of `stack status` (after NODE, PID, ADDRESS)
role() { "$STACK" status | awk -v n="$1" '$1 == n {s = substr($0, 70); gsub(/  +/, " ", s); print s}'; }
rcli() { timeout 5 redis-cli -h 127.0.0.1 -p "$@" 2>&1 | tr -d '\r'; }
export PGPASSWORD=giftdrop PGCONNECT_TIMEOUT=2
HA_URL='postgresql://giftdrop@127.0.0.1:5432,127.0.0.1:5433/giftdrop?target_session_attrs=read-write'
psql_at() { psql -X -q -At "$@" 2>&1; }

t0=$(now)
"$STACK" up --ha >"$GD_STACK_DIR.up.log" 2>&1 || { tail -n 40 "$GD_STACK_DIR.up.log"; exit 1; }
cold_s=$(since "$t0")
log "cold 'stack up --ha': $cold_s s"
expect "mode remembered" "$(cat "$GD_STACK_DIR/mode")" ha
expect "stack env" "$("$STACK" env | head -n 5)" "export AMQP_URL=amqp://guest:guest@127.0.0.1:5672,amqp://guest:guest@127.0.0.1:5673,amqp://guest:guest@127.0.0.1:5674
export REDIS_URL=redis://127.0.0.1:6379
export REDIS_SENTINELS=127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381
export REDIS_MASTER_NAME=giftdrop
export DATABASE_URL='postgresql://giftdrop:giftdrop@127.0.0.1:5432,127.0.0.1:5433/giftdrop?target_session_attrs=read-write'"

# ---- roles after boot -------------------------------------------------------
expect "rabbitmq: three running nodes in one cluster" \
  "$(mgmt 2 '/api/nodes?columns=name,running' | jq -r '[.[] | select(.running) | .name] | sort | join(" ")')" \
  "rabbitmq-1@localhost rabbitmq-2@localhost rabbitmq-3@localhost"
qs=$(mgmt 1 '/api/queues/%2F?columns=name,type,members,arguments')
expect "rabbitmq: quorum queues with a member on each node" \
  "$(jq -r '[.[] | select(.type == "quorum") | "\(.name):\(.members | length)"] | sort | join(" ")' <<<"$qs")" \
  "notify.dlq:3 notify.kakao:3 notify.retry.1s:3 notify.retry.30s:3 notify.retry.5s:3 notify.sms:3 stock.entries.dlq:3 stock.entries:3"
expect "rabbitmq: stock.entries group size, delivery limit, dead letters" \
  "$(jq -r '.[] | select(.name == "stock.entries") | .arguments | "\(.["x-quorum-initial-group-size"]) \(.["x-delivery-limit"]) \(.["x-dead-letter-exchange"]) \(.["x-dead-letter-strategy"])"' <<<"$qs")" \
  "3 5 event.dlx at-least-once"
expect "rabbitmq: only the guest user" "$(mgmt 3 /api/users | jq -r '[.[].name] | join(",")')" guest
L=$(leader 1)
LN=${L%@localhost}
expect "rabbitmq: stock.entries has a leader" "$([[ $LN =~ ^rabbitmq-[1-3]$ ]] && echo yes)" yes
expect "status: $LN leads stock.entries" "$(role "$LN")" "running leader of stock.entries"
for n in 1 2 3; do
  [ "rabbitmq-$n" == "$LN" ] || expect "status: rabbitmq-$n follows" "$(role "rabbitmq-$n")" "running follower"
done
expect "status: redis-1 primary" "$(role redis-1)" "running master, 2 replicas, primary for the Sentinels"
expect "status: redis-2 replica" "$(role redis-2)" "running replica of :6379 (link up)"
expect "status: redis-3 replica" "$(role redis-3)" "running replica of :6379 (link up)"
for n in 1 2 3; do
  expect "sentinel-$n names the primary" "$(rcli $((26378 + n)) sentinel get-master-addr-by-name giftdrop | paste -sd:)" "127.0.0.1:6379"
done
expect "status: postgres-1 primary" "$(role postgres-1)" "running primary"
expect "status: postgres-2 secondary" "$(role postgres-2)" "running secondary"
expect "postgres-1: a synchronous standby" \
  "$(psql_at -h 127.0.0.1 -p 5432 -U giftdrop -d giftdrop -c 'SHOW synchronous_standby_names')" "ANY 1 (pgautofailover_standby_2)"
n_mig=$(find "$SRC/deploy/postgres" -maxdepth 1 -name '*.sql' | wc -l)
expect "postgres-2: migrations replicated, read-only" \
  "$(psql_at -h 127.0.0.1 -p 5433 -U giftdrop -d giftdrop -c 'SELECT count(*) FROM schema_migrations' -c 'SELECT pg_is_in_recovery()' | paste -sd' ')" \
  "$n_mig t"
expect "status: fake-provider (HA_APPS)" "$(role fake-provider)" running
expect "single-node 'up' refused while HA runs" \
  "$("$STACK" up --infra 2>&1 | tail -n 1)" "stack: ERROR: the HA stack runs (stack status); 'stack down' first, then 'stack up'"
# For the record: the group size a quorum queue gets without the argument.
curl -sf -u guest:guest -X PUT -H 'content-type: application/json' -d '{"durable":true,"arguments":{"x-queue-type":"quorum"}}' \
  http://127.0.0.1:15672/api/queues/%2F/ha.probe >/dev/null
log "a quorum queue declared without x-quorum-initial-group-size: $(mgmt 1 /api/queues/%2F/ha.probe | jq '.members | length') members"
curl -sf -u guest:guest -X DELETE http://127.0.0.1:15672/api/queues/%2F/ha.probe >/dev/null

# ---- RabbitMQ: kill -9 the node leading stock.entries ----------------------
ok=0
for _ in $(seq 1 20); do [ "$(publish 1)" == true ] && ok=$((ok + 1)); done
expect "20 confirmed publishes before" "$ok" 20
other=1
[ "$LN" != rabbitmq-1 ] || other=2
for _ in $(seq 1 30); do [ "$(depth "$other")" == 20 ] && break; sleep 1; done
expect "stock.entries holds them" "$(depth "$other")" 20
"$STACK" kill "$LN" >/dev/null
t0=$(now)
nl=''
for _ in $(seq 1 300); do
  nl=$(leader "$other")
  [ -n "$nl" ] && [ "$nl" != "$L" ] && [ "$(publish "$other")" == true ] && break
  sleep 0.1
done
rmq_s=$(since "$t0")
log "rabbitmq: new leader $nl, confirmed publish through rabbitmq-$other $rmq_s s after the kill"
expect "rabbitmq: another node leads" "$([ -n "$nl" ] && [ "$nl" != "$L" ] && echo yes)" yes
expect "rabbitmq: confirmed publish after the failover" "$(publish "$other")" true
for _ in $(seq 1 30); do [ "$(depth "$other")" == 22 ] && break; sleep 1; done
expect "rabbitmq: nothing confirmed was lost (20 + 2)" "$(depth "$other")" 22
expect "status: $LN stopped" "$(role "$LN")" stopped
expect "status: ${nl%@localhost} leads" "$(role "${nl%@localhost}")" "running leader of stock.entries"

# ---- Redis: kill -9 the primary --------------------------------------------
expect "redis: a key on the primary, on both replicas" \
  "$(rcli 6379 set ha:probe before) $(rcli 6379 wait 2 2000)" "OK 2"
"$STACK" kill redis-1 >/dev/null
t0=$(now)
np=''
for _ in $(seq 1 600); do
  np=$(rcli 26380 sentinel get-master-addr-by-name giftdrop | sed -n 2p)
  [ -n "$np" ] && [ "$np" != 6379 ] && break
  sleep 0.1
done
promo_s=$(since "$t0")
for _ in $(seq 1 300); do [ "$(rcli "$np" set ha:probe after)" == OK ] && break; sleep 0.1; done
redis_s=$(since "$t0")
log "redis: Sentinels promoted :$np $promo_s s after the kill, writable $redis_s s after"
expect "redis: a replica promoted" "$([[ $np == 6380 || $np == 6381 ]] && echo yes)" yes
expect "redis: it is the primary" "$(rcli "$np" info replication | sed -n 's/^role://p')" master
expect "redis: the key written before is there, then overwritten" "$(rcli "$np" get ha:probe)" after
expect "status: redis-1 stopped" "$(role redis-1)" stopped

# ---- PostgreSQL: kill -9 the primary (pg_autoctl + postgres) ---------------
psql_at "$HA_URL" -c 'CREATE TABLE ha_probe (at text)' -c "INSERT INTO ha_probe VALUES ('before')" >/dev/null
"$STACK" kill postgres-1 >/dev/null
t0=$(now)
for _ in $(seq 1 900); do
  psql_at "$HA_URL" -c "INSERT INTO ha_probe VALUES ('after')" >/dev/null && break
  sleep 0.1
done
pg_s=$(since "$t0")
log "postgres: writable through the multi-host URI $pg_s s after the kill"
expect "postgres: both rows, on postgres-2" \
  "$(psql_at "$HA_URL" -c 'SELECT string_agg(at, $$,$$ ORDER BY at) FROM ha_probe' -c 'SELECT inet_server_port()' | paste -sd' ')" "after,before 5433"
expect "status: postgres-1 stopped" "$(role postgres-1)" stopped
expect "status: postgres-2 primary" "$(role postgres-2)" "running wait_primary"

# ---- stack start: each rejoins -----------------------------------------------
t0=$(now)
"$STACK" start "$LN" >"$GD_STACK_DIR.start.log" 2>&1 || tail -n 20 "$GD_STACK_DIR.start.log"
log "rabbitmq: $LN back in $(since "$t0") s"
expect "status: $LN back, a follower" "$(role "$LN")" "running follower"
expect "rabbitmq: stock.entries online on 3 nodes" "$(mgmt "$other" /api/queues/%2F/stock.entries | jq '.online | length')" 3
t0=$(now)
"$STACK" start redis-1 >"$GD_STACK_DIR.start.log" 2>&1 || tail -n 20 "$GD_STACK_DIR.start.log"
log "redis: redis-1 back in $(since "$t0") s"
expect "status: redis-1 back, a replica" "$(role redis-1)" "running replica of :$np (link up)"
expect "redis-1 has the key" "$(rcli 6379 get ha:probe)" after
for _ in $(seq 1 50); do [ "$(rcli 26381 sentinel master giftdrop | awk 'NR % 2 {k = $0; next} k == "num-slaves"')" == 2 ] && break; sleep 0.2; done
expect "sentinels: 2 replicas again" "$(rcli 26381 sentinel master giftdrop | awk 'NR % 2 {k = $0; next} k == "num-slaves"')" 2
t0=$(now)
"$STACK" start postgres-1 >"$GD_STACK_DIR.start.log" 2>&1 || tail -n 20 "$GD_STACK_DIR.start.log"
log "postgres: postgres-1 back in $(since "$t0") s"
expect "status: postgres-1 back, secondary" "$(role postgres-1)" "running secondary"
expect "status: postgres-2 primary" "$(role postgres-2)" "running primary"
expect "postgres-1: read-only, has both rows" \
  "$(psql_at -h 127.0.0.1 -p 5432 -U giftdrop -d giftdrop -c 'SELECT pg_is_in_recovery()' -c 'SELECT count(*) FROM ha_probe' | paste -sd' ')" "t 2"
expect "postgres-2: a synchronous standby again" \
  "$(psql_at -h 127.0.0.1 -p 5433 -U giftdrop -d giftdrop -c 'SHOW synchronous_standby_names')" "ANY 1 (pgautofailover_standby_1)"

# ---- down and up again: the roles and the data stay ------------------------
down
t0=$(now)
"$STACK" up --ha >"$GD_STACK_DIR.up.log" 2>&1 || { tail -n 40 "$GD_STACK_DIR.up.log"; exit 1; }
warm_s=$(since "$t0")
log "warm 'stack up --ha' after the failovers: $warm_s s"
expect "warm: three running nodes" "$(mgmt 1 '/api/nodes?columns=name,running' | jq '[.[] | select(.running)] | length')" 3
expect "warm: stock.entries kept its 22 messages" "$(for _ in $(seq 1 30); do d=$(depth 1); [ "$d" == 22 ] && break; sleep 1; done; echo "$d")" 22
rn=redis-$((np - 6378))
expect "warm: $rn still the Redis primary" "$(role "$rn")" "running master, 2 replicas, primary for the Sentinels"
expect "warm: redis-1 still a replica" "$(role redis-1)" "running replica of :$np (link up)"
# (pg_auto_failover may hand the primary role to the other node when its
# keeper reports before its postgres is up: either way one of each.)
expect "warm: a PostgreSQL primary and a secondary" \
  "$(for n in 1 2; do role "postgres-$n"; done | sort | paste -sd,)" "running primary,running secondary"
expect "warm: both rows" "$(psql_at "$HA_URL" -c 'SELECT count(*) FROM ha_probe')" 2

log "figures: cold up ${cold_s}s, rabbitmq ${rmq_s}s, redis promoted ${promo_s}s / writable ${redis_s}s, postgres ${pg_s}s, warm up ${warm_s}s"
down
trap - EXIT
expect "down: every node stopped" "$("$STACK" status | awk 'NR > 2 && NF && $1 != "data:" && $NF != "stopped"' | wc -l)" 0
expect "down: nothing listens" "$(ss -Hltn | wc -l)" 0
tally
