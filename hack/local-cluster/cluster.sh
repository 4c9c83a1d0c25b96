#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Local Kubernetes cluster built from Go modules (see README.md here):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok with
# simulated nodes, and one real node (containerd + runc + CNI bridge, kubelet,
# kube-proxy, CoreDNS, NetworkPolicy enforcement), the metrics API, exporters,
# plus dockerd and the registry on 127.0.0.1:5000.
#
# Usage: cluster.sh up|down|status|build|env|restart-apiserver
# Environment:
#   KWOK_NODES=3          number of simulated (kwok) nodes
#   REAL_NODE=1           0 to skip the real node (kubelet/containerd/kube-proxy)
#   CLUSTER_LOCK_WAIT=3600  seconds to wait for another cluster.sh holding the lock
#   CLUSTER_STATE_DIR=.local/cluster   state (certs, etcd data, logs, pids)
#   CLUSTER_REPAIR=1      0 to leave the host's pod-bridge FORWARD rules alone (data-path tests)
#   NETWORK_POLICY=1      0 to run (and leave running) no NetworkPolicy enforcer
#   NODE_IP=<auto>        IPv4 address the apiserver advertises and the node uses
# Each concern lives in lib/ (settings, pki, control-plane, addons, kwok, node, datapath, ...);
# configuration files are rendered from templates/.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/versions.sh
source "$LC_DIR/versions.sh"
LOG_TAG=cluster
for part in settings pki control-plane addons kwok node datapath network-policy metrics-server exporters; do
  # shellcheck source=/dev/null
  source "$LC_DIR/lib/$part.sh"
done

cmd_build() {
  take_lock build
  "$LC_DIR/build.sh"
}

cmd_up() {
  local start=$SECONDS
  check_prereqs
  take_lock cluster
  ensure_built
  ensure_state_dirs
  "$LC_DIR/docker.sh" up
  NODE_IP=$(detect_node_ip)
  log "node IP $NODE_IP"
  gen_pki
  gen_kubeconfigs
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  bootstrap_objects
  add_kwok_route
  start_kwok
  apply_kwok_nodes
  if ((REAL_NODE)); then
    start_real_node
    if ((NETWORK_POLICY)); then start_network_policy; else stop_network_policy; fi
  fi
  wait_nodes_ready
  write_deployer_kubeconfig
  wait_for_daemon kube-controller-manager "kube-controller-manager healthz" 60 secure_healthz_ok 10257
  wait_for_daemon kube-scheduler "kube-scheduler healthz" 60 secure_healthz_ok 10259
  if ((REAL_NODE)); then
    start_metrics_server
    start_exporters
    check_datapath
  fi
  log "cluster up in $((SECONDS - start)) s"
  echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
}

# Stop and start only kube-apiserver: what clients see during a control-plane upgrade. The modules'
# tests use it to prove a rollout wait survives the restart.
cmd_restart_apiserver() {
  take_lock cluster
  local start=$SECONDS
  NODE_IP=$(detect_node_ip)
  stop_daemon kube-apiserver 15
  start_apiserver
  log "kube-apiserver restarted in $((SECONDS - start)) s"
}

cmd_down() {
  take_lock cluster
  stop_exporters
  stop_metrics_server
  stop_network_policy
  stop_real_node
  stop_daemon kwok
  remove_kwok_route
  stop_daemon kube-scheduler
  stop_daemon kube-controller-manager
  stop_daemon kube-apiserver 15
  stop_daemon etcd 30
  "$LC_DIR/docker.sh" down
  log "cluster down"
}

cmd_status() {
  local rc=0 name pid
  for name in "${CONTROL_PLANE_DAEMONS[@]}" "${NODE_DAEMONS[@]}"; do
    if pid=$(pid_of "$name"); then
      printf '%-24s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-24s not running\n' "$name"
      if [[ " ${CONTROL_PLANE_DAEMONS[*]} " == *" $name "* ]] ||
        { ((REAL_NODE)) && ! [[ $name == kube-router && $NETWORK_POLICY == 0 ]]; }; then
        rc=1
      fi
    fi
  done
  "$LC_DIR/docker.sh" status || rc=1
  if [[ -f $PKI/ca.crt ]] && apiserver_ok; then
    echo "readyz: ok"
    kubectl_admin get nodes -o wide || rc=1
    echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
  else
    echo "readyz: apiserver not answering"
    rc=1
  fi
  return "$rc"
}

# Machine-readable paths for scripts and tests (KEY=VALUE lines).
cmd_env() {
  local real=""
  ((REAL_NODE)) && real=$REAL_NODE_NAME
  cat <<EOF
KUBECONFIG=$KUBECONFIG_ADMIN
DEPLOYER_KUBECONFIG=$KUBECONFIG_DEPLOYER
KUBECTL=$K8S_BIN/kubectl
CRICTL=$CRICTL_BIN/crictl
CONTAINERD_SOCK=$CONTAINERD_SOCK
REGISTRY=$REGISTRY_ADDR
REAL_NODE=$real
KWOK_NODES=$KWOK_NODES
STATE_DIR=$STATE_DIR
K8S_VERSION=$K8S_VERSION
EOF
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  build) cmd_build ;;
  env) cmd_env ;;
  restart-apiserver) cmd_restart_apiserver ;;
  *) echo "usage: $0 up|down|status|build|env|restart-apiserver" >&2; exit 2 ;;
esac
