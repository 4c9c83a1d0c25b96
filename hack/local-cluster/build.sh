#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build the local cluster's binaries from Go modules into a version-keyed cache:
#   $CACHE_ROOT/k8s-<v>/bin      kube-apiserver kube-controller-manager
#                                kube-scheduler kubelet kube-proxy kubectl
#   $CACHE_ROOT/etcd-<v>/bin     etcd
#   $CACHE_ROOT/kwok-<v>/bin     kwok
#   $CACHE_ROOT/crictl-<v>/bin   crictl
#   $CACHE_ROOT/coredns-<v>/bin  coredns
#   $CACHE_ROOT/kube-router-<v>/bin  kube-router (NetworkPolicy enforcement)
#   $CACHE_ROOT/metrics-server-<v>/bin  metrics-server (the metrics API)
#   $CACHE_ROOT/kube-state-metrics-<v>/bin  kube-state-metrics (alert rules' Kubernetes object metrics)
# A component whose bin/.complete marker exists is not rebuilt.
# Usage: build.sh [component...]   (default: all)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/versions.sh
source "$HERE/versions.sh"

export GOFLAGS="-mod=mod -buildvcs=false -trimpath"
export CGO_ENABLED=0
# Throttle compile parallelism a little so other work on 2 cores keeps moving.
export GOMAXPROCS=${BUILD_GOMAXPROCS:-2}

log() { printf '[build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# helper_module DIR MODULE-PATH GO-VERSION: start a throwaway module in DIR.
helper_module() {
  local dir=$1
  rm -rf "$dir"
  mkdir -p "$dir"
  printf 'module local/%s\n\ngo %s\n' "$2" "$3" >"$dir/go.mod"
}

finish() { # finish NAME VERSION START
  local out=$CACHE_ROOT/$1-$2
  touch "$out/bin/.complete"
  log "$1 $2 built in $(($(date +%s) - $3)) s -> $out/bin"
}

build_k8s() {
  local out=$CACHE_ROOT/k8s-$K8S_VERSION
  [[ -f $out/bin/.complete ]] && { log "k8s $K8S_VERSION cached"; return 0; }
  local start; start=$(date +%s)
  local work=$out/src
  helper_module "$work" k8sbuild 1.25.0
  log "k8s $K8S_VERSION: resolving module graph"
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local staging_version=v0.${K8S_VERSION#v1.}
  (
    cd "$work"
    printf '\ngodebug default=go1.25\n\nrequire k8s.io/kubernetes %s\n' "$K8S_VERSION" >>go.mod
    # k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with
    # local directories. Replace directives of dependencies are ignored, so
    # repeat them here pointing at the published staging module versions.
    local modfile
    modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo 'replace ('
      sed -n '/^replace (/,/^)/p' "$modfile" | awk '$2 == "=>" {print "\t" $1 " => " $1 " '"$staging_version"'"}'
      echo ')'
    } >>go.mod
    local pkg=k8s.io/component-base/version
    local cgo=k8s.io/client-go/pkg/version
    local ld="-s -w"
    local p
    for p in $pkg $cgo; do
      ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
      ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    mkdir -p "$out/bin"
    log "k8s $K8S_VERSION: compiling (about 4-8 min with an empty build cache)"
    go build -ldflags "$ld" -o "$out/bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-proxy \
      k8s.io/kubernetes/cmd/kubectl
  )
  finish k8s "$K8S_VERSION" "$start"
}

# build_simple NAME VERSION MODULE PACKAGE [LDFLAGS]
build_simple() {
  local name=$1 version=$2 module=$3 package=$4 ld=${5:-}
  local out=$CACHE_ROOT/$name-$version
  [[ -f $out/bin/.complete ]] && { log "$name $version cached"; return 0; }
  local start; start=$(date +%s)
  local work=$out/src
  helper_module "$work" "${name}build" 1.24
  log "$name $version: building $package"
  (
    cd "$work"
    go get "$module@$version"
    mkdir -p "$out/bin"
    go build -ldflags "-s -w $ld" -o "$out/bin/$name" "$package"
  )
  finish "$name" "$version" "$start"
}

build_etcd() {
  build_simple etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3
}
build_kwok() {
  build_simple kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
}
build_crictl() {
  build_simple crictl "$CRICTL_VERSION" sigs.k8s.io/cri-tools sigs.k8s.io/cri-tools/cmd/crictl \
    "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
}
build_coredns() {
  build_simple coredns "$COREDNS_VERSION" github.com/coredns/coredns github.com/coredns/coredns
}
build_kube_router() {
  build_simple kube-router "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2 \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"
}
build_metrics_server() {
  build_simple metrics-server "$METRICS_SERVER_VERSION" sigs.k8s.io/metrics-server \
    sigs.k8s.io/metrics-server/cmd/metrics-server \
    "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION"
}
build_kube_state_metrics() {
  build_simple kube-state-metrics "$KUBE_STATE_METRICS_VERSION" k8s.io/kube-state-metrics/v2 \
    k8s.io/kube-state-metrics/v2 \
    "-X github.com/prometheus/common/version.Version=$KUBE_STATE_METRICS_VERSION"
}

main() {
  local all=(etcd kwok crictl coredns kube-router metrics-server kube-state-metrics k8s)
  local want=("$@")
  ((${#want[@]})) || want=("${all[@]}")
  local start; start=$(date +%s)
  local c
  for c in "${want[@]}"; do
    case $c in
      k8s | etcd | kwok | crictl | coredns) "build_$c" ;;
      kube-router) build_kube_router ;;
      metrics-server) build_metrics_server ;;
      kube-state-metrics) build_kube_state_metrics ;;
      *) log "unknown component $c (one of: ${all[*]})"; exit 2 ;;
    esac
  done
  log "all requested components ready in $(($(date +%s) - start)) s"
}

main "$@"
