#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build actionlint (the GitHub Actions workflow linter) from its Go module (github.com/rhysd/actionlint) into the
# version-keyed cache the local cluster uses:
#   $CACHE_ROOT/actionlint-<v>/bin/actionlint   (a bin/.complete marker says the build finished; then it is a no-op)
# Prints the path of the actionlint binary on stdout. Usage: hack/tools/build-actionlint.sh
# `make lint` runs it on the workflow templates (examples/app-repo/.github/workflows) and on .github/workflows;
# actionlint checks the `run:` scripts with shellcheck when shellcheck is on PATH.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../local-cluster/versions.sh
source "$HERE/../local-cluster/versions.sh"
ACTIONLINT_VERSION=${ACTIONLINT_VERSION:-v1.7.12}

log() { printf '[build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

out=$CACHE_ROOT/actionlint-$ACTIONLINT_VERSION
if [[ -f $out/bin/.complete ]]; then
  log "actionlint $ACTIONLINT_VERSION cached"
  echo "$out/bin/actionlint"
  exit 0
fi
command -v go >/dev/null || {
  log "go is not on PATH: install the Go toolchain (make deps) to build actionlint $ACTIONLINT_VERSION"
  exit 1
}
export GOFLAGS="-mod=mod -buildvcs=false -trimpath"
export CGO_ENABLED=0
export GOMAXPROCS=${BUILD_GOMAXPROCS:-2}
start=$(date +%s)
work=$out/src
rm -rf "$work"
mkdir -p "$work" "$out/bin"
printf 'module local/actionlintbuild\n\ngo 1.25\n' >"$work/go.mod"
log "actionlint $ACTIONLINT_VERSION: building github.com/rhysd/actionlint/cmd/actionlint from its Go module"
(
  cd "$work"
  go get "github.com/rhysd/actionlint@$ACTIONLINT_VERSION"
  go build -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
    -o "$out/bin/actionlint" github.com/rhysd/actionlint/cmd/actionlint
)
"$out/bin/actionlint" -version >/dev/null
touch "$out/bin/.complete"
log "actionlint $ACTIONLINT_VERSION built in $(($(date +%s) - start)) s -> $out/bin"
echo "$out/bin/actionlint"
