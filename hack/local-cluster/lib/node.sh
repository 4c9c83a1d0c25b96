# shellcheck shell=bash
# The real node: containerd + runc + CNI bridge, kubelet, kube-proxy, CoreDNS. Sourced by cluster.sh.

containerd_ok() { "$CRICTL_BIN/crictl" --runtime-endpoint "unix://$CONTAINERD_SOCK" --timeout 5s info >/dev/null 2>&1; }
kubelet_ok() { curl -fsS -m 3 http://127.0.0.1:10248/healthz | grep -qx ok; }
kube_proxy_ok() { curl -fsS -m 3 http://127.0.0.1:10256/livez >/dev/null; }
coredns_ok() { busybox nslookup "kubernetes.default.svc.cluster.local" "$NODE_IP" 2>/dev/null | grep -q "$KUBERNETES_SVC_IP"; }

ensure_pause_image() {
  if curl -fsS -m 5 "http://$REGISTRY_ADDR/v2/pause/manifests/3.10" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1; then
    return 0
  fi
  log "building the pause image $PAUSE_IMAGE from busybox-static"
  local ctx
  ctx=$(mktemp -d)
  cp "$(readlink -f "$(command -v busybox)")" "$ctx/busybox"
  cp "$LC_DIR/templates/pause.Dockerfile" "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$PAUSE_IMAGE" "$ctx" >/dev/null 2>&1 ||
    DOCKER_BUILDKIT=0 docker build -t "$PAUSE_IMAGE" "$ctx"
  docker push "$PAUSE_IMAGE" >/dev/null
  rm -rf "$ctx"
}

# Configuration of the real node's daemons, from templates/ (NODE_IP set by cmd_up).
write_node_configs() {
  mkdir -p "$CONF/cni/net.d" "$CONF/certs.d/$REGISTRY_ADDR"
  render containerd.toml | write_if_changed "$CONF/containerd.toml"
  render registry-hosts.toml | write_if_changed "$CONF/certs.d/$REGISTRY_ADDR/hosts.toml"
  render cni.conflist | write_if_changed "$CONF/cni/net.d/10-$CNI_NETWORK.conflist"
  render kubelet.yaml | write_if_changed "$CONF/kubelet.yaml"
  render kube-proxy.yaml | write_if_changed "$CONF/kube-proxy.yaml"
  render Corefile | write_if_changed "$CONF/Corefile"
}

start_containerd() {
  healthy_or_stop containerd containerd_ok && return 0
  # A containerd that is not running left nothing that runs: clear what an
  # earlier, killed run may have left behind before starting afresh.
  clean_node_leftovers
  mkdir -p "$CONTAINERD_ROOT" "$CONTAINERD_STATE"
  start_daemon containerd containerd --config "$CONF/containerd.toml" --log-level warn
  wait_for_daemon containerd "containerd CRI on $CONTAINERD_SOCK" 60 containerd_ok
}

start_kubelet() {
  healthy_or_stop kubelet kubelet_ok && return 0
  ensure_port_free kubelet 10248 10250
  mkdir -p "$KUBELET_ROOT"
  start_daemon kubelet "$K8S_BIN/kubelet" \
    --config "$CONF/kubelet.yaml" --kubeconfig "$CONF/node.kubeconfig" \
    --root-dir "$KUBELET_ROOT" --hostname-override "$REAL_NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "node-role/real=true,type=real" --v=1
  wait_for_daemon kubelet "kubelet healthz" 120 kubelet_ok
}

start_kube_proxy() {
  healthy_or_stop kube-proxy kube_proxy_ok && return 0
  ensure_port_free kube-proxy 10249 10256
  start_daemon kube-proxy "$K8S_BIN/kube-proxy" --config "$CONF/kube-proxy.yaml" --v=1
  wait_for_daemon kube-proxy "kube-proxy healthz" 60 kube_proxy_ok
}

start_coredns() {
  healthy_or_stop coredns coredns_ok && return 0
  start_daemon coredns "$COREDNS_BIN/coredns" -conf "$CONF/Corefile"
  wait_for_daemon coredns "CoreDNS to answer on $NODE_IP:53" 60 coredns_ok
}

start_real_node() {
  sysctl -qw net.ipv4.ip_forward=1
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || modprobe br_netfilter 2>/dev/null || true
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
  ensure_pause_image
  write_node_configs
  # After start_containerd: starting containerd clears a killed node's leftovers, and the rules
  # must outlive that (inserted before it, they were deleted again on every fresh start).
  start_containerd
  if ((CLUSTER_REPAIR)); then allow_pod_forwarding; fi
  start_kubelet
  start_kube_proxy
  start_coredns
}

# dockerd sets the FORWARD policy to DROP and br_netfilter sends bridged traffic through it, so
# pod-to-pod and pod-to-Service traffic on the CNI bridge would be dropped (kube-proxy only accepts
# marked or established flows). Accept what enters or leaves the pod bridge, as a node's CNI does.
# Appended, not inserted first: the NetworkPolicy enforcer's jump (kept first in the chain by
# kube-router) must see pod traffic before this accept does.
POD_FORWARD_RULES=("-i $CNI_BRIDGE -j ACCEPT" "-o $CNI_BRIDGE -j ACCEPT")

pod_forwarding_allowed() {
  local rule
  for rule in "${POD_FORWARD_RULES[@]}"; do
    # shellcheck disable=SC2086 # a rule is a list of iptables words
    iptables -w 5 -C FORWARD $rule 2>/dev/null || return 1
  done
}

allow_pod_forwarding() {
  local rule
  for rule in "${POD_FORWARD_RULES[@]}"; do
    # shellcheck disable=SC2086 # a rule is a list of iptables words
    iptables -w 5 -C FORWARD $rule 2>/dev/null || iptables -w 5 -A FORWARD $rule
  done
}

remove_pod_forwarding() {
  local rule
  for rule in "${POD_FORWARD_RULES[@]}"; do
    # shellcheck disable=SC2086
    while iptables -w 5 -D FORWARD $rule 2>/dev/null; do :; done
  done
}

node_ready() {
  [[ $(kubectl_admin get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

wait_nodes_ready() {
  local nodes=() n i
  ((REAL_NODE)) && nodes+=("$REAL_NODE_NAME")
  for ((i = 0; i < KWOK_NODES; i++)); do nodes+=("kwok-node-$i"); done
  for n in "${nodes[@]}"; do
    wait_for "node $n Ready" 180 node_ready "$n" || {
      kubectl_admin get nodes -o wide >&2 || true
      die "node $n did not become Ready (logs in $LOG_DIR)"
    }
  done
}
cleanup_real_node() {
  if is_running containerd && containerd_ok; then
    local crictl=("$CRICTL_BIN/crictl" --runtime-endpoint "unix://$CONTAINERD_SOCK" --timeout 30s)
    local pods=()
    mapfile -t pods < <("${crictl[@]}" pods -q 2>/dev/null || true)
    if ((${#pods[@]})); then
      "${crictl[@]}" stopp "${pods[@]}" >/dev/null 2>&1 || true
      "${crictl[@]}" rmp -f "${pods[@]}" >/dev/null 2>&1 || true
    fi
  fi
  stop_daemon containerd 30
  clean_node_leftovers
}

# clean_node_leftovers: with containerd stopped (or killed earlier), remove
# what the real node's pods left: containers (the processes in the kubelet's
# cgroups) and shims (processes working in our runtime state directory), never
# anything picked by name; then mounts, network namespaces, the CNI bridge,
# IPAM state and containerd's runtime state directory.
clean_node_leftovers() {
  # Containers: every process in the cgroups the kubelet created (kubepods)
  # or crictl/containerd created for k8s.io containers.
  local procs pid
  for procs in /sys/fs/cgroup/{pids,memory,cpu}/{kubepods,k8s.io}; do
    [[ -d $procs ]] || continue
    while read -r pid; do
      kill -KILL "$pid" 2>/dev/null || true
    done < <(find "$procs" -name cgroup.procs -exec cat {} + 2>/dev/null)
  done
  # Shims: containerd starts each in its task's bundle directory under our
  # runtime state directory (still their cwd after that directory is gone).
  local proc cwd
  for proc in /proc/[0-9]*; do
    cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
    if [[ $cwd == "$CONTAINERD_STATE/io.containerd.runtime.v2.task/"* ]]; then
      kill -KILL "${proc#/proc/}" 2>/dev/null || true
    fi
  done
  # Unmount everything below the node's directories (deepest first).
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk '{print $2}' /proc/mounts | grep -E "^($KUBELET_ROOT|$CONTAINERD_ROOT|$CONTAINERD_STATE)(/|$)" | sort -r)
  # Network namespaces made by containerd's CRI for our pods.
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'); do
    ip netns delete "$ns" 2>/dev/null || true
  done
  ip link delete "$CNI_BRIDGE" 2>/dev/null || true
  rm -rf "/var/lib/cni/networks/$CNI_NETWORK"
  rm -rf "$CONTAINERD_STATE"
}


# stop_real_node: kubelet, CoreDNS, the pods, containerd and kube-proxy, and the host network state
# they made (kube-proxy's chains, the pod bridge's FORWARD rules).
stop_real_node() {
  stop_daemon kubelet 30
  stop_daemon coredns
  cleanup_real_node
  remove_pod_forwarding
  stop_daemon kube-proxy
  if [[ -x $K8S_BIN/kube-proxy ]]; then
    "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  # kube-proxy --cleanup leaves the localhost NodePort guard chain behind.
  local ipt hook
  for ipt in iptables ip6tables; do
    for hook in INPUT OUTPUT; do
      while "$ipt" -w 5 -D "$hook" -j KUBE-FIREWALL 2>/dev/null; do :; done
    done
    "$ipt" -w 5 -F KUBE-FIREWALL 2>/dev/null || true
    "$ipt" -w 5 -X KUBE-FIREWALL 2>/dev/null || true
  done
}
