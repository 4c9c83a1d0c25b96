# shellcheck shell=bash
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler as host daemons. Sourced by cluster.sh.


etcd_ok() { curl -fsS -m 3 "$ETCD_CLIENT/health" | grep -q '"health":"true"'; }
apiserver_ok() { curl -fsS -m 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$APISERVER/readyz" | grep -qx ok; }
secure_healthz_ok() { curl -fsSk -m 3 "https://127.0.0.1:$1/healthz" | grep -qx ok; }

start_etcd() {
  healthy_or_stop etcd etcd_ok && return 0
  ensure_port_free etcd 2379 2380
  mkdir -p "$STATE_DIR/etcd"
  chmod 0700 "$STATE_DIR/etcd"
  # --unsafe-no-fsync: a throwaway test cluster on a shared 2-core machine;
  # fsync latency would only slow the apiserver down. cluster.sh down stops
  # etcd cleanly.
  start_daemon etcd "$ETCD_BIN/etcd" \
    --name local --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "$ETCD_CLIENT" --advertise-client-urls "$ETCD_CLIENT" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster local=http://127.0.0.1:2380 \
    --listen-metrics-urls http://127.0.0.1:2381 \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
  wait_for_daemon etcd "etcd health" 60 etcd_ok
}

start_apiserver() {
  # shellcheck disable=SC2054 # the commas belong to flag values (Node,RBAC)
  local args=(
    --advertise-address "$NODE_IP" --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT"
    --etcd-servers "$ETCD_CLIENT"
    --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767
    --authorization-mode Node,RBAC --allow-privileged=true
    --enable-admission-plugins NodeRestriction
    --client-ca-file "$PKI/ca.crt"
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key"
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt"
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key"
    --kubelet-certificate-authority "$PKI/ca.crt"
    --kubelet-preferred-address-types InternalIP,Hostname
    --service-account-issuer https://kubernetes.default.svc.cluster.local
    --service-account-key-file "$PKI/sa.pub"
    --service-account-signing-key-file "$PKI/sa.key"
    --profiling=false --v=1
    # The aggregation layer (metrics.k8s.io, served by metrics-server on the host): the apiserver
    # proxies to an APIService's endpoint (not its ClusterIP) with the front-proxy client
    # certificate and passes the user in these headers.
    --enable-aggregator-routing=true
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt"
    --requestheader-allowed-names front-proxy-client
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group
    --requestheader-extra-headers-prefix X-Remote-Extra-
    --proxy-client-cert-file "$PKI/front-proxy-client.crt"
    --proxy-client-key-file "$PKI/front-proxy-client.key"
  )
  stop_if_args_changed kube-apiserver 15 "$K8S_BIN/kube-apiserver" "${args[@]}"
  healthy_or_stop kube-apiserver apiserver_ok && return 0
  ensure_port_free kube-apiserver "$APISERVER_PORT"
  start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" "${args[@]}"
  wait_for_daemon kube-apiserver "kube-apiserver /readyz" 180 apiserver_ok
  log "kube-apiserver ready at $APISERVER"
}

start_controller_manager() {
  healthy_or_stop kube-controller-manager secure_healthz_ok 10257 && return 0
  ensure_port_free kube-controller-manager 10257
  local kc=$CONF/controller-manager.kubeconfig
  start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port 10257 \
    --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
    --controllers '*,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller' \
    --profiling=false --v=1
}

start_scheduler() {
  healthy_or_stop kube-scheduler secure_healthz_ok 10259 && return 0
  ensure_port_free kube-scheduler 10259
  local kc=$CONF/scheduler.kubeconfig
  start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port 10259 \
    --leader-elect=false --profiling=false --v=1
}

