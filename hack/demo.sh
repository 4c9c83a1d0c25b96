#!/usr/bin/env bash
# `make demo` (after deps, venv, cluster-up and base-images): deploy the demo app to the local cluster
# with the collection's own playbook and print where it answers and how to roll back.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
# The local inventory's demo vault password (ansible.cfg names none: inventories/README.md).
export ANSIBLE_VAULT_IDENTITY_LIST="${ANSIBLE_VAULT_IDENTITY_LIST:-local@$PWD/inventories/local/vault-password.txt}"

version="${DEMO_VERSION:-1.0.0}"
url="${DEMO_URL:-http://127.0.0.1:30080}"

echo "==> Deploying the demo app ${version} to the local cluster (ansible-playbook playbooks/deploy.yml -i inventories/local)"
started=$(date +%s)
# The demo's health checks, kept in a file so that the "Deploy v2" hint below runs them too.
checks_file=.local/demo/health-checks.json
mkdir -p "$(dirname "$checks_file")"
cat > "$checks_file" <<JSON
{"platform_health_checks": [{"name": "frontend", "url": "${url}/health"},
  {"name": "backend-through-frontend", "url": "${url}/api/version", "json_path": "version",
   "json_equals": "{{ platform_version }}"}]}
JSON
ansible-playbook playbooks/deploy.yml -i inventories/local -e "platform_version=${version}" -e "@${checks_file}" "$@"

echo "==> Checking that the backend's version answers through the frontend"
answer=""
for _ in $(seq 1 30); do
  if answer=$(curl -fsS --max-time 3 "${url}/api/version" 2>/dev/null); then
    break
  fi
  sleep 2
done
if [[ -z "$answer" ]]; then
  echo "The demo did not answer on ${url}/api/version" >&2
  exit 1
fi

cat <<MSG

Demo deployed in $(( $(date +%s) - started )) s.
  Open:        ${url}            (the page shows the backend's version)
  API:         curl ${url}/api/version   -> ${answer}
  First:       export ANSIBLE_VAULT_IDENTITY_LIST=local@inventories/local/vault-password.txt   (the demo vault password)
  Deploy v2:   ansible-playbook playbooks/deploy.yml -i inventories/local -e platform_version=2.0.0 -e @${checks_file}
  History:     ansible-playbook playbooks/history.yml -i inventories/local
  Roll back:   ansible-playbook playbooks/rollback.yml -i inventories/local                 (previous revision)
               ansible-playbook playbooks/rollback.yml -i inventories/local -e revision=1   (a given revision)
               ansible-playbook playbooks/rollback.yml -i inventories/local -e version=1.0.0 -e components=backend
  kubectl:     export KUBECONFIG=$PWD/.local/cluster/kubeconfig
MSG
