#!/usr/bin/env bash
# `make molecule`: every scenario under molecule/ against the local cluster (which must be up).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
# The local inventory's demo vault password (ansible.cfg names none: inventories/README.md).
export ANSIBLE_VAULT_IDENTITY_LIST="${ANSIBLE_VAULT_IDENTITY_LIST:-local@$PWD/inventories/local/vault-password.txt}"

scenarios=()
for dir in molecule/*/; do
  [[ -f "${dir}molecule.yml" ]] && scenarios+=("$(basename "$dir")")
done
if [[ ${#scenarios[@]} -eq 0 ]]; then
  echo "no molecule scenarios found" >&2
  exit 1
fi

# Each scenario gets its own namespace and NodePorts (not the demo's 30080/30500).
port=32080
for scenario in "${scenarios[@]}"; do
  python "molecule/shared/vars.py" "$PWD" "$scenario" "$port" "$((port + 420))" >/dev/null
  port=$((port + 1))
done

status=0
for scenario in "${scenarios[@]}"; do
  started=$(date +%s)
  echo "==> molecule test -s ${scenario}"
  if molecule test -s "$scenario"; then
    echo "==> ${scenario}: passed in $(( $(date +%s) - started )) s"
  else
    echo "==> ${scenario}: FAILED after $(( $(date +%s) - started )) s" >&2
    status=1
  fi
done
exit "$status"
