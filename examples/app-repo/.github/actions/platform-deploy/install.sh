#!/usr/bin/env bash
# Install ansible-core, the intelligent_agent.platform collection (with kubernetes.core and community.docker, its
# dependencies, from Galaxy) and the collection's runtime Python requirements (its requirements.txt: ranges).
# Inputs (environment): ANSIBLE_CORE (pip requirement), COLLECTION (tarball path or glob, or a git URL).
# Exports ANSIBLE_COLLECTIONS_PATH through $GITHUB_ENV when it runs in GitHub Actions.
set -euo pipefail
: "${ANSIBLE_CORE:=ansible-core>=2.19,<2.20}"
: "${COLLECTION:?set COLLECTION to the collection tarball (path or glob) or a git URL}"
collections=${PLATFORM_COLLECTIONS_PATH:-${RUNNER_TEMP:-$(mktemp -d)}/collections}

if [[ $COLLECTION == git+* || $COLLECTION == *://* ]]; then
  source=$COLLECTION
else
  mapfile -t found < <(compgen -G "$COLLECTION" || true)
  if [[ ${#found[@]} -ne 1 ]]; then
    echo "::error::COLLECTION=$COLLECTION matches ${#found[@]} files; put exactly one intelligent_agent-platform-<version>.tar.gz there (make build in the collection's repository) or give a git URL" >&2
    exit 1
  fi
  source=${found[0]}
fi

python3 -m pip install --quiet "$ANSIBLE_CORE"
ansible-galaxy collection install --force -p "$collections" "$source"
python3 -m pip install --quiet -r "$collections/ansible_collections/intelligent_agent/platform/requirements.txt"
ansible-galaxy collection list -p "$collections" intelligent_agent.platform
if [[ -n ${GITHUB_ENV:-} ]]; then
  echo "ANSIBLE_COLLECTIONS_PATH=$collections" >> "$GITHUB_ENV"
fi
