#!/usr/bin/env bash
# prom.dashboard: deploy/prometheus/dashboard.json, the Grafana dashboard of
# an event's opening minutes, checked without Grafana (not packaged in
# Debian 12): whether a panel renders is not claimed, only that
#   - the JSON is a dashboard: uid, title, schemaVersion, a "datasource"
#     variable of type datasource (prometheus) that every panel and target
#     uses, panels with unique ids, a title, a type, and a place on the
#     24-column grid that overlaps no other panel;
#   - the panels the opening needs are there: the door's answers by status,
#     accepted/s, the confirm p99, queue depths, decisions/s, sends/s and
#     stock left;
#   - every query is built on the recording rules (rules/records.yml): it
#     names at least one, names only recording rules that exist, and reads
#     no raw series or rate() of its own;
#   - every query parses: each becomes a recording rule of a scratch rule
#     file that `promtool check rules` must accept.
# it.ops_prometheus runs every query against a running Prometheus.
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${T_NAME:=prom_dashboard}"
source "$SRC/tests/assert.sh"
D=$SRC/deploy/prometheus/dashboard.json
R=$SRC/deploy/prometheus/rules/records.yml
command -v promtool >/dev/null ||
  { log "FAIL promtool is not installed (deploy/local/stack install brings Debian's prometheus package)"; exit 1; }
scratch=$(mktemp)
trap 'rm -f "$scratch"' EXIT

expect "valid JSON" "$(jq -e type "$D" 2>&1)" '"object"'
expect "uid, title, schemaVersion" "$(jq -r '[.uid, .title, (.schemaVersion | type)] | join("|")' "$D")" \
  "giftdrop-opening|giftdrop: the opening minutes|number"
expect "datasource variable" "$(jq -c '[.templating.list[] | select(.name == "datasource") | {type, query}]' "$D")" \
  '[{"type":"datasource","query":"prometheus"}]'
expect "every panel and target uses it" \
  "$(jq '[.panels[] | .datasource, .targets[].datasource | select(. != {"type": "prometheus", "uid": "${datasource}"})] | length' "$D")" 0
expect "panels" "$(jq '.panels | length' "$D")" 8
expect "panel ids unique" "$(jq '[.panels[].id] | (length == (unique | length))' "$D")" true
expect "every panel: title, type, targets with unique refIds and an expr" \
  "$(jq '[.panels[] | select((.title | length) == 0 or (.type | IN("timeseries", "stat") | not)
     or (.targets | length) == 0 or ([.targets[].refId] | length != (unique | length))
     or any(.targets[]; (.expr // "") == ""))] | length' "$D")" 0
expect "every panel on the 24-column grid" \
  "$(jq '[.panels[].gridPos | select(.x < 0 or .w < 1 or .h < 1 or .x + .w > 24 or .y < 0)] | length' "$D")" 0
# Two panels overlap when their column and row ranges both intersect.
expect "no two panels overlap" "$(jq '[.panels[].gridPos] as $g | [range(0; $g | length) as $i
     | range($i + 1; $g | length) as $j | select($g[$i].x < $g[$j].x + $g[$j].w and $g[$j].x < $g[$i].x + $g[$i].w
     and $g[$i].y < $g[$j].y + $g[$j].h and $g[$j].y < $g[$i].y + $g[$i].h)] | length' "$D")" 0
for want in "Door: answers by status" "POST entries answers by status" "Accepted entries/s" "Publisher confirm p99" \
  "Queue depths" "Decisions/s" "Sends/s" "Stock left"; do
  expect "panel \"$want\"" "$(jq --arg w "$want" '[.panels[] | select(.title | contains($w))] | length' "$D")" 1
done

mapfile -t exprs < <(jq -r '.panels[].targets[].expr' "$D")
mapfile -t records < <(sed -n 's/^ *- record: *//p' "$R")
expect "queries" "${#exprs[@]}" 10
for e in "${exprs[@]}"; do
  names=$(grep -o -E 'giftdrop:[a-z0-9_:]+' <<<"$e" | sort -u || true)
  unknown=0
  for n in $names; do printf '%s\n' "${records[@]}" | grep -qxF "$n" || unknown=$((unknown + 1)); done
  expect "query $e: recording rules only" \
    "$(wc -w <<<"$names" | awk '{print ($1 > 0)}') $unknown $(grep -c -E '(giftdrop|haproxy|rabbitmq|redis|pg)_[a-z]|rate\(|histogram_quantile' <<<"$e" || true)" "1 0 0"
done

# Each query as a recording rule: promtool parses them all.
{
  echo "groups:"
  echo "  - name: dashboard-queries"
  echo "    rules:"
  i=0
  for e in "${exprs[@]}"; do
    i=$((i + 1))
    printf '      - record: dashboard:query_%d\n        expr: %s\n' "$i" "$(jq -Rn --arg e "$e" '$e')"
  done
} >"$scratch"
expect "promtool parses every query" "$(promtool check rules "$scratch" 2>&1 | grep -c 'SUCCESS: 10 rules found' || true)" 1
tally
