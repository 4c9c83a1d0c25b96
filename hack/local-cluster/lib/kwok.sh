# shellcheck shell=bash
# kwok: simulated nodes for scale tests. Sourced by cluster.sh.

start_kwok() {
  is_running kwok && return 0
  stop_daemon kwok
  # Simulated nodes report 127.0.0.1 so that nothing ever sends traffic to a
  # made-up address; their pod IPs come from KWOK_POD_CIDR, which is routed
  # nowhere (see add_kwok_route).
  start_daemon kwok "$KWOK_BIN/kwok" \
    --kubeconfig "$CONF/kwok.kubeconfig" \
    --config "$LC_DIR/kwok/stages.yaml" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --cidr "$KWOK_POD_CIDR" --node-ip 127.0.0.1 \
    --server-address 127.0.0.1:10247 --node-lease-duration-seconds 40
}

add_kwok_route() {
  ip route replace unreachable "$KWOK_POD_CIDR" 2>/dev/null || true
}

remove_kwok_route() {
  ip route delete unreachable "$KWOK_POD_CIDR" 2>/dev/null || true
}

apply_kwok_nodes() {
  local i
  for ((i = 0; i < KWOK_NODES; i++)); do
    echo "---"
    KWOK_NODE_NAME=kwok-node-$i render kwok-node.yaml
  done | apply_manifests
  # Simulated nodes beyond KWOK_NODES (from an earlier, larger run) go away.
  local name
  for name in $(kubectl_admin get nodes -l type=kwok -o name); do
    i=${name#node/kwok-node-}
    if [[ $i =~ ^[0-9]+$ ]] && ((i >= KWOK_NODES)); then
      kubectl_admin delete "$name" --wait=false >/dev/null
    fi
  done
}
