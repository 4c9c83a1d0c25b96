# shellcheck shell=bash
# Objects the local cluster itself needs (RBAC of the host daemons, the kube-dns Service, the app
# namespaces and the deployer ServiceAccount) and the deployer's kubeconfig. Sourced by cluster.sh.

# apply_manifests < YAML: idempotent server-side apply with the cluster's own field manager.
apply_manifests() {
  kubectl_admin apply --server-side --force-conflicts --field-manager local-cluster -f - >/dev/null
}

bootstrap_objects() {
  wait_for "default ServiceAccount machinery" 60 kubectl_admin get namespace kube-system
  {
    render bootstrap.yaml
    echo "---"
    render kube-router-rbac.yaml
    echo "---"
    cat "$LC_DIR/manifests/deployer.yaml"
    echo "---"
    cat "$LC_DIR/manifests/deployer-rules.yaml"
    local ns
    for ns in "${APP_NAMESPACES[@]}"; do
      echo "---"
      APP_NAMESPACE=$ns render app-namespace.yaml
    done
  } | apply_manifests
}

write_deployer_kubeconfig() {
  local token="" i
  for ((i = 0; i < 120; i++)); do
    token=$(kubectl_admin -n platform-system get secret deployer-token -o jsonpath='{.data.token}' 2>/dev/null || true)
    [[ -n $token ]] && break
    sleep 0.5
  done
  [[ -n $token ]] || die "the token controller did not fill platform-system/deployer-token"
  write_kubeconfig "$KUBECONFIG_DEPLOYER" deployer "${APP_NAMESPACES[0]}" \
    "{token: $(echo "$token" | base64 -d)}"
}
