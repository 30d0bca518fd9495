#!/usr/bin/env bash
# ops_docs: the operator's and the app developer's documents stay true.
#
#   - docs/openapi.yaml passes `redocly lint` (no error, no warning); the
#     linter is installed from npm into /var/tmp/giftdrop-npm, outside the
#     repository;
#   - it names every problem code of common/problem.h and every path of
#     DESIGN §3;
#   - docs/operations.md covers every queue of definitions.json and every
#     eventctl verb.
# Needs no broker, Redis or PostgreSQL.
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${GD_BUILD_DIR:-$SRC/build}
cd "$SRC"
source "$SRC/tests/assert.sh"

NPM_DIR=/var/tmp/giftdrop-npm
REDOCLY_VERSION=2.77.0
REDOCLY=$NPM_DIR/node_modules/.bin/redocly
if ! "$REDOCLY" --version 2>/dev/null | grep -qx "$REDOCLY_VERSION"; then
  # The apt source's nodejs carries npm (Redocly needs node >= 20.19).
  command -v npm >/dev/null || apt-get install -y -q --no-install-recommends nodejs >/dev/null
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error "@redocly/cli@$REDOCLY_VERSION" >/dev/null
fi
out=$("$REDOCLY" lint --format stylish docs/openapi.yaml 2>&1) && rc=0 || rc=$?
expect "redocly lint exit code" "$rc" 0
expect "redocly lint warnings" "$(grep -o -E 'You have [0-9]+ warnings?' <<<"$out" || echo none)" none
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | tail -n 30

# Every problem code the services answer is documented.
mapfile -t codes < <(grep -o 'X(PB_[A-Z_]*, "[a-z_]*"' common/problem.h | sed 's/.*"\(.*\)"/\1/')
for code in "${codes[@]}"; do
  expect "openapi documents problem code $code" "$(grep -c -E "^ *- $code\$" docs/openapi.yaml)" 1
done
for path in '/v1/events/{event_id}:' '/v1/events/{event_id}/entries:' '/v1/events/{event_id}/entries/me:' \
  '/healthz:' '/readyz:' '/metrics:'; do
  expect "openapi path $path" "$(grep -c -x -F "  $path" docs/openapi.yaml)" 1
done
for h in Retry-After Location WWW-Authenticate Allow; do
  expect "openapi header $h" "$(grep -c -E "^ +$h:\$" docs/openapi.yaml | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
done

# The operator's guide covers every queue and every verb.
for q in $(jq -r '.queues[].name' deploy/rabbitmq/definitions.json); do
  expect "operations.md explains queue $q" "$(grep -c -F "\`$q\`" docs/operations.md | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
done
if [ -x "$BUILD/eventctl/eventctl" ]; then
  for v in $("$BUILD/eventctl/eventctl" --help 2>&1 | awk '/^verbs:/ {on = 1; next} on && /^  [a-z]/ {print $1}'); do
    expect "operations.md explains eventctl $v" "$(grep -c -F "eventctl $v" docs/operations.md | awk '{print ($1 > 0) ? "yes" : "no"}')" yes
  done
fi
tally
