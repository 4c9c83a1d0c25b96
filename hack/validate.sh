#!/usr/bin/env bash
# Runs every validation script in hack/validate.d (rendered manifests, monitoring config, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.venv/bin:$PATH"
failed=()
for check in "$root"/hack/validate.d/*.sh; do
  [ -x "$check" ] || continue
  echo "== validate: $(basename "$check")"
  started=$(date +%s)
  if "$check"; then
    echo "== validate: $(basename "$check") passed in $(( $(date +%s) - started ))s"
  else
    failed+=("$(basename "$check")")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "validation failed: ${failed[*]}" >&2
  exit 1
fi
