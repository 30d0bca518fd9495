#!/usr/bin/env bash
# ops_compose: docker-compose.yml and the Dockerfile, without a Docker engine.
#
#   - `docker-compose config -q` accepts the file (Debian's docker-compose);
#   - the shape issue 6 asks for: three entry-api replicas behind HAProxy,
#     two stock-consumers, two notifiers, the fake provider; pinned images;
#     a healthcheck on every long-running service, `depends_on` healthy
#     infrastructure; Redis AOF; RabbitMQ with the definitions and the
#     Prometheus plugin; migrations mounted for PostgreSQL's init;
#   - Prometheus (deploy/prometheus/compose.yml) scrapes every compose
#     service that serves metrics, by its service name and port;
#   - every host file compose mounts is one the local stack uses for real;
#   - HAProxy accepts haproxy.cfg with compose's environment;
#   - no secret in the Dockerfile, .env kept out of the build context,
#     multi-stage on debian:bookworm-slim.
# Needs no broker, Redis or PostgreSQL.
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$SRC"
source "$SRC/tests/assert.sh"
for p in docker-compose:docker-compose haproxy:haproxy; do
  command -v "${p%%:*}" >/dev/null || apt-get install -y -q --no-install-recommends "${p#*:}" >/dev/null
done
PY=/usr/bin/python3 # Debian's, with the yaml module docker-compose itself uses

# Without any .env or variable set: the development defaults must do.
expect "docker-compose config -q" "$(env -i PATH="$PATH" docker-compose -f docker-compose.yml config -q 2>&1 && echo ok)" ok
env -i PATH="$PATH" RABBITMQ_PASSWORD=s3cret JWT_SECRET=0123456789abcdef0123456789abcdef \
  docker-compose -f docker-compose.yml config >"${TMPDIR:-/tmp}/gd-compose.$$.yml"
CFG=${TMPDIR:-/tmp}/gd-compose.$$.yml
trap 'rm -f "$CFG"' EXIT

# q PYTHON_EXPR: evaluated with S = the resolved services; ports(svc) gives
# (host_ip, target) pairs, binds(svc) (source, target) of bind mounts
# (docker-compose 1.29 prints the short syntax).
q() {
  "$PY" -c '
import sys, yaml
S = yaml.safe_load(open(sys.argv[1]))["services"]
def ports(v):
    out = []
    for p in v.get("ports", []):
        parts = p.split(":")
        out.append((parts[0] if len(parts) == 3 else "", int(parts[-1].split("/")[0])))
    return out
def binds(v):
    out = []
    for m in v.get("volumes", []):
        src, dst = m.split(":")[:2]
        if src.startswith("/"):
            out.append((src, dst))
    return out
print(eval(sys.argv[2]))' "$CFG" "$1"
}

expect "services" "$(q "sorted(S)")" \
  "['entry-api-1', 'entry-api-2', 'entry-api-3', 'eventctl', 'fake-provider', 'haproxy', 'notifier-consumer-1', 'notifier-consumer-2', 'postgres', 'postgres-exporter', 'prometheus', 'rabbitmq', 'reconcile-watch', 'redis', 'redis-exporter', 'stock-consumer-1', 'stock-consumer-2']"
expect "every long-running service has a healthcheck" \
  "$(q "[n for n, v in S.items() if 'healthcheck' not in v and n != 'eventctl']")" "[]"
expect "healthchecks are real commands (not NONE)" \
  "$(q "[n for n, v in S.items() if v.get('healthcheck', {}).get('test', ['NONE'])[0] == 'NONE' and n != 'eventctl']")" "[]"
expect "apps wait for healthy infrastructure" \
  "$(q "[n for n, v in S.items() if n not in ('rabbitmq','redis','postgres','haproxy','fake-provider') and not all(v['depends_on'].get(d, {}).get('condition') == 'service_healthy' for d in ('rabbitmq','redis'))]")" "[]"
