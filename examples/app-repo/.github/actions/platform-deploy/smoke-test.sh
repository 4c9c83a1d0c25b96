#!/usr/bin/env bash
# Smoke tests after a deploy, from outside the cluster (deploy.yml already ran the inventory's health checks from
# the controller and rolled back on failure): the frontend answers, the backend reports the released version.
# Inputs (environment): URL (public base URL), VERSION (expected version), ATTEMPTS (default 10, 6 s apart).
set -euo pipefail
: "${URL:?set URL (the STAGING_URL or PRODUCTION_URL repository variable)}"
: "${VERSION:?set VERSION}"
attempts=${ATTEMPTS:-10}

check() {
  local what=$1 path=$2 expect=${3:-}
  for ((i = 1; i <= attempts; i++)); do
    if body=$(curl --fail --silent --show-error --max-time 10 "$URL$path"); then
      if [[ -z $expect ]] || [[ $(jq -r '.version // empty' <<<"$body" 2>/dev/null) == "$expect" ]]; then
        echo "ok: $what ($URL$path)"
        return 0
      fi
    fi
    sleep 6
  done
  echo "::error::smoke test failed: $what ($URL$path${expect:+ should report version $expect})"
  return 1
}

check "frontend health" /health
check "backend version through the frontend" /api/version "$VERSION"
