#!/usr/bin/env bash
# Install the Debian packages this project needs (local cluster, Docker,
# registry, base images, monitoring tools, linters). Idempotent: only packages
# that are missing are installed. Services are NOT enabled or started here;
# hack/local-cluster/cluster.sh and docker.sh start what they need.
set -euo pipefail

PACKAGES=(
  docker.io docker-registry containerd runc containernetworking-plugins
  iptables ipset conntrack socat ethtool iproute2 kmod gettext-base
  mmdebstrap busybox-static
  prometheus prometheus-alertmanager prometheus-node-exporter
  jq curl git shellcheck openssl procps util-linux ca-certificates
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != ii* ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-system-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  SUDO=(sudo)
else
  SUDO=()
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# There is no init system here: keep maintainer scripts from starting services.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 0755 "$policy"
  created_policy=1
fi
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if ((created_policy)); then "${SUDO[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

for attempt in 1 2 3; do
  if "${SUDO[@]}" apt-get update -qq &&
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${missing[@]}"; then
    echo "install-system-deps: done"
    exit 0
  fi
  echo "install-system-deps: attempt $attempt failed, retrying" >&2
  sleep $((attempt * 5))
done
echo "install-system-deps: apt-get failed" >&2
exit 1
