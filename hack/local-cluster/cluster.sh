#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Local Kubernetes cluster built from Go modules (see README.md here):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok with
# simulated nodes, and one real node (containerd + runc + CNI bridge, kubelet,
# kube-proxy, CoreDNS), plus dockerd and the registry on 127.0.0.1:5000.
#
# Usage: cluster.sh up|down|status|build|env|restart-apiserver
# Environment:
#   KWOK_NODES=3          number of simulated (kwok) nodes
#   REAL_NODE=1           0 to skip the real node (kubelet/containerd/kube-proxy)
#   CLUSTER_LOCK_WAIT=3600  seconds to wait for another cluster.sh holding the lock
#   CLUSTER_STATE_DIR=.local/cluster   state (certs, etcd data, logs, pids)
#   NODE_IP=<auto>        IPv4 address the apiserver advertises and the node uses
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/versions.sh
source "$LC_DIR/versions.sh"
LOG_TAG=cluster

KWOK_NODES=${KWOK_NODES:-3}
REAL_NODE=${REAL_NODE:-1}
REAL_NODE_NAME=local-node-0
K8S_BIN=$CACHE_ROOT/k8s-$K8S_VERSION/bin
ETCD_BIN=$CACHE_ROOT/etcd-$ETCD_VERSION/bin
KWOK_BIN=$CACHE_ROOT/kwok-$KWOK_VERSION/bin
CRICTL_BIN=$CACHE_ROOT/crictl-$CRICTL_VERSION/bin
COREDNS_BIN=$CACHE_ROOT/coredns-$COREDNS_VERSION/bin

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
APP_NAMESPACES=(intelligent-agent staging production)

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
    -f $CRICTL_BIN/.complete && -f $COREDNS_BIN/.complete ]]
}

cmd_build() {
  take_lock build
  "$LC_DIR/build.sh"
}

