# shellcheck shell=bash
# Cluster CA, serving and client certificates, kubeconfigs. Sourced by cluster.sh.

# cert NAME CN ORG SANS [CA]: a key and a certificate in $PKI signed by CA (default: the cluster CA).
cert() {
  local name=$1 cn=$2 org=$3 sans=$4 ca=${5:-ca}
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
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

gen_pki() {
  mkdir -p "$PKI"
  chmod 0700 "$PKI"
  # Certificates that name the node IP are re-issued when it changes.
  if [[ -f $PKI/node-ip && $(cat "$PKI/node-ip") != "$NODE_IP" ]]; then
    log "node IP changed to $NODE_IP: re-issuing serving certificates"
    rm -f "$PKI"/apiserver.* "$PKI"/kubelet.*
  fi
  echo "$NODE_IP" >"$PKI/node-ip"
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
  # The aggregation layer's own CA: kube-apiserver proxies to metrics-server with front-proxy-client,
  # and extension apiservers trust only this CA (and that name) for the user headers it sends.
  if [[ ! -f $PKI/front-proxy-ca.crt ]]; then
    openssl genrsa -out "$PKI/front-proxy-ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/front-proxy-ca.key" -subj "/CN=local-cluster-front-proxy-ca" \
      -days 3650 -sha256 -out "$PKI/front-proxy-ca.crt" 2>/dev/null
  fi
  cert front-proxy-client front-proxy-client "" "" front-proxy-ca
  cert apiserver kube-apiserver "" \
    "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,IP:$NODE_IP"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ""
  cert admin kubernetes-admin system:masters ""
  cert controller-manager system:kube-controller-manager "" ""
  cert scheduler system:kube-scheduler "" ""
  cert kube-proxy system:kube-proxy "" ""
  cert kwok system:kwok "" ""
  cert coredns system:coredns "" ""
  cert kube-router system:kube-router "" ""
  cert kube-state-metrics system:kube-state-metrics "" ""
  cert node "system:node:$REAL_NODE_NAME" system:nodes ""
  cert kubelet "$REAL_NODE_NAME" "" "DNS:$REAL_NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP"
  # metrics-server: a client (apiserver, kubelet) and a serving certificate for the name the
  # aggregator verifies (<service>.<namespace>.svc).
  cert metrics-server system:metrics-server "" ""
  cert metrics-server-serving metrics-server.kube-system.svc "" \
    "DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.cluster.local"
}

# write_kubeconfig FILE USER NAMESPACE CREDENTIAL: a kubeconfig for the
# local cluster, the CA embedded, written atomically and readable by root only.
write_kubeconfig() {
  local tmp=$1.tmp.$$
  KC_USER=$2 KC_NAMESPACE=$3 KC_CREDENTIAL=$4 CA_DATA=$(base64 -w0 "$PKI/ca.crt") \
    render kubeconfig.yaml >"$tmp"
  chmod 0600 "$tmp"
  # An unchanged kubeconfig is left alone: kube-state-metrics restarts (resetting its metrics) whenever
  # its kubeconfig file is written.
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

# write_cert_kubeconfig FILE CERT-NAME: client certificate credentials.
write_cert_kubeconfig() {
  write_kubeconfig "$1" "$2" default \
    "{client-certificate-data: $(base64 -w0 "$PKI/$2.crt"), client-key-data: $(base64 -w0 "$PKI/$2.key")}"
}

gen_kubeconfigs() {
  mkdir -p "$CONF"
  write_cert_kubeconfig "$KUBECONFIG_ADMIN" admin
  local c
  for c in controller-manager scheduler kube-proxy kwok coredns kube-router metrics-server kube-state-metrics node; do
    write_cert_kubeconfig "$CONF/$c.kubeconfig" "$c"
  done
}
