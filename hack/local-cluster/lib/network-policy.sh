# shellcheck shell=bash
# NetworkPolicy enforcement on the real node: kube-router running only its network policy controller
# (its "firewall"; not its router nor its service proxy: kube-proxy and the CNI bridge stay as they
# are). It programs the filter table with iptables and ipset: a jump first in INPUT, FORWARD and
# OUTPUT to KUBE-ROUTER-{INPUT,FORWARD,OUTPUT}, one KUBE-POD-FW-* chain per local pod, one
# KUBE-NWPLCY-* chain per policy, KUBE-SRC-*/KUBE-DST-* ipsets. Test-only (see README). Sourced by
# cluster.sh.

KUBE_ROUTER_HEALTH_PORT=20244 # kube-router's default; it listens on all interfaces (no address flag)
# Full resync period; policy, pod and namespace changes are applied on their events, not on this.
KUBE_ROUTER_SYNC_PERIOD=30s
NODE_DAEMONS+=(kube-router)

# What kube-router's network policy controller creates in the filter table, and its ipsets.
KUBE_ROUTER_CHAINS_RE='^(KUBE-ROUTER-(INPUT|FORWARD|OUTPUT)|KUBE-POD-FW-[A-Z0-9]+|KUBE-NWPLCY-[A-Z0-9]+)$'
KUBE_ROUTER_JUMPS_RE='^-A (INPUT|FORWARD|OUTPUT) .*-j KUBE-ROUTER-(INPUT|FORWARD|OUTPUT)$'
KUBE_ROUTER_IPSETS_RE='^KUBE-(SRC|DST)-[A-Z0-9]+$'

# kube_router_guards_pod_bridge: INPUT and OUTPUT jump to kube-router's chains, and FORWARD does so
# before it accepts the pod bridge's traffic (lib/node.sh appends those accepts; kube-router keeps
# its jump first), so every pod's packet meets the policies first.
kube_router_guards_pod_bridge() {
  local hook
  for hook in INPUT OUTPUT; do
    iptables -w 5 -S "$hook" 2>/dev/null | grep -q -- "-j KUBE-ROUTER-$hook\$" || return 1
  done
  iptables -w 5 -S FORWARD 2>/dev/null | awk -v in_rule="-A FORWARD -i $CNI_BRIDGE -j ACCEPT" \
    -v out_rule="-A FORWARD -o $CNI_BRIDGE -j ACCEPT" '
    $0 == in_rule || $0 == out_rule { accept = 1 }
    / -j KUBE-ROUTER-FORWARD$/ && !accept { jump = 1 }
    END { exit !jump }'
}

kube_router_ok() {
  curl -fsS -m 3 "http://127.0.0.1:$KUBE_ROUTER_HEALTH_PORT/healthz" >/dev/null && kube_router_guards_pod_bridge
}

start_network_policy() {
  healthy_or_stop kube-router kube_router_ok && return 0
  command -v ipset >/dev/null || die "ipset missing (kube-router needs it): run hack/install-system-deps.sh"
  ensure_port_free kube-router "$KUBE_ROUTER_HEALTH_PORT"
  # Its node is the real node (pods whose hostIP is that node's InternalIP); the firewall controller
  # needs no spec.podCIDR (only kube-router's router reads it), so the node is left as it is.
  start_daemon kube-router "$KUBE_ROUTER_BIN/kube-router" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
    --kubeconfig "$CONF/kube-router.kubeconfig" --hostname-override "$REAL_NODE_NAME" \
    --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
    --iptables-sync-period "$KUBE_ROUTER_SYNC_PERIOD" \
    --health-port "$KUBE_ROUTER_HEALTH_PORT" --metrics-port 0 --v=0
  wait_for_daemon kube-router "kube-router healthz and its FORWARD jump ahead of the $CNI_BRIDGE accepts" 60 \
    kube_router_ok
}

# remove_network_policy_rules: the jumps, chains and ipsets kube-router made, and nothing else (its
# own --cleanup-config would also flush IPVS and every ipset of its router). One iptables-restore:
# the jumps are deleted as iptables-save prints them, then the chains are flushed and deleted.
remove_network_policy_rules() {
  local saved chains=() chain set
  saved=$(iptables-save -t filter 2>/dev/null) || return 0
  mapfile -t chains < <(awk '/^:/ {print substr($1, 2)}' <<<"$saved" | grep -E "$KUBE_ROUTER_CHAINS_RE" || true)
  {
    echo '*filter'
    grep -E "$KUBE_ROUTER_JUMPS_RE" <<<"$saved" | sed 's/^-A /-D /' || true
    for chain in "${chains[@]}"; do echo "-F $chain"; done
    for chain in "${chains[@]}"; do echo "-X $chain"; done
    echo 'COMMIT'
  } | iptables-restore -w 5 --noflush || log "could not remove kube-router's iptables chains (iptables-save | grep KUBE-ROUTER)"
  if command -v ipset >/dev/null; then
    while read -r set; do
      ipset destroy "$set" 2>/dev/null || log "could not destroy ipset $set"
    done < <(ipset list -n 2>/dev/null | grep -E "$KUBE_ROUTER_IPSETS_RE" || true)
  fi
}

stop_network_policy() {
  stop_daemon kube-router
  remove_network_policy_rules
}
