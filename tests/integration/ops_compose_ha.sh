#!/usr/bin/env bash
# ops_compose_ha: docker-compose.ha.yml (the HA topology in containers) and
# deploy/rabbitmq/definitions-ha.json, without a Docker engine.
#
#   - `docker-compose config -q` accepts the file with no .env (Debian's
#     docker-compose); by default only the infrastructure and the fake
#     provider start, the services are in the "apps" profile;
#   - the topology of `stack up --ha`: three RabbitMQ nodes clustering through
#     classic peer discovery, the topology imported once all three are
#     healthy; Redis primary + 2 replicas of it + 3 Sentinels (quorum 2);
#     pg_auto_failover monitor + 2 nodes, migrations through the primary;
#     the services' settings list every node (DESIGN §10); published ports
#     those of the local HA stack, on loopback only;
#   - definitions-ha.json is definitions.json with
#     x-quorum-initial-group-size 3 on every quorum queue, nothing else;
#   - every host path mounted exists; the pg_auto_failover image is built
#     from Debian's packages; its entry script is POSIX sh.
# Needs no broker, Redis or PostgreSQL.
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$SRC"
source "$SRC/tests/assert.sh"
command -v docker-compose >/dev/null || apt-get install -y -q --no-install-recommends docker-compose >/dev/null
F=docker-compose.ha.yml
J=${TMPDIR:-/tmp}/gd-compose-ha.$$.json
trap 'rm -f "$J"' EXIT

expect "docker-compose config -q" "$(env -i PATH="$PATH" docker-compose -f $F config -q 2>&1 && echo ok)" ok
# The resolved file with every profile, as JSON for jq.
env -i PATH="$PATH" RABBITMQ_PASSWORD=s3cret docker-compose -f $F --profile apps --profile tools config |
  /usr/bin/python3 -c 'import sys, yaml, json; json.dump(yaml.safe_load(sys.stdin)["services"], sys.stdout)' >"$J"
q() { jq -r "$@" "$J"; }

expect "started by default (no profile)" "$(q '[to_entries[] | select(.value.profiles == null) | .key] | sort | join(" ")')" \
  "fake-provider pg-monitor postgres-1 postgres-2 postgres-migrate rabbitmq-1 rabbitmq-2 rabbitmq-3 rabbitmq-topology redis-1 redis-2 redis-3 sentinel-1 sentinel-2 sentinel-3"

expect "apps profile" "$(q '[to_entries[] | select(.value.profiles == ["apps"]) | .key] | sort | join(" ")')" \
  "entry-api-1 entry-api-2 entry-api-3 haproxy notifier-consumer-1 notifier-consumer-2 stock-consumer-1 stock-consumer-2"
expect "published ports (host side)" \
  "$(q '[.[] | (.ports // [])[] | split(":") | "\(.[0]):\(.[1])"] | sort | join(" ")')" \
  "127.0.0.1:15672 127.0.0.1:15673 127.0.0.1:15674 127.0.0.1:15692 127.0.0.1:15693 127.0.0.1:15694 127.0.0.1:26379 127.0.0.1:26380 127.0.0.1:26381 127.0.0.1:5432 127.0.0.1:5433 127.0.0.1:5672 127.0.0.1:5673 127.0.0.1:5674 127.0.0.1:6379 127.0.0.1:6380 127.0.0.1:6381 127.0.0.1:8080 127.0.0.1:8404"

# RabbitMQ
for n in 1 2 3; do
  ep=$(q --arg s "rabbitmq-$n" '.[$s].entrypoint | join(" ")')
  expect "rabbitmq-$n: peer discovery lists the three nodes" \
    "$(grep -o 'classic_config.nodes.[0-9] = rabbit@rabbitmq-[0-9]' <<<"$ep" | paste -sd,)" \
    "classic_config.nodes.1 = rabbit@rabbitmq-1,classic_config.nodes.2 = rabbit@rabbitmq-2,classic_config.nodes.3 = rabbit@rabbitmq-3"
  expect "rabbitmq-$n: pause_minority, the shared cookie, the user only at boot" \
    "$(grep -c -e 'pause_minority' -e 'RABBITMQ_ERLANG_COOKIE' -e 'rm /tmp/giftdrop/definitions/10-definitions.json' <<<"$ep" || true) $(q --arg s "rabbitmq-$n" '.[$s].hostname')" \
    "1 rabbitmq-$n"
done
expect "rabbitmq-2/3 join a healthy rabbitmq-1" \
  "$(q '[.["rabbitmq-2"], .["rabbitmq-3"]] | map(.depends_on["rabbitmq-1"].condition) | join(" ")')" "service_healthy service_healthy"
