# shellcheck shell=bash
# metrics-server: the metrics API (metrics.k8s.io: `kubectl top`, HorizontalPodAutoscalers) as a host
# daemon on the node IP, registered with kube-apiserver's aggregation layer. Sourced by cluster.sh.
#
# It scrapes only the real node's kubelet (kwok nodes have none): --node-selector. The kubelet's
# serving certificate is verified against the cluster CA, and the aggregator verifies
# metrics-server's (metrics-server.kube-system.svc) against the same CA (APIService caBundle).

METRICS_SERVER_PORT=4443
# How often the kubelet is scraped; short for the tests (metrics-server's minimum is 10 s).
METRICS_SERVER_RESOLUTION=15s
NODE_DAEMONS+=(metrics-server)

metrics_server_curl() {
  local host=metrics-server.kube-system.svc
  curl -fsS -m 3 --cacert "$PKI/ca.crt" --resolve "$host:$METRICS_SERVER_PORT:$NODE_IP" \
    "https://$host:$METRICS_SERVER_PORT$1"
}
# /livez: serving and scraping on time. (/readyz also waits for two scrapes, up to a resolution.)
metrics_server_ok() { metrics_server_curl /livez | grep -qx ok; }
metrics_api_available() {
  [[ $(kubectl_admin get apiservice v1beta1.metrics.k8s.io \
    -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null) == True ]]
}

start_metrics_server() {
  local kc=$CONF/metrics-server.kubeconfig
  local args=(
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc"
    --bind-address "$NODE_IP" --secure-port "$METRICS_SERVER_PORT"
    --tls-cert-file "$PKI/metrics-server-serving.crt"
    --tls-private-key-file "$PKI/metrics-server-serving.key"
    --kubelet-certificate-authority "$PKI/ca.crt"
    --kubelet-preferred-address-types InternalIP --kubelet-use-node-status-port
    --node-selector node-role/real=true
    --metric-resolution "$METRICS_SERVER_RESOLUTION"
    --profiling=false
  )
  CA_BUNDLE=$(base64 -w0 "$PKI/ca.crt") render metrics-server.yaml | apply_manifests
  stop_if_args_changed metrics-server 20 "$METRICS_SERVER_BIN/metrics-server" "${args[@]}"
  if ! healthy_or_stop metrics-server metrics_server_ok; then
    ensure_port_free metrics-server "$METRICS_SERVER_PORT"
    start_daemon metrics-server "$METRICS_SERVER_BIN/metrics-server" "${args[@]}"
    wait_for_daemon metrics-server "metrics-server /livez on $NODE_IP:$METRICS_SERVER_PORT" 60 metrics_server_ok
  fi
  wait_for_daemon metrics-server "APIService v1beta1.metrics.k8s.io Available" 60 metrics_api_available
}

# The APIService goes first: with no server behind it, discovery of metrics.k8s.io fails, which
# stalls namespace deletion (and `up` with REAL_NODE=0 never starts metrics-server).
stop_metrics_server() {
  if [[ -f $PKI/ca.crt ]] && apiserver_ok; then
    kubectl_admin delete apiservice v1beta1.metrics.k8s.io --ignore-not-found --timeout=20s >/dev/null 2>&1 || true
  fi
  stop_daemon metrics-server
}