expect "notifiers wait for a healthy provider" \
  "$(q "[v['depends_on']['fake-provider']['condition'] for n, v in S.items() if n.startswith('notifier')]")" \
  "['service_healthy', 'service_healthy']"
expect "third-party images pinned to a version" \
  "$(q "sorted(v['image'] for v in S.values() if 'build' not in v)")" \
  "['postgres:15.8', 'rabbitmq:3.10.8-management', 'redis:7.0.15']"
expect "rabbitmq: Prometheus plugin enabled" "$(q "'rabbitmq_prometheus' in ' '.join(S['rabbitmq']['entrypoint'])")" True
expect "rabbitmq: definitions loaded" "$(q "'load_definitions' in ' '.join(S['rabbitmq']['entrypoint'])")" True
expect "rabbitmq: the services' user comes from the environment" \
  "$(q "S['rabbitmq']['environment']['RABBITMQ_PASSWORD'] + ' ' + S['stock-consumer-1']['environment']['AMQP_URL']")" \
  "s3cret amqp://giftdrop:s3cret@rabbitmq:5672"
expect "redis: AOF on, fsync everysec, noeviction" \
  "$(q "' '.join(S['redis']['command'])")" "redis-server --appendonly yes --appendfsync everysec --save  --maxmemory-policy noeviction"
expect "postgres: migrations applied at init" \
  "$(q "[s for s, t in binds(S['postgres']) if t == '/docker-entrypoint-initdb.d'][0].endswith('/deploy/postgres')")" True
expect "haproxy: three entry-api servers" \
  "$(q "' '.join(S['haproxy']['environment'][k] for k in ('GD_API1','GD_API2','GD_API3'))")" \
  "entry-api-1:8080 entry-api-2:8080 entry-api-3:8080"
expect "entry-api trusts X-Forwarded-For from HAProxy's address only" \
  "$(q "sorted({S[n]['environment']['TRUSTED_PROXIES'] for n in S if n.startswith('entry-api')} | {S['haproxy']['networks']['default']['ipv4_address']})")" \
  "['172.30.80.10']"
expect "only HAProxy publishes the API port" \
  "$(q "sorted(n for n, v in S.items() for h, t in ports(v) if t == 8080)")" "['haproxy']"
expect "ports bound to loopback only" \
  "$(q "[(h, t) for v in S.values() for h, t in ports(v) if h != '127.0.0.1']")" "[]"
expect "connection names: each instance named" \
  "$(q "sorted(v['environment']['INSTANCE'] for n, v in S.items() if 'INSTANCE' in v.get('environment', {}))")" \
  "['entry-api-1', 'entry-api-2', 'entry-api-3', 'notifier-consumer-1', 'notifier-consumer-2', 'stock-consumer-1', 'stock-consumer-2']"

# Prometheus (deploy/prometheus/compose.yml) scrapes every service that serves
# metrics, by its compose name and the port it listens on.
expect "prometheus: compose.yml mounted and loaded" \
  "$(q "[t for s, t in binds(S['prometheus'])][0] + ' ' + [a for a in S['prometheus']['command'] if a.startswith('--config.file=')][0]")" \
  "/etc/giftdrop/prometheus --config.file=/etc/giftdrop/prometheus/compose.yml"