expect "rabbitmq-topology: definitions-ha.json once the three are healthy" \
  "$(q '.["rabbitmq-topology"] | (.entrypoint | join(" ") | test("import /opt/giftdrop/rabbitmq/definitions-ha.json")), ([.depends_on[] .condition] | unique | join(","))' | paste -sd' ')" \
  "true service_healthy"

# definitions-ha.json = definitions.json + group size 3 on each quorum queue
expect "definitions-ha.json = definitions.json + x-quorum-initial-group-size 3" \
  "$(diff <(jq -S '(.queues[] | select(.arguments["x-queue-type"] == "quorum") | .arguments) += {"x-quorum-initial-group-size": 3}' deploy/rabbitmq/definitions.json) \
    <(jq -S . deploy/rabbitmq/definitions-ha.json) && echo same)" same
expect "definitions-ha.json: quorum queues of group size 3" \
  "$(jq -r '[.queues[] | select(.arguments["x-quorum-initial-group-size"] == 3) | .name] | length' deploy/rabbitmq/definitions-ha.json)" 8

# Redis and Sentinel
expect "redis-2/3 replicate redis-1" \
  "$(q '[.["redis-2"], .["redis-3"]] | map(.command | join(" ") | capture("--replicaof (?<m>[^ ]+ [0-9]+)").m) | join(",")')" \
  "redis-1 6379,redis-1 6379"
expect "redis: AOF, noeviction, min-replicas on every node" \
  "$(q '[.["redis-1"], .["redis-2"], .["redis-3"]] | map(.command | join(" ") | test("--appendonly yes --appendfsync everysec .*noeviction --min-replicas-to-write 1")) | unique | join(",")')" true
for n in 1 2 3; do
  expect "sentinel-$n monitors giftdrop at redis-1, quorum 2" \
    "$(q --arg s "sentinel-$n" '.[$s].entrypoint | join(" ") | capture("(?<m>sentinel monitor [^\u0027]+)").m')" "sentinel monitor giftdrop redis-1 6379 2"
done

# PostgreSQL (pg_auto_failover)
expect "pg: one monitor, two nodes" \
  "$(q '[to_entries[] | select(.value.image == "giftdrop/pg-auto-failover:dev") | "\(.key):\(.value.command | join(" "))"] | sort | join(" ")')" \
  "pg-monitor:monitor postgres-1:postgres postgres-2:postgres postgres-migrate:migrate"
expect "pg: postgres-2 is cloned from a healthy postgres-1" "$(q '.["postgres-2"].depends_on["postgres-1"].condition')" service_healthy
expect "pg: migrations mounted for postgres-migrate" \
  "$(q '.["postgres-migrate"].volumes[]' | grep -c '/deploy/postgres:/migrations:ro$')" 1
expect "pg image: Debian's pg_auto_failover" \
  "$(grep -c -E '^FROM debian:bookworm-slim$|postgresql-15-auto-failover pg-auto-failover-cli' deploy/pg_auto_failover/Dockerfile)" 2
expect "pg entry script is POSIX sh" "$(sh -n deploy/pg_auto_failover/node.sh && echo ok)" ok

# The services' settings (DESIGN §10)
expect "AMQP_URL lists the three nodes" "$(q '.["stock-consumer-1"].environment.AMQP_URL')" \
  "amqp://giftdrop:s3cret@rabbitmq-1:5672,amqp://giftdrop:s3cret@rabbitmq-2:5672,amqp://giftdrop:s3cret@rabbitmq-3:5672"
expect "Sentinels and master name" "$(q '.["entry-api-1"].environment | "\(.REDIS_SENTINELS) \(.REDIS_MASTER_NAME)"')" \
  "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379 giftdrop"
expect "DATABASE_URL: multi-host, read-write" "$(q '.["notifier-consumer-1"].environment.DATABASE_URL')" \
  "postgresql://giftdrop:giftdrop-dev-only@postgres-1:5432,postgres-2:5432/giftdrop?target_session_attrs=read-write"
expect "services wait for the topology, Sentinels and schema" \
  "$(q '[to_entries[] | select(.value.profiles == ["apps"] and .key != "haproxy") | .value.depends_on | keys | join(",")] | unique | join(" ")')" \
  "postgres-migrate,rabbitmq-topology,sentinel-1,sentinel-2,sentinel-3"

# Host paths mounted exist.
while IFS= read -r m; do
  expect "mount ${m#"$SRC"/} exists" "$([ -e "$m" ] && echo yes || echo no)" yes
done < <(q '[.[] | (.volumes // [])[] | split(":")[0] | select(startswith("/"))] | unique | .[]')
tally
