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
# NetworkPolicy enforcement on the real node (only its firewall controller runs; test-only, see README).
KUBE_ROUTER_VERSION=${KUBE_ROUTER_VERSION:-v2.1.0}
# The metrics API (kubectl top, HPA); v0.8.0 is the approved release.
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
# kube-state-metrics for the alert rules (host daemon, see README); v2.18.0 is built against client-go v0.34.
KUBE_STATE_METRICS_VERSION=${KUBE_STATE_METRICS_VERSION:-v2.18.0}
CACHE_ROOT=${IAP_CACHE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/intelligent-agent-platform}
