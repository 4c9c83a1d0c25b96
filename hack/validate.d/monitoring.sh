#!/usr/bin/env bash
# Validates the monitoring role's rendered configuration with the real tools:
#   promtool check config / check rules / test rules (Debian's prometheus package),
#   amtool check-config (prometheus-alertmanager), JSON/YAML checks of the Grafana files,
#   and the rule-count/group/unit-test coverage checks in tests/functional/monitoring.
# Renders twice: production (role defaults = the seed's numbers, placeholder vault values) and local
# (short `for` durations, Alertmanager and Grafana off), each into its own validation tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$root/ansible.cfg"
cd "$root"

for tool in promtool amtool; do
  command -v "$tool" >/dev/null || { echo "monitoring: $tool not found; run hack/install-system-deps.sh" >&2; exit 1; }
done
# Debian's promtool (2.42) is built without Kubernetes service discovery and rejects every
# kubernetes_sd_configs block, so `check config` uses upstream promtool built from the Go module
# proxy (cached); rules, rule unit tests and amtool use Debian's packages.
upstream_bin=$("$root/roles/monitoring/files/prometheus-image/build-binaries.sh")

out=${MONITORING_RENDER_DIR:-$root/tests/output/monitoring}
rm -rf "$out"
mkdir -p "$out"
render() { # <name> <extra ansible-playbook args...>
  local name=$1; shift
  local dir="$out/$name"
  mkdir -p "$dir/serviceaccount"
  # promtool check config insists that referenced files exist: stand-ins for the pod's token and CA.
  echo "validation-token" > "$dir/serviceaccount/token"
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=validation -days 1 \
    -keyout "$dir/serviceaccount/ca.key" -out "$dir/serviceaccount/ca.crt" 2>/dev/null
  ansible-playbook -i localhost, tests/functional/monitoring/render.yml \
    -e monitoring_render_dir="$dir" \
    -e monitoring_prometheus_config_dir="$dir/prometheus" \
    -e monitoring_serviceaccount_dir="$dir/serviceaccount" \
    "$@" > "$dir/ansible.log" 2>&1 || { cat "$dir/ansible.log" >&2; echo "monitoring: rendering $name failed" >&2; return 1; }
}

render production -e @tests/functional/monitoring/vars/production.yml
render local -e @tests/functional/monitoring/vars/local.yml

for name in production local; do
  dir="$out/$name"
  echo "-- $name: promtool check config (upstream $("$upstream_bin/promtool" --version 2>&1 | head -1 | awk '{print $3}'))"
  "$upstream_bin/promtool" check config "$dir/prometheus/prometheus.yml"
  echo "-- $name: promtool check rules"
  promtool check rules "$dir/prometheus/rules/alerting-rules.yml"
  echo "-- $name: amtool check-config"
  amtool check-config "$dir/alertmanager/alertmanager.yml"
  echo "-- $name: Grafana provisioning files parse"
  python - "$dir" <<'PY'
import json, pathlib, sys, yaml
d = pathlib.Path(sys.argv[1]) / "grafana"
for f in sorted(d.rglob("*.json")):
    json.loads(f.read_text())
    print(f"  {f.relative_to(d)}: valid JSON")
for f in sorted(d.rglob("*.yml")):
    yaml.safe_load(f.read_text())
    print(f"  {f.relative_to(d)}: valid YAML")
PY
done

echo "-- production: promtool test rules (one firing and one silent case per alert)"
python "$root/tests/functional/monitoring/rule_tests.py" \
  --rules "$out/production/prometheus/rules/alerting-rules.yml" \
  --cases "$root/tests/functional/monitoring/rule_cases.yml" \
  --output "$out/production/rule-tests"
promtool test rules "$out/production/rule-tests/tests.yml"

echo "-- rule count, groups and coverage (pytest tests/functional/monitoring)"
MONITORING_RENDER_DIR="$out" pytest -q -p no:cacheprovider "$root/tests/functional/monitoring"
