# shellcheck shell=bash disable=SC2034
# The exporters the monitoring role's alert rules need, as host daemons on the node IP:
# node-exporter (Debian's prometheus-node-exporter: the node's CPU, memory, filesystems) and
# kube-state-metrics (built from its Go module: pods, Deployments, nodes, HPAs as metrics).
# Prometheus pods reach them through the selectorless Services in templates/exporters.yaml.
# Sourced by cluster.sh.

EXPORTERS_NAMESPACE=monitoring
NODE_EXPORTER_PORT=9100
KUBE_STATE_METRICS_PORT=8080
KUBE_STATE_METRICS_TELEMETRY_PORT=8081
# What kube-state-metrics reports (and all its ClusterRole lets it list/watch): what the alert rules
# and dashboards read, plus the usual workload objects. No Secrets or ConfigMaps.
KUBE_STATE_METRICS_RESOURCES=pods,deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs,horizontalpodautoscalers,nodes,namespaces,services,poddisruptionbudgets,resourcequotas
# Debian's default plus the real node's runtime directories (pod volumes and container root
# filesystems are not the node's disks; a production node-exporter excludes /var/lib/kubelet too).
NODE_EXPORTER_MOUNTS_EXCLUDE="^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+|${KUBELET_ROOT#/}/.+|${CONTAINERD_ROOT#/}/.+)(\$|/)"
NODE_DAEMONS+=(node-exporter kube-state-metrics)

# Health checks, as a Prometheus pod would see them (the node IP), small bodies only: a grep -q on a
# whole /metrics page would close the pipe early and fail under pipefail.
node_exporter_ok() { curl -fsS -m 5 -o /dev/null "http://$NODE_IP:$NODE_EXPORTER_PORT/metrics"; }
kube_state_metrics_ok() {
  curl -fsS -m 3 "http://$NODE_IP:$KUBE_STATE_METRICS_PORT/healthz" | grep -qx OK &&
    curl -fsS -m 3 "http://127.0.0.1:$KUBE_STATE_METRICS_TELEMETRY_PORT/readyz" | grep -qx OK
}

start_node_exporter() {
  healthy_or_stop node-exporter node_exporter_ok && return 0
  ensure_port_free node-exporter "$NODE_EXPORTER_PORT"
  # Debian's build enables the systemd collector, and there is no systemd here; no textfile directory.
  start_daemon node-exporter prometheus-node-exporter \
    --web.listen-address="$NODE_IP:$NODE_EXPORTER_PORT" \
    --collector.filesystem.mount-points-exclude="$NODE_EXPORTER_MOUNTS_EXCLUDE" \
    --no-collector.textfile --no-collector.systemd
  wait_for_daemon node-exporter "node-exporter metrics on $NODE_IP:$NODE_EXPORTER_PORT" 60 node_exporter_ok
}

start_kube_state_metrics() {
  healthy_or_stop kube-state-metrics kube_state_metrics_ok && return 0
  ensure_port_free kube-state-metrics "$KUBE_STATE_METRICS_PORT" "$KUBE_STATE_METRICS_TELEMETRY_PORT"
  start_daemon kube-state-metrics "$KUBE_STATE_METRICS_BIN/kube-state-metrics" \
    --kubeconfig "$CONF/kube-state-metrics.kubeconfig" \
    --host "$NODE_IP" --port "$KUBE_STATE_METRICS_PORT" \
    --telemetry-host 127.0.0.1 --telemetry-port "$KUBE_STATE_METRICS_TELEMETRY_PORT" \
    --resources "$KUBE_STATE_METRICS_RESOURCES" --v=1
  wait_for_daemon kube-state-metrics "kube-state-metrics on $NODE_IP:$KUBE_STATE_METRICS_PORT" 90 kube_state_metrics_ok
}

# The Services and EndpointSlices first (they name the node IP), then the daemons.
start_exporters() {
  render exporters.yaml | apply_manifests
  start_node_exporter
  start_kube_state_metrics
}

stop_exporters() {
  stop_daemon kube-state-metrics
  stop_daemon node-exporter
}