targets=$("$PY" -c '
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
print(" ".join(sorted(t for j in c["scrape_configs"] for s in j["static_configs"] for t in s["targets"])))' \
  deploy/prometheus/compose.yml)
expect "prometheus: every target" "$targets" \
  "entry-api-1:8080 entry-api-2:8080 entry-api-3:8080 haproxy:8404 localhost:9090 notifier-consumer-1:9102 notifier-consumer-2:9102 postgres-exporter:9187 rabbitmq:15692 rabbitmq:15692 reconcile-watch:9103 redis-exporter:9121 stock-consumer-1:9101 stock-consumer-2:9101"
for t in $targets; do
  h=${t%:*}
  [ "$h" == localhost ] && continue
  expect "prometheus target $t is a compose service" "$(q "'$h' in S")" True
done
expect "consumers serve metrics where Prometheus looks" \
  "$(q "sorted({v['environment']['METRICS_ADDR'] for n, v in S.items() if 'METRICS_ADDR' in v.get('environment', {})})")" \
  "['0.0.0.0:9101', '0.0.0.0:9102']"

# Every host file or directory compose mounts exists and is used by the local stack.
mapfile -t mounts < <(q "'\n'.join(sorted({s for v in S.values() for s, t in binds(v)}))")
for m in "${mounts[@]}"; do
  rel=${m#"$SRC"/}
  expect "mount $rel exists" "$([ -e "$m" ] && echo yes || echo no)" yes
  expect "mount $rel used by deploy/local/stack" "$(grep -c -F "deploy/${rel#deploy/}" deploy/local/stack | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
done

# HAProxy with compose's environment (names are resolved at run time).
hx=$(q "' '.join(k + '=' + str(v) for k, v in S['haproxy']['environment'].items())")
# shellcheck disable=SC2086 # one NAME=value word each
expect "haproxy -c with compose's environment" \
  "$(env $hx haproxy -c -q -f deploy/haproxy/haproxy.cfg 2>&1 | grep -v 'could not resolve address' | grep -c ALERT || true)" 0
expect "definitions-dir is POSIX sh" "$(sh -n deploy/rabbitmq/definitions-dir && echo ok)" ok

# Dockerfile: multi-stage on bookworm-slim, no secrets, .env kept out.
expect "Dockerfile stages" "$(grep -E '^FROM ' Dockerfile | tr '\n' ' ')" \
  "FROM debian:bookworm-slim AS build FROM debian:bookworm-slim AS haproxy FROM debian:bookworm-slim AS monitoring FROM debian:bookworm-slim AS runtime "
expect "no secret in the Dockerfile (ENV/ARG)" "$(grep -c -i -E '^ *(ENV|ARG) .*(SECRET|PASSWORD|KEY|TOKEN)' Dockerfile || true)" 0
expect "runtime image runs unprivileged" "$(awk '/AS runtime/ {r = 1} r && /^USER /' Dockerfile)" "USER giftdrop"
expect "monitoring image runs unprivileged" "$(awk '/AS monitoring/ {r = 1} /AS runtime/ {r = 0} r && /^USER /' Dockerfile)" "USER prometheus"
for f in .env secrets/ .git/ 'build*/'; do
  expect ".dockerignore keeps out $f" "$(grep -c -x -F "$f" .dockerignore)" 1
done
# The runtime stage installs the package of every library the binaries link
# directly (sanitizer runtimes of a test build aside).
BUILD=${GD_BUILD_DIR:-$SRC/build}
runtime_pkgs=$(awk '/AS runtime/ {r = 1} r {for (i = 1; i <= NF; i++) print $i}' Dockerfile)
for b in entry-api/entry-api stock-consumer/stock-consumer notifier-consumer/notifier-consumer \
  eventctl/eventctl tests/fake-provider/gd-fake-provider tests/loadgen/gd-loadgen; do
  [ -x "$BUILD/$b" ] || continue
  readelf -d "$BUILD/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
done | sort -u | grep -v -E '^lib(asan|ubsan|c|m|pthread|dl|rt)\.so' >"${CFG}.libs" || true
while IFS= read -r lib; do
  pkg=$(dpkg -S "*/$lib" 2>/dev/null | head -n 1 | cut -d: -f1)
  expect "runtime image provides $lib ($pkg)" "$(grep -c -x -F "$pkg" <<<"$runtime_pkgs" | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
done <"${CFG}.libs"
rm -f "${CFG}.libs"

# The image build needs every directory CMake descends into.
mapfile -t subdirs < <(sed -n 's/^add_subdirectory(\([^)]*\)).*/\1/p' CMakeLists.txt)
for d in "${subdirs[@]}"; do
  expect ".dockerignore keeps $d/ (CMake needs it)" "$(grep -c -x -E "/?$d/?" .dockerignore || true)" 0
done
tally
