# shellcheck shell=bash
# Prove the real node's data path before `up` says "up": a pod reaches another pod, a ClusterIP
# Service and CoreDNS, and the host reaches a NodePort. A broken hop stops `up` with its name, the
# likely cause read off this host, and the fix, instead of a timeout much later in a playbook.
# Sourced by cluster.sh.

DATAPATH_NAMESPACE=local-cluster-datapath
DATAPATH_EXPECT=datapath-ok

datapath_pods_ready() {
  kubectl_admin -n "$DATAPATH_NAMESPACE" wait --for=condition=Ready --timeout=90s \
    pod/datapath-server pod/datapath-client >/dev/null
}

# in_client_pod COMMAND...: run a busybox applet in the client pod.
in_client_pod() {
  kubectl_admin -n "$DATAPATH_NAMESPACE" exec datapath-client -- /bin/busybox "$@"
}

# Debian's busybox-static wget segfaults when given a timeout (-T), and without one a dropped
# packet would hang the probe: speak HTTP/1.0 through nc, whose -w bounds the wait.
fetch_from_pod() {
  in_client_pod sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | /bin/busybox nc -w 3 ${1%:*} ${1##*:}" 2>/dev/null |
    grep -qx "$DATAPATH_EXPECT"
}
resolve_from_pod() { in_client_pod nslookup "$1" 2>/dev/null | grep -q "$2"; }
fetch_from_host() { curl -fsS -m 3 "http://$1/" 2>/dev/null | grep -qx "$DATAPATH_EXPECT"; }

# forwarding_diagnosis: what on this host drops traffic forwarded to and from the pod bridge.
forwarding_diagnosis() {
  local policy
  policy=$(iptables -w 5 -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')
  if [[ $(sysctl -n net.ipv4.ip_forward) != 1 ]]; then
    echo "net.ipv4.ip_forward is 0. Fix: sysctl -w net.ipv4.ip_forward=1, or run cluster.sh up again."
  elif [[ $policy == DROP ]] && ! pod_forwarding_allowed; then
    echo "the FORWARD chain's policy is DROP (dockerd sets it) and it has no ACCEPT rule for the pod bridge $CNI_BRIDGE ($(iptables -V)). Fix: run cluster.sh up again (it appends them), or by hand: iptables -A FORWARD -i $CNI_BRIDGE -j ACCEPT; iptables -A FORWARD -o $CNI_BRIDGE -j ACCEPT"
  else
    echo "FORWARD policy $policy, pod bridge rules present; see kube-proxy's rules (iptables-save | grep KUBE-SVC) and $LOG_DIR/kube-proxy.log"
  fi
}

# datapath_hop NAME CAUSE-COMMAND CHECK...: retry CHECK for a few seconds (kube-proxy and CoreDNS
# sync within a second or two of a change); on failure stop with the hop's name and the cause.
datapath_hop() {
  local name=$1 cause=$2
  shift 2
  if wait_for "$name" 15 "$@"; then
    log "data path: $name ok"
    return 0
  fi
  die "data path broken at hop '$name': $($cause)"
}

coredns_diagnosis() { echo "CoreDNS on $NODE_IP:53 (Service kube-dns $DNS_SVC_IP) did not answer the pod; see $LOG_DIR/coredns.log. $(forwarding_diagnosis)"; }
nodeport_diagnosis() { echo "the host got no answer from 127.0.0.1:$1; kube-proxy programs NodePorts (localhostNodePorts, route_localnet): see $LOG_DIR/kube-proxy.log and iptables -t nat -S KUBE-NODEPORTS"; }

check_datapath() {
  local start=$SECONDS
  render datapath-probe.yaml | apply_manifests
  datapath_pods_ready || die "data path: the probe pods in $DATAPATH_NAMESPACE did not become Ready on $REAL_NODE_NAME (kubectl -n $DATAPATH_NAMESPACE describe pods; logs in $LOG_DIR)"
  local pod_ip cluster_ip node_port
  pod_ip=$(kubectl_admin -n "$DATAPATH_NAMESPACE" get pod datapath-server -o jsonpath='{.status.podIP}')
  cluster_ip=$(kubectl_admin -n "$DATAPATH_NAMESPACE" get service datapath -o jsonpath='{.spec.clusterIP}')
  node_port=$(kubectl_admin -n "$DATAPATH_NAMESPACE" get service datapath -o jsonpath='{.spec.ports[0].nodePort}')
  datapath_hop "pod -> pod ($pod_ip:8080 over $CNI_BRIDGE)" forwarding_diagnosis fetch_from_pod "$pod_ip:8080"
  datapath_hop "pod -> ClusterIP Service ($cluster_ip:80)" forwarding_diagnosis fetch_from_pod "$cluster_ip:80"
  datapath_hop "pod -> CoreDNS (datapath.$DATAPATH_NAMESPACE.svc.cluster.local)" coredns_diagnosis \
    resolve_from_pod "datapath.$DATAPATH_NAMESPACE.svc.cluster.local" "$cluster_ip"
  datapath_hop "host -> NodePort (127.0.0.1:$node_port)" "nodeport_diagnosis $node_port" fetch_from_host "127.0.0.1:$node_port"
  log "data path proven in $((SECONDS - start)) s"
}
