#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/<namespace>/<name>; it runs here in a
# temporary copy of the tracked files, with the dependency collections beside it, locally (no containers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv_bin="$root/.venv/bin"
export PATH="$venv_bin:$PATH"

python_version=$("$venv_bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# ansible-test asks for the pip it pins (get_venv_packages); put the stand-in where it looks for it.
ansible_test_dir=$("$venv_bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
mkdir -p ~/.ansible/test/cache
grep -hoE "pip='[0-9.]+'" "$ansible_test_dir/_internal/python_requirements.py" | cut -d"'" -f2 | sort -u |
  while read -r version; do
    cp "$root/hack/get_pip_offline.py" ~/.ansible/test/cache/"get_pip_${version//./_}.py"
  done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree="$work/ansible_collections/intelligent_agent/platform"
mkdir -p "$tree"
# Tracked and new (not ignored) files only: what a clean clone would hold.
# Sanity covers what the collection ships plus its tests; the unshipped developer tooling (hack/, .ci/,
# .github/, the .collections symlink) holds multi-document Kubernetes manifests that ansible-test's yamllint
# forbids, and `make lint` checks its shell scripts with shellcheck instead.
(cd "$root" && git ls-files -z --cached --others --exclude-standard ':!:.collections' ':!:hack' ':!:.ci' ':!:.github' ':!:bench' |
  python3 -c 'import os, sys; sys.stdout.write("\0".join(p for p in sys.stdin.read().split("\0") if p and os.path.lexists(p)))' |
  xargs -0 cp -P --parents -t "$tree")
(cd "$tree" && git init -q && git add -A >/dev/null)

# kubernetes.core and community.docker from the ansible package, for imports and doc fragments.
collections_src=$("$venv_bin/python" -c 'import ansible_collections.kubernetes.core as c, os; print(os.path.dirname(os.path.dirname(list(c.__path__)[0])))')
for dep in kubernetes/core community/docker; do
  mkdir -p "$work/ansible_collections/$(dirname "$dep")"
  cp -r "$collections_src/$dep" "$work/ansible_collections/$dep"
done

cd "$tree"
ansible-test sanity --venv --python "$python_version" --color no "$@"
