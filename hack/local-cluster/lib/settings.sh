# shellcheck shell=bash disable=SC2034
# Paths, addresses and names of the local cluster, and what `up` needs before it starts anything.
# Sourced by cluster.sh.

KWOK_NODES=${KWOK_NODES:-3}
REAL_NODE=${REAL_NODE:-1}
REAL_NODE_NAME=local-node-0
K8S_BIN=$CACHE_ROOT/k8s-$K8S_VERSION/bin
ETCD_BIN=$CACHE_ROOT/etcd-$ETCD_VERSION/bin
KWOK_BIN=$CACHE_ROOT/kwok-$KWOK_VERSION/bin
CRICTL_BIN=$CACHE_ROOT/crictl-$CRICTL_VERSION/bin
COREDNS_BIN=$CACHE_ROOT/coredns-$COREDNS_VERSION/bin
KUBE_ROUTER_BIN=$CACHE_ROOT/kube-router-$KUBE_ROUTER_VERSION/bin
METRICS_SERVER_BIN=$CACHE_ROOT/metrics-server-$METRICS_SERVER_VERSION/bin
KUBE_STATE_METRICS_BIN=$CACHE_ROOT/kube-state-metrics-$KUBE_STATE_METRICS_VERSION/bin

PKI=$STATE_DIR/pki
CONF=$STATE_DIR/config
KUBECONFIG_ADMIN=$STATE_DIR/kubeconfig
KUBECONFIG_DEPLOYER=$STATE_DIR/deployer.kubeconfig
APISERVER_PORT=6443
APISERVER=https://127.0.0.1:$APISERVER_PORT
ETCD_CLIENT=http://127.0.0.1:2379
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
DNS_SVC_IP=10.96.0.10
POD_CIDR=10.88.0.0/16        # real node pods (CNI bridge cni0, host-local IPAM)
KWOK_POD_CIDR=10.244.0.0/16  # simulated pods: fake IPs, routed nowhere
CNI_NETWORK=iap-pods
CNI_BRIDGE=cni0
# The real node's runtime state lives apart from any system containerd/kubelet.
CONTAINERD_ROOT=/var/lib/iap-containerd
CONTAINERD_STATE=/run/iap-containerd
CONTAINERD_SOCK=$CONTAINERD_STATE/containerd.sock
KUBELET_ROOT=/var/lib/iap-kubelet
PAUSE_IMAGE=$REGISTRY_ADDR/pause:3.10
# Host daemons `status` reports; the real node's only count when REAL_NODE=1. lib/ files of
# add-ons append theirs to NODE_DAEMONS.
CONTROL_PLANE_DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
NODE_DAEMONS=(containerd kubelet kube-proxy coredns)
APP_NAMESPACES=(intelligent-agent staging production)

# CLUSTER_REPAIR=0: leave the host's network settings (the pod bridge's FORWARD rules) as they are,
# so that tests can prove `up` names a broken data path hop (tests/integration/cluster).
CLUSTER_REPAIR=${CLUSTER_REPAIR:-1}
# NETWORK_POLICY=0: stop the NetworkPolicy enforcer (its chains and sets go too) and run without
# it, as a cluster whose CNI ignores policies does.
NETWORK_POLICY=${NETWORK_POLICY:-1}

kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

detect_node_ip() {
  if [[ -n ${NODE_IP:-} ]]; then
    echo "$NODE_IP"
    return
  fi
  local dev ip
  dev=$(ip -4 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
  if [[ -n $dev ]]; then
    ip=$(ip -4 -o addr show dev "$dev" scope global | awk '{split($4, a, "/"); print a[1]; exit}')
  fi
  if [[ -z ${ip:-} ]]; then
    ip=$(ip -4 -o addr show scope global | awk '$2 != "docker0" && $2 != "'"$CNI_BRIDGE"'" {split($4, a, "/"); print a[1]; exit}')
  fi
  [[ -n ${ip:-} ]] || die "no global IPv4 address found; set NODE_IP"
  echo "$ip"
}

binaries_built() {
  [[ -f $K8S_BIN/.complete && -f $ETCD_BIN/.complete && -f $KWOK_BIN/.complete &&
    -f $CRICTL_BIN/.complete && -f $COREDNS_BIN/.complete && -f $KUBE_ROUTER_BIN/.complete && -f $METRICS_SERVER_BIN/.complete &&
    -f $KUBE_STATE_METRICS_BIN/.complete ]]
}

ensure_built() {
  binaries_built && return 0
  log "binaries missing in $CACHE_ROOT: building (empty Go caches: about 16 min on 2 cores)"
  (take_lock build && "$LC_DIR/build.sh")
}

check_prereqs() {
  local missing=() cmd
  for cmd in openssl curl iptables ip containerd runc dockerd docker-registry busybox flock; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  [[ -x /usr/lib/cni/bridge ]] || missing+=("containernetworking-plugins")
  ((${#missing[@]} == 0)) || die "missing ${missing[*]}: run hack/install-system-deps.sh"
  [[ $(id -u) -eq 0 ]] || die "cluster.sh up must run as root (containerd, kubelet, iptables)"
}
