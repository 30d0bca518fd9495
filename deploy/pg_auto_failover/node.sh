#!/bin/sh
# gd-pg-node monitor|postgres|migrate: one container of docker-compose.ha.yml's
# PostgreSQL (pg_auto_failover), the way deploy/local/stack up --ha runs it:
#
#   monitor   the pg_auto_failover monitor (created once, then `pg_autoctl run`)
#   postgres  a node: the first one registered with the monitor is initialised
#             here and becomes the primary; a later one (or one whose volume
#             was lost) is cloned from the primary as its synchronous standby
#   migrate   once the primary takes writes (multi-host URI): role and
#             database giftdrop, then every /migrations/*.sql not yet in
#             schema_migrations, each in one transaction
#
# Environment: POSTGRES_PASSWORD (superuser postgres and role giftdrop),
# GD_PG_SUBNET (the compose network, trusted for pg_auto_failover's own
# roles only), GD_PG_MONITOR (monitor host), GD_PG_NODE_NAME, DATABASE_HOSTS.
set -eu
die() {
  printf 'gd-pg-node: %s\n' "$1" >&2
  exit 1
}
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
subnet=${GD_PG_SUBNET:-172.30.81.0/24}
monitor=${GD_PG_MONITOR:-pg-monitor}
host=$(hostname)

# Our own pg_hba.conf (pg_autoctl --skip-pg-hba): the app by password,
# pg_auto_failover's roles trusted from the compose network only.
init_db() {
  pw=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
  initdb -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 --pwfile="$pw" \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  cat >"$PGDATA/pg_hba.conf" <<HBA
local all postgres peer
local pg_auto_failover autoctl_node trust
local all all peer
host pg_auto_failover autoctl_node $subnet trust
host all pgautofailover_monitor $subnet trust
host replication pgautofailover_replicator $subnet trust
host all pgautofailover_replicator $subnet trust
host all all $subnet scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
HBA
  printf "include = 'giftdrop.conf'\n" >>"$PGDATA/postgresql.conf"
  cat >"$PGDATA/giftdrop.conf" <<CONF
listen_addresses = '*'
max_connections = 200
shared_buffers = 256MB
logging_collector = off
CONF
}

case ${1:-} in
monitor)
  if [ ! -f "$PGDATA.created" ]; then
    [ -f "$PGDATA/PG_VERSION" ] || init_db
    cat >>"$PGDATA/giftdrop.conf" <<CONF
pgautofailover.health_check_period = 1000
pgautofailover.health_check_timeout = 2000
pgautofailover.health_check_max_retries = 2
pgautofailover.health_check_retry_delay = 1000
pgautofailover.node_considered_unhealthy_timeout = 5000
pgautofailover.primary_demote_timeout = 10000
CONF
    pg_autoctl create monitor --pgdata "$PGDATA" --pgport 5432 --hostname "$host" --skip-pg-hba --no-ssl
    touch "$PGDATA.created"
  fi
  exec pg_autoctl run --pgdata "$PGDATA"
  ;;
postgres)
  uri="postgres://autoctl_node@$monitor:5432/pg_auto_failover?sslmode=disable"
  if [ ! -f "$PGDATA.created" ]; then
    n=$(psql -X -At -d "$uri" -c 'SELECT count(*) FROM pgautofailover.node') || die "monitor $monitor unreachable"
    if [ "$n" = 0 ] && [ ! -f "$PGDATA/PG_VERSION" ]; then init_db; fi
    pg_autoctl create postgres --pgdata "$PGDATA" --pgport 5432 --hostname "$host" \
      --name "${GD_PG_NODE_NAME:-$host}" --skip-pg-hba --no-ssl --monitor "$uri"
    touch "$PGDATA.created"
  fi
  exec pg_autoctl run --pgdata "$PGDATA"
  ;;
migrate)
  export PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT=3
  su="postgresql://postgres@${DATABASE_HOSTS:?}/postgres?target_session_attrs=read-write"
  app="postgresql://giftdrop@$DATABASE_HOSTS/giftdrop?target_session_attrs=read-write"
  i=0
  until psql -X -q -At -d "$su" -c 'SELECT 1' >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt 120 ] || die "no writable primary at $DATABASE_HOSTS after 120 s"
    sleep 1
  done
  pwq=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
  psql -X -q -v ON_ERROR_STOP=1 -d "$su" <<SQL
SET client_min_messages = warning;
SELECT 'CREATE ROLE giftdrop LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'giftdrop') \gexec
ALTER ROLE giftdrop PASSWORD '$pwq';
SELECT 'CREATE DATABASE giftdrop OWNER giftdrop' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'giftdrop') \gexec
SQL
  psql -X -q -v ON_ERROR_STOP=1 -d "$app" -c 'CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY, applied_at timestamptz DEFAULT now())'
  for f in $(find /migrations -maxdepth 1 -name '*.sql' | LC_ALL=C sort); do
    v=$(basename "$f")
    case $v in *[!A-Za-z0-9_.-]*) die "migration file name '$v' has characters outside [A-Za-z0-9_.-]" ;; esac
    [ -z "$(psql -X -At -d "$app" -c "SELECT 1 FROM schema_migrations WHERE version = '$v'")" ] || continue
    psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$app" -f "$f" \
      -c "INSERT INTO schema_migrations (version) VALUES ('$v')" || die "migration $v failed (rolled back)"
    echo "gd-pg-node: applied $v"
  done
  ;;
*) die "usage: gd-pg-node monitor|postgres|migrate" ;;
esac
