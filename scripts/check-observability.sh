#!/usr/bin/env bash
# Checks the observability artifacts in docs/observability/:
#   - alerts.yml is valid Prometheus rules   (promtool check rules)
#   - alerts.test.yml unit tests pass        (promtool test rules)
#   - grafana-dashboard.json is valid JSON   (python3 -m json.tool)
# Needs promtool (Debian/Ubuntu: apt-get install prometheus) and python3.
# Fails (non-zero) if a tool is missing or any check fails.
set -euo pipefail

cd "$(dirname "$0")/.."
dir=docs/observability

for tool in promtool python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check-observability: $tool not found (promtool: apt-get install prometheus)" >&2
        exit 1
    fi
done

echo "== promtool check rules $dir/alerts.yml"
promtool check rules "$dir/alerts.yml"

echo "== promtool test rules $dir/alerts.test.yml"
promtool test rules "$dir/alerts.test.yml"

echo "== python3 -m json.tool $dir/grafana-dashboard.json"
python3 -m json.tool "$dir/grafana-dashboard.json" >/dev/null
python3 - "$dir/grafana-dashboard.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d.get("title") == "chat-server", "dashboard title must be chat-server"
assert any(i.get("name") == "DS_PROMETHEUS" for i in d.get("__inputs", [])), "missing DS_PROMETHEUS input"
print(f"  dashboard ok: {sum(1 for p in d['panels'] if p['type'] != 'row')} panels")
PY

echo "check-observability: all checks passed"
