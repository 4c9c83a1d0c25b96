# shellcheck shell=bash disable=SC2034
# Pinned versions of everything hack/local-cluster builds from Go modules.
# Sourced by cluster.sh and build.sh. Changing a version changes the cache key.
K8S_VERSION=${K8S_VERSION:-v1.35.4}
# The etcd version Kubernetes v1.35 recommends (build/dependencies.yaml).
ETCD_VERSION=${ETCD_VERSION:-v3.6.6}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
CRICTL_VERSION=${CRICTL_VERSION:-v1.34.0}
# The CoreDNS version Kubernetes v1.35 ships with (build/dependencies.yaml).
COREDNS_VERSION=${COREDNS_VERSION:-v1.13.1}
CACHE_ROOT=${IAP_CACHE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/intelligent-agent-platform}
