#!/usr/bin/env bash
# actionlint (built by hack/tools/build-actionlint.sh) on the collection's own workflows and on the workflow
# templates of examples/app-repo (with their local composite action and reusable workflow). `make lint` runs it.
# actionlint resolves `uses: ./...` against the Git repository that holds .github/workflows, so the template
# repository is linted from a copy that looks like its own repository root. actionlint also checks the run:
# scripts when the shellcheck binary is on PATH.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
actionlint=$("$root/hack/tools/build-actionlint.sh")
status=0

shopt -s nullglob
own=("$root"/.github/workflows/*.yml "$root"/.github/workflows/*.yaml)
if ((${#own[@]})); then
  (cd "$root" && "$actionlint" "${own[@]#"$root"/}") || status=1
fi

template=$root/examples/app-repo
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -R "$template/." "$copy/"
touch "$copy/.git"  # the repository root marker actionlint looks for (a .git file is enough)
workflows=("$copy"/.github/workflows/*.yml)
if ((${#workflows[@]} == 0)); then
  echo "no workflow templates in $template/.github/workflows" >&2
  exit 1
fi
(cd "$copy" && "$actionlint" "${workflows[@]#"$copy"/}") | sed "s|^|examples/app-repo/|" || status=1
exit "$status"
