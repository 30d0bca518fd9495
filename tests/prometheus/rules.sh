#!/usr/bin/env bash
# prom.rules: deploy/prometheus without a running Prometheus.
#
#   - `promtool check config` accepts prometheus.yml (local stack) and
#     compose.yml, which load the same rule files and name the same jobs;
#   - `promtool check rules` accepts every rule file;
#   - `promtool test rules` passes tests/*.test.yml: every alert fires on
#     series that should page and stays quiet on series that should not,
#     and the recording rules give the expected numbers;
#   - every alert has a test case where it fires and one where it is quiet,
#     a severity (page or ticket), a summary, a description and a
#     runbook_url naming a section of docs/operations.md that exists;
#   - every recording rule is checked by a test (records.test.yml, or an
#     alert built on it).
# promtool comes with Debian's prometheus package (`deploy/local/stack install`).
set -euo pipefail
SRC=${GD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${T_NAME:=prom_rules}"
source "$SRC/tests/assert.sh"
P=$SRC/deploy/prometheus
cd "$P"
command -v promtool >/dev/null ||
  { log "FAIL promtool is not installed (deploy/local/stack install brings Debian's prometheus package)"; exit 1; }
command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null ||
  apt-get install -y -q --no-install-recommends python3 python3-yaml >/dev/null

out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { "$@" >"$out" 2>&1 && echo ok || { echo "failed: $(tr '\n' ' ' <"$out" | head -c 600)"; }; }
expect "promtool check config prometheus.yml" "$(run promtool check config prometheus.yml)" ok
expect "promtool check config compose.yml" "$(run promtool check config compose.yml)" ok
expect "promtool check rules" "$(run promtool check rules rules/*.yml)" ok
expect "promtool test rules" "$(run promtool test rules tests/*.test.yml)" ok

# The structural rules, read with python3's yaml (Debian's python3-yaml).
py() {
  python3 - "$SRC" <<'PY'
import re, sys, yaml
src = sys.argv[1]
P = src + "/deploy/prometheus/"
def load(f): return yaml.safe_load(open(P + f))
alerts = [r for g in load("rules/alerts.yml")["groups"] for r in g["rules"]]
records = [r for g in load("rules/records.yml")["groups"] for r in g["rules"]]
atests = load("tests/alerts.test.yml")["tests"]
rtests = load("tests/records.test.yml")["tests"]
cases = [c for t in atests for c in t.get("alert_rule_test", [])]
slug = lambda h: re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
anchors = {slug(l.lstrip("#")) for l in open(src + "/docs/operations.md") if l.startswith("#")}
out = []
for a in alerts:
    n = a["alert"]
    fire = [c for c in cases if c["alertname"] == n and c.get("exp_alerts")]
    quiet = [c for c in cases if c["alertname"] == n and not c.get("exp_alerts")]
    ann = a.get("annotations", {})
    url = ann.get("runbook_url", "")
    m = re.fullmatch(r"docs/operations\.md#([\w-]+)", url)
    out.append("%s fire=%d quiet=%d severity=%s summary=%s description=%s runbook=%s" % (
        n, len(fire) > 0, len(quiet) > 0, a.get("labels", {}).get("severity") in ("page", "ticket"),
        bool(ann.get("summary")), bool(ann.get("description")), bool(m and m.group(1) in anchors)))
tested = {e["expr"] for t in rtests for e in t.get("promql_expr_test", [])}
used = " ".join([a["expr"] for a in alerts] + list(tested))
for r in records:
    out.append("record %s tested=%s" % (r["record"], bool(re.search(re.escape(r["record"]) + r"(?![\w:])", used))))
cfg = [load(f) for f in ("prometheus.yml", "compose.yml")]
out.append("same jobs: %s" % ([j["job_name"] for j in cfg[0]["scrape_configs"]] == [j["job_name"] for j in cfg[1]["scrape_configs"]]))
out.append("same rule files: %s" % (cfg[0]["rule_files"] == cfg[1]["rule_files"]))
print("\n".join(out))
PY
}
mapfile -t lines < <(py)
n_alerts=0
for l in "${lines[@]}"; do
  case $l in
  record\ *)
    r=${l#record }
    expect "recording rule ${r% *}" "${l##* }" tested=True
    ;;
  same\ *) expect "prometheus.yml and compose.yml: ${l%%:*}" "${l##*: }" True ;;
  *)
    n_alerts=$((n_alerts + 1))
    expect "alert ${l%% *}" "${l#* }" "fire=1 quiet=1 severity=True summary=True description=True runbook=True"
    ;;
  esac
done
expect "alerts checked (every one of rules/alerts.yml)" "$n_alerts" "$(grep -c '^ *- alert:' rules/alerts.yml)"
tally
