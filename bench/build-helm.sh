#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build Helm 4 from its Go module (helm.sh/helm/v4) into the version-keyed cache the local cluster uses:
#   $CACHE_ROOT/helm-<v>/bin/helm      (a bin/.complete marker says the build finished; then it is a no-op)
# Prints the path of the helm binary on stdout. Usage: bench/build-helm.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../hack/local-cluster/versions.sh
source "$HERE/../hack/local-cluster/versions.sh"
HELM_VERSION=${HELM_VERSION:-v4.3.2}

log() { printf '[build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

out=$CACHE_ROOT/helm-$HELM_VERSION
if [[ -f $out/bin/.complete ]]; then
  log "helm $HELM_VERSION cached"
  echo "$out/bin/helm"
  exit 0
fi
export GOFLAGS="-mod=mod -buildvcs=false -trimpath"
export CGO_ENABLED=0
export GOMAXPROCS=${BUILD_GOMAXPROCS:-2}
start=$(date +%s)
work=$out/src
rm -rf "$work"
mkdir -p "$work" "$out/bin"
printf 'module local/helmbuild\n\ngo 1.25\n' >"$work/go.mod"
log "helm $HELM_VERSION: building helm.sh/helm/v4/cmd/helm from its Go module"
(
  cd "$work"
  go get "helm.sh/helm/v4@$HELM_VERSION"
  go build -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    -o "$out/bin/helm" helm.sh/helm/v4/cmd/helm
)
touch "$out/bin/.complete"
log "helm $HELM_VERSION built in $(($(date +%s) - start)) s -> $out/bin"
echo "$out/bin/helm"