ensure_built() {
  binaries_built && return 0
  log "binaries missing in $CACHE_ROOT: building (a cold build takes 15-25 min)"
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

# --- PKI ---------------------------------------------------------------------

# cert NAME CN ORG SANS: a key and a CA-signed certificate in $PKI.
cert() {
  local name=$1 cn=$2 org=$3 sans=$4
  [[ -f $PKI/$name.crt && -f $PKI/$name.key ]] && return 0
  local subj="/CN=$cn"
  [[ -n $org ]] && subj="/O=$org$subj"
  local ext=$PKI/$name.ext
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

gen_pki() {
  local node_ip=$1
  mkdir -p "$PKI"
  chmod 0700 "$PKI"
  # Certificates that name the node IP are re-issued when it changes.
  if [[ -f $PKI/node-ip && $(cat "$PKI/node-ip") != "$node_ip" ]]; then
    log "node IP changed to $node_ip: re-issuing serving certificates"
    rm -f "$PKI"/apiserver.* "$PKI"/kubelet.*
  fi
  echo "$node_ip" >"$PKI/node-ip"
  if [[ ! -f $PKI/ca.crt ]]; then
    log "creating cluster CA and certificates in $PKI"
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=local-cluster-ca" -days 3650 \
      -sha256 -out "$PKI/ca.crt" 2>/dev/null
  fi
  [[ -f $PKI/sa.key ]] || {
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  }
  cert apiserver kube-apiserver "" \
    "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,IP:$node_ip"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ""
  cert admin kubernetes-admin system:masters ""
  cert controller-manager system:kube-controller-manager "" ""
  cert scheduler system:kube-scheduler "" ""
  cert kube-proxy system:kube-proxy "" ""
  cert kwok system:kwok "" ""
  cert coredns system:coredns "" ""
  cert node "system:node:$REAL_NODE_NAME" system:nodes ""
  cert kubelet "$REAL_NODE_NAME" "" "DNS:$REAL_NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$node_ip"
}

# write_kubeconfig FILE CERT-NAME [NAMESPACE]: certificates embedded.
write_kubeconfig() {
  local file=$1 name=$2 ns=${3:-default}
  local tmp=$file.tmp.$$
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $APISERVER
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$name.crt")
    client-key-data: $(base64 -w0 "$PKI/$name.key")
contexts:
- name: local
  context:
    cluster: local
    user: $name
    namespace: $ns
current-context: local
EOF
  chmod 0600 "$tmp"
  mv "$tmp" "$file"
}

gen_kubeconfigs() {
  mkdir -p "$CONF"
  write_kubeconfig "$KUBECONFIG_ADMIN" admin
  local c
  for c in controller-manager scheduler kube-proxy kwok coredns node; do
    write_kubeconfig "$CONF/$c.kubeconfig" "$c"
  done
}

# --- control plane -----------------------------------------------------------

# ensure_port_free NAME PORT...: before starting NAME, fail clearly if another
# process (e.g. the cluster of another clone of this repository) holds a port.
ensure_port_free() {
  local name=$1 port line
  shift
  for port in "$@"; do
    line=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)
    if [[ -n $line ]]; then
      die "cannot start $name: port $port is taken ($line); is another local cluster (another clone's .local/cluster) running? Stop it with its cluster.sh down"
    fi
  done
}

# healthy_or_stop NAME CHECK...: true if NAME runs and CHECK passes within 30 s
# (a busy daemon is given time, not restarted); otherwise stop it and be false.
healthy_or_stop() {
  local name=$1
  shift
  if is_running "$name"; then
    if wait_for "$name to be healthy" 30 "$@"; then
      return 0
    fi
    log "$name runs but is unhealthy: restarting it"
  fi
  stop_daemon "$name"
  return 1
}

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
  local node_ip=$1
  healthy_or_stop kube-apiserver apiserver_ok && return 0
  ensure_port_free kube-apiserver "$APISERVER_PORT"
  start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" \
    --advertise-address "$node_ip" --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" \
    --etcd-servers "$ETCD_CLIENT" \
    --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --enable-admission-plugins NodeRestriction \
    --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --profiling=false --v=1
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

# Cluster objects the local cluster itself needs (idempotent server-side apply).
bootstrap_objects() {
  local node_ip=$1
  wait_for "default ServiceAccount machinery" 60 kubectl_admin get namespace kube-system
  {
    # kwok and CoreDNS run with their own client certificates.
    cat <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: local-cluster:kwok
subjects:
- {kind: User, name: "system:kwok", apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: local-cluster:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: local-cluster:coredns
subjects:
- {kind: User, name: "system:coredns", apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: ClusterRole, name: "local-cluster:coredns", apiGroup: rbac.authorization.k8s.io}
---
# CoreDNS runs on the host (see README); pods reach it through this Service.
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $DNS_SVC_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: local-cluster
addressType: IPv4
endpoints:
- addresses: ["$node_ip"]
  conditions: {ready: true}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF
    echo "---"
    cat "$LC_DIR/manifests/deployer.yaml"
    echo "---"
    cat "$LC_DIR/manifests/deployer-rules.yaml"
    local ns
    for ns in "${APP_NAMESPACES[@]}"; do
      echo "---"
      printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns"
      echo "---"
      deployer_rolebinding "$ns"
    done
  } | kubectl_admin apply --server-side --force-conflicts --field-manager local-cluster -f - >/dev/null
}

# deployer_rolebinding NAMESPACE: the RoleBinding that lets the deployer
# ServiceAccount work in NAMESPACE (also used by tests/integration/conftest.py).
deployer_rolebinding() {
  cat <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: platform-deployer
  namespace: $1
subjects:
- {kind: ServiceAccount, name: deployer, namespace: platform-system}
roleRef: {kind: ClusterRole, name: platform-deployer, apiGroup: rbac.authorization.k8s.io}
EOF
}

write_deployer_kubeconfig() {
  local token="" i
  for ((i = 0; i < 120; i++)); do
    token=$(kubectl_admin -n platform-system get secret deployer-token -o jsonpath='{.data.token}' 2>/dev/null || true)
    [[ -n $token ]] && break
    sleep 0.5
  done
  [[ -n $token ]] || die "the token controller did not fill platform-system/deployer-token"
  local tmp=$KUBECONFIG_DEPLOYER.tmp.$$
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $APISERVER
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: deployer
  user:
    token: $(echo "$token" | base64 -d)
contexts:
- name: local
  context:
    cluster: local
    user: deployer
    namespace: ${APP_NAMESPACES[0]}
current-context: local
EOF
  chmod 0600 "$tmp"
  mv "$tmp" "$KUBECONFIG_DEPLOYER"
}

# --- kwok (simulated nodes) ----------------------------------------------------

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

apply_kwok_nodes() {
  local i
  {
    for ((i = 0; i < KWOK_NODES; i++)); do
      cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    node-role/kwok: "true"
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: kwok-node-$i
spec:
  taints:
  - {key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}
EOF
    done
  } | kubectl_admin apply --server-side --force-conflicts --field-manager local-cluster -f - >/dev/null
  # Simulated nodes beyond KWOK_NODES (from an earlier, larger run) go away.
  local name
  for name in $(kubectl_admin get nodes -l type=kwok -o name); do
    i=${name#node/kwok-node-}
    if [[ $i =~ ^[0-9]+$ ]] && ((i >= KWOK_NODES)); then
      kubectl_admin delete "$name" --wait=false >/dev/null
    fi
  done
}

# --- real node -----------------------------------------------------------------

containerd_ok() { "$CRICTL_BIN/crictl" --runtime-endpoint "unix://$CONTAINERD_SOCK" --timeout 5s info >/dev/null 2>&1; }
kubelet_ok() { curl -fsS -m 3 http://127.0.0.1:10248/healthz | grep -qx ok; }
kube_proxy_ok() { curl -fsS -m 3 http://127.0.0.1:10256/livez >/dev/null; }
coredns_ok() { busybox nslookup "kubernetes.default.svc.cluster.local" "$1" 2>/dev/null | grep -q "$KUBERNETES_SVC_IP"; }

ensure_pause_image() {
  if curl -fsS -m 5 "http://$REGISTRY_ADDR/v2/pause/manifests/3.10" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1; then
    return 0
  fi
  log "building the pause image $PAUSE_IMAGE from busybox-static"
  local ctx
  ctx=$(mktemp -d)
  cp "$(readlink -f "$(command -v busybox)")" "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
# Sleep forever, exit on TERM/INT; reaping is done by PID 1 semantics of sh.
ENTRYPOINT ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM INT; while :; do /bin/busybox sleep 3600 & wait $!; done"]
EOF
  DOCKER_BUILDKIT=0 docker build -q -t "$PAUSE_IMAGE" "$ctx" >/dev/null 2>&1 ||
    DOCKER_BUILDKIT=0 docker build -t "$PAUSE_IMAGE" "$ctx"
  docker push "$PAUSE_IMAGE" >/dev/null
  rm -rf "$ctx"
}

# write_if_changed FILE < CONTENT: replace FILE only when CONTENT differs.
# kube-proxy exits when its config file is written to, and running daemons
# must not notice an idempotent `up`.
write_if_changed() {
  local file=$1 tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
  else
    chmod 0644 "$tmp"
    mv -f "$tmp" "$file"
  fi
}

write_node_configs() {
  local node_ip=$1
  mkdir -p "$CONF/cni/net.d" "$CONF/certs.d/$REGISTRY_ADDR"
  write_if_changed "$CONF/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$CONTAINERD_STATE"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_STATE/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_ROOT/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_unprivileged_ports = true
  # Processes here lack CAP_SYS_RESOURCE: nobody may lower oom_score_adj
  # below 0, and runc fails on the kubelet's negative values (-998 for pod
  # sandboxes). Clamp them to containerd's own score (0) instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CONF/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$CONF/certs.d"
EOF
  write_if_changed "$CONF/certs.d/$REGISTRY_ADDR/hosts.toml" <<EOF
server = "http://$REGISTRY_ADDR"
[host."http://$REGISTRY_ADDR"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
  write_if_changed "$CONF/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  write_if_changed "$CONF/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine mounts the cgroup v1 hierarchy; Kubernetes >= 1.35 refuses it
# unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: 0.0.0.0
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization:
  mode: Webhook
tlsCertFile: "$PKI/kubelet.crt"
tlsPrivateKeyFile: "$PKI/kubelet.key"
clusterDomain: cluster.local
clusterDNS: ["$DNS_SVC_IP"]
resolvConf: /etc/resolv.conf
failSwapOn: false
# No CAP_SYS_RESOURCE on this machine: a negative score cannot be set.
oomScoreAdj: 0
staticPodPath: ""
serializeImagePulls: false
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
evictionHard:
  memory.available: "200Mi"
  nodefs.available: "2%"
  nodefs.inodesFree: "2%"
  imagefs.available: "2%"
evictionPressureTransitionPeriod: 30s
nodeStatusUpdateFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
maxPods: 110
podPidsLimit: -1
protectKernelDefaults: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: true
EOF
  write_if_changed "$CONF/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: $REAL_NODE_NAME
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $POD_CIDR
oomScoreAdj: 0
clientConnection:
  kubeconfig: "$CONF/kube-proxy.kubeconfig"
# NodePorts answer on 127.0.0.1 (route_localnet) and on the node IP.
nodePortAddresses: ["127.0.0.0/8", "$node_ip/32"]
iptables:
  localhostNodePorts: true
  masqueradeAll: false
  syncPeriod: 10s
  minSyncPeriod: 0s
conntrack:
  maxPerCore: 0
  min: 0
EOF
  write_if_changed "$CONF/Corefile" <<EOF
.:53 {
    bind $node_ip
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $CONF/coredns.kubeconfig local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
EOF
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
  local node_ip=$1
  healthy_or_stop kubelet kubelet_ok && return 0
  ensure_port_free kubelet 10248 10250
  mkdir -p "$KUBELET_ROOT"
  start_daemon kubelet "$K8S_BIN/kubelet" \
    --config "$CONF/kubelet.yaml" --kubeconfig "$CONF/node.kubeconfig" \
    --root-dir "$KUBELET_ROOT" --hostname-override "$REAL_NODE_NAME" --node-ip "$node_ip" \
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
  local node_ip=$1
  healthy_or_stop coredns coredns_ok "$node_ip" && return 0
  start_daemon coredns "$COREDNS_BIN/coredns" -conf "$CONF/Corefile"
  wait_for_daemon coredns "CoreDNS to answer on $node_ip:53" 60 coredns_ok "$node_ip"
}

start_real_node() {
  local node_ip=$1
  sysctl -qw net.ipv4.ip_forward=1
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || modprobe br_netfilter 2>/dev/null || true
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
  allow_pod_forwarding
  ensure_pause_image
  write_node_configs "$node_ip"
  start_containerd
  start_kubelet "$node_ip"
  start_kube_proxy
  start_coredns "$node_ip"
}

# dockerd sets the FORWARD policy to DROP and br_netfilter sends bridged traffic through it, so
# pod-to-pod and pod-to-Service traffic on the CNI bridge would be dropped (kube-proxy only accepts
# marked or established flows). Accept what enters or leaves the pod bridge, as a node's CNI does.
POD_FORWARD_RULES=("-i $CNI_BRIDGE -j ACCEPT" "-o $CNI_BRIDGE -j ACCEPT")

allow_pod_forwarding() {
  local rule
  for rule in "${POD_FORWARD_RULES[@]}"; do
    # shellcheck disable=SC2086 # a rule is a list of iptables words
    iptables -w 5 -C FORWARD $rule 2>/dev/null || iptables -w 5 -I FORWARD 1 $rule
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

# --- commands ------------------------------------------------------------------

cmd_up() {
  local start
  start=$(date +%s)
  check_prereqs
  take_lock cluster
  ensure_built
  ensure_state_dirs
  "$LC_DIR/docker.sh" up
  local node_ip
  node_ip=$(detect_node_ip)
  log "node IP $node_ip"
  gen_pki "$node_ip"
  gen_kubeconfigs
  start_etcd
  start_apiserver "$node_ip"
  start_controller_manager
  start_scheduler
  bootstrap_objects "$node_ip"
  add_kwok_route
  start_kwok
  apply_kwok_nodes
  if ((REAL_NODE)); then
    start_real_node "$node_ip"
  fi
  wait_nodes_ready
  write_deployer_kubeconfig
  wait_for_daemon kube-controller-manager "kube-controller-manager healthz" 60 secure_healthz_ok 10257
  wait_for_daemon kube-scheduler "kube-scheduler healthz" 60 secure_healthz_ok 10259
  log "cluster up in $(($(date +%s) - start)) s"
  echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
}

# Stop and start only kube-apiserver: what clients see during a control-plane upgrade. The modules'
# tests use it to prove a rollout wait survives the restart.
cmd_restart_apiserver() {
  take_lock cluster
  local start node_ip
  start=$(date +%s)
  node_ip=$(detect_node_ip)
  stop_daemon kube-apiserver 15
  start_apiserver "$node_ip"
  log "kube-apiserver restarted in $(($(date +%s) - start)) s"
}

# Remove pods, mounts and network state of the real node (after kubelet stopped).
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
  remove_pod_forwarding
  rm -rf "/var/lib/cni/networks/$CNI_NETWORK"
  rm -rf "$CONTAINERD_STATE"
}

cmd_down() {
  take_lock cluster
  stop_daemon kubelet 30
  stop_daemon coredns
  cleanup_real_node
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
  stop_daemon kwok
  ip route delete unreachable "$KWOK_POD_CIDR" 2>/dev/null || true
  stop_daemon kube-scheduler
  stop_daemon kube-controller-manager
  stop_daemon kube-apiserver 15
  stop_daemon etcd 30
  "$LC_DIR/docker.sh" down
  log "cluster down"
}

cmd_status() {
  local rc=0 name pid
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok containerd kubelet kube-proxy coredns; do
    if pid=$(pid_of "$name"); then
      printf '%-24s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-24s not running\n' "$name"
      if [[ $name != containerd && $name != kubelet && $name != kube-proxy && $name != coredns ]] || ((REAL_NODE)); then
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
