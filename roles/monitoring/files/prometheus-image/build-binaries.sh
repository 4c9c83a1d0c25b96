#!/usr/bin/env bash
# Builds upstream prometheus and promtool (with Kubernetes service discovery, which Debian's package
# lacks) from the Go module proxy into a cache keyed by version, and prints the bin directory.
# Usage: build-binaries.sh [version]   (default 2.53.4; the Go module version is v0.<minor>.<patch>)
set -euo pipefail
version=${1:-${PROMETHEUS_VERSION:-2.53.4}}
cache=${IAP_CACHE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/intelligent-agent-platform}/prometheus-v$version
bin=$cache/bin
if [[ -x $bin/prometheus && -x $bin/promtool ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "build-binaries: go is required" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ -x $bin/prometheus && -x $bin/promtool ]]; then echo "$bin"; exit 0; fi
started=$(date +%s)
module=github.com/prometheus/prometheus
modversion=v0.${version#*.}
src=$(go mod download -json "$module@$modversion" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $src ]] || { echo "build-binaries: could not download $module@$modversion" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
# Build inside a copy of the module so its own go.mod (with its replace directives) applies.
cp -r "$src/." "$work/"
chmod -R u+w "$work"
echo "build-binaries: building prometheus and promtool $version (takes minutes on a cold cache)" >&2
(cd "$work" && GOFLAGS=-mod=mod go build -trimpath \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$version -X github.com/prometheus/common/version.Branch=upstream" \
  -o "$bin.tmp/" ./cmd/prometheus ./cmd/promtool) >&2
rm -rf "$bin"
mv "$bin.tmp" "$bin"
echo "build-binaries: built in $(($(date +%s) - started))s" >&2
echo "$bin"
