#!/usr/bin/env bash
# Make the local Debian base images from this machine's apt sources and push them to the local
# registry (no public container registry is reachable here):
#   <registry>/base/debian-python:bookworm      python3 + ca-certificates (build and runtime base of the demo backend)
#   <registry>/base/debian-nginx:bookworm       nginx + ca-certificates + busybox wget (demo frontend runtime base)
#   <registry>/base/debian-prometheus:bookworm  Debian's prometheus, /usr/bin/prometheus (in-cluster Prometheus)
# Every image runs as UID 1001 with a read-only root filesystem and a writable /tmp.
#
# Usage: build.sh [--force] [python|nginx|prometheus ...]      (default: all three)
#   --force   rebuild the root filesystems and push again even when the cache and the registry are current
# Environment: REGISTRY_ADDR (default 127.0.0.1:5000), BASE_IMAGES_SUITE (default bookworm),
#   BASE_IMAGES_CACHE_DIR (default ~/.cache/intelligent-agent-platform/base-images).
#
# How it stays fast: each image has a recipe key, a hash of everything that shapes it (packages,
# mmdebstrap options, hooks and the files they upload, apt sources, import config). The rootfs
# tarball is cached under that key; the image is pushed as :<suite> and :<suite>-<key>. When the
# registry's :<suite> and :<suite>-<key> tags already name the same manifest, nothing is done.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
REGISTRY=${REGISTRY_ADDR:-127.0.0.1:5000}
SUITE=${BASE_IMAGES_SUITE:-bookworm}
CACHE_DIR=${BASE_IMAGES_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/intelligent-agent-platform/base-images}
# Bump to force new images everywhere after a change the recipe key cannot see.
RECIPE_REVISION=1
ALL_IMAGES=(python nginx prometheus)
FORCE=0

log() { printf '[base-images %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }
human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }

# --- recipes --------------------------------------------------------------------------------------
# Packages beyond the `apt` variant (Essential + apt); mmdebstrap never installs Recommends.
declare -A PACKAGES=(
  [python]="python3 ca-certificates"
  [nginx]="nginx ca-certificates busybox-static"
  [prometheus]="prometheus ca-certificates"
)
declare -A DESCRIPTION=(
  [python]="Debian $SUITE with python3 and ca-certificates"
  [nginx]="Debian $SUITE with nginx (non-root, read-only root friendly config) and ca-certificates"
  [prometheus]="Debian $SUITE with Debian's prometheus package"
)

common_mmdebstrap_args() {
  local args=(
    --quiet --variant=apt --format=tar
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
    --dpkgopt='path-exclude=/usr/share/lintian/*' --dpkgopt='path-exclude=/usr/share/bash-completion/*'
  )
  # Keep the machine's apt acquire settings (proxy, validity of snapshot Release files).
  local opt
  while IFS= read -r opt; do
    [[ -n $opt ]] && args+=("--aptopt=$opt")
  done < <(apt-config dump 2>/dev/null | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' || true)
  printf '%s\n' "${args[@]}"
}

# The hooks run in the host's shell with the chroot as $1, hence the single quotes.
# shellcheck disable=SC2016
image_mmdebstrap_args() {
  case $1 in
    python) ;;
    nginx)
      printf '%s\n' \
        "--customize-hook=upload $HERE/files/nginx.conf /etc/nginx/nginx.conf" \
        '--customize-hook=rm -f "$1"/etc/nginx/sites-enabled/default' \
        '--customize-hook=ln -sf /bin/busybox "$1"/usr/local/bin/wget'
      ;;
    prometheus)
      # The raw tz database of libjs-moment-timezone (~210 MB) is not used by the web UI's bundles.
      printf '%s\n' \
        '--dpkgopt=path-exclude=/usr/share/javascript/moment-timezone/data/*' \
        '--customize-hook=mkdir -p "$1"/prometheus && chown 1001:0 "$1"/prometheus && chmod 0775 "$1"/prometheus'
      ;;
  esac
}

import_changes() {
  printf '%s\n' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV LANG=C.UTF-8' \
    "LABEL org.opencontainers.image.title=debian-$1" \
    "LABEL org.opencontainers.image.description=\"${DESCRIPTION[$1]}\"" \
    "LABEL org.opencontainers.image.base.name=debian:$SUITE"
  case $1 in
    python) printf '%s\n' 'ENV PYTHONDONTWRITEBYTECODE=1' 'ENV PYTHONUNBUFFERED=1' 'CMD ["python3"]' ;;
    nginx) printf '%s\n' 'EXPOSE 8080' 'CMD ["nginx", "-e", "/dev/stderr", "-g", "daemon off;"]' ;;
    prometheus)
      printf '%s\n' 'USER 1001' 'WORKDIR /prometheus' 'EXPOSE 9090' \
        'ENTRYPOINT ["/usr/bin/prometheus"]' \
        'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.console.libraries=/usr/share/prometheus/console_libraries", "--web.console.templates=/usr/share/prometheus/consoles"]'
      ;;
  esac
}

# A command proving the image works as it will run (UID 1001, read-only root, no capabilities).
verify_command() {
  case $1 in
    python) echo 'python3 -c "import ssl, json, http.server, urllib.request; print(\"python ok,\", ssl.OPENSSL_VERSION)"' ;;
    nginx) echo 'nginx -t -q -e /dev/stderr && wget --help 2>&1 | head -1 && echo nginx ok' ;;
    prometheus) echo '/usr/bin/prometheus --version 2>&1 | head -1' ;;
  esac
}

apt_sources() {
  local f
  if [[ -s /etc/apt/sources.list ]] && grep -qE '^[[:space:]]*deb ' /etc/apt/sources.list; then
    echo /etc/apt/sources.list
  fi
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -s $f ]] && echo "$f"
  done
  return 0
}

sha() { sha256sum | cut -c1-16; }

rootfs_key() {
  local name=$1 f
  {
    echo "revision=$RECIPE_REVISION suite=$SUITE packages=${PACKAGES[$name]}"
    common_mmdebstrap_args
    image_mmdebstrap_args "$name"
    for f in "$HERE"/files/*; do sha256sum <"$f"; done
    while IFS= read -r f; do cat "$f"; done < <(apt_sources)
  } | sha
}

image_key() { { echo "$1"; import_changes "$2"; } | sha; }

# --- registry helpers -----------------------------------------------------------------------------
ACCEPT='application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json'
registry_digest() { # repo tag -> prints the manifest digest, or nothing when the tag is missing
  local headers
  headers=$(curl -fsS -m 10 -I -H "Accept: $ACCEPT" "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null) || return 0
  awk -F': ' 'tolower($1) == "docker-content-digest" { gsub(/\r/, "", $2); print $2 }' <<<"$headers"
}
registry_size() { # repo tag -> compressed bytes (config + layers)
  curl -fsS -m 10 -H "Accept: $ACCEPT" "http://$REGISTRY/v2/$1/manifests/$2" |
    jq '[.config.size] + [.layers[].size] | add'
}

ensure_engine() {
  if docker info >/dev/null 2>&1 && curl -fsS -m 3 "http://$REGISTRY/v2/" >/dev/null 2>&1; then
    return 0
  fi
  if [[ $REGISTRY == 127.0.0.1:5000 && -x $REPO_ROOT/hack/local-cluster/docker.sh ]]; then
    log "Docker engine or registry not answering: starting them with hack/local-cluster/docker.sh up"
    "$REPO_ROOT/hack/local-cluster/docker.sh" up
  fi
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer (run hack/local-cluster/docker.sh up)"
  curl -fsS -m 3 "http://$REGISTRY/v2/" >/dev/null || die "no registry answers on http://$REGISTRY/v2/"
}

# --- steps ----------------------------------------------------------------------------------------
build_rootfs() { # name key tarball
  local name=$1 key=$2 tarball=$3 tmp start
  local -a args hooks
  mapfile -t args < <(common_mmdebstrap_args)
  mapfile -t hooks < <(image_mmdebstrap_args "$name")
  local -a sources
  mapfile -t sources < <(apt_sources)
  ((${#sources[@]})) || die "no apt sources configured on this machine (/etc/apt/sources.list[.d])"
  tmp="$tarball.tmp.$$"
  start=$(now)
  log "debian-$name: mmdebstrap $SUITE with: ${PACKAGES[$name]} (log: $CACHE_DIR/logs/debian-$name.log)"
  if ! mmdebstrap "${args[@]}" "${hooks[@]}" --include="$(tr ' ' ',' <<<"${PACKAGES[$name]}")" \
    "$SUITE" "$tmp" "${sources[@]}" >"$CACHE_DIR/logs/debian-$name.log" 2>&1; then
    rm -f "$tmp"
    tail -30 "$CACHE_DIR/logs/debian-$name.log" >&2
    die "debian-$name: mmdebstrap failed (see $CACHE_DIR/logs/debian-$name.log)"
  fi
  mv -f "$tmp" "$tarball"
  log "debian-$name: rootfs $key built in $(since "$start"), $(human "$(stat -c %s "$tarball")")"
}

import_and_push() { # name rootfs-key image-key tarball
  local name=$1 rkey=$2 ikey=$3 tarball=$4 start
  local ref="$REGISTRY/base/debian-$name"
  local -a changes=()
  local c
  while IFS= read -r c; do changes+=(--change "$c"); done < <(import_changes "$name")
  changes+=(--change "LABEL io.intelligent-agent-platform.base-recipe=$ikey")

  if ((FORCE == 0)) && docker image inspect "$ref:$SUITE-$ikey" >/dev/null 2>&1; then
    log "debian-$name: local image $ref:$SUITE-$ikey already exists"
  else
    start=$(now)
    docker import --message "rootfs $rkey from hack/base-images/build.sh" "${changes[@]}" \
      "$tarball" "$ref:$SUITE-$ikey" >/dev/null
    log "debian-$name: imported in $(since "$start")"
    start=$(now)
    local out
    if ! out=$(docker run --rm --read-only --user 1001:1001 --cap-drop ALL --security-opt no-new-privileges \
      --tmpfs /tmp --network none --entrypoint /bin/sh "$ref:$SUITE-$ikey" -c "$(verify_command "$name")" 2>&1); then
      docker rmi "$ref:$SUITE-$ikey" >/dev/null 2>&1 || true
      die "debian-$name: the image does not run as UID 1001 with a read-only root: $out"
    fi
    log "debian-$name: verified as UID 1001, read-only root, no capabilities in $(since "$start"): $(tr '\n' ' ' <<<"$out")"
  fi
  docker tag "$ref:$SUITE-$ikey" "$ref:$SUITE"
  start=$(now)
  docker push -q "$ref:$SUITE-$ikey" >/dev/null
  docker push -q "$ref:$SUITE" >/dev/null
  log "debian-$name: pushed $ref:$SUITE in $(since "$start")"
}

report() { # name image-key
  local name=$1 ikey=$2
  local ref="$REGISTRY/base/debian-$name:$SUITE" size="?" pushed
  if docker image inspect "$ref" >/dev/null 2>&1; then
    size=$(human "$(docker image inspect -f '{{.Size}}' "$ref")")
  fi
  pushed=$(human "$(registry_size "base/debian-$name" "$SUITE")")
  printf '  %-52s %s  image %-9s registry (compressed) %-9s recipe %s\n' \
    "$ref" "$(registry_digest "base/debian-$name" "$SUITE" | cut -c1-19)" "$size" "$pushed" "$ikey"
}

main() {
  local -a names=()
  while (($#)); do
    case $1 in
      --force) FORCE=1 ;;
      -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
        exit 0
        ;;
      python | nginx | prometheus) names+=("$1") ;;
      *) die "unknown argument '$1' (expected --force or one of: ${ALL_IMAGES[*]})" ;;
    esac
    shift
  done
  ((${#names[@]})) || names=("${ALL_IMAGES[@]}")
  local tool
  for tool in mmdebstrap docker curl jq flock numfmt; do
    command -v "$tool" >/dev/null || die "$tool is missing: run hack/install-system-deps.sh"
  done
  local started
  started=$(now)
  mkdir -p "$CACHE_DIR/logs"
  exec {lock_fd}>"$CACHE_DIR/.lock"
  flock -w 1800 "$lock_fd" || die "another build.sh holds $CACHE_DIR/.lock"
  ensure_engine
  local codename
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ $codename == "$SUITE" ]] || log "warning: this machine runs '$codename', its apt sources may not serve $SUITE"

  local name rkey ikey tarball
  local -A rkeys ikeys todo
  local -a pids=() building=()
  for name in "${names[@]}"; do
    rkey=$(rootfs_key "$name")
    ikey=$(image_key "$rkey" "$name")
    rkeys[$name]=$rkey
    ikeys[$name]=$ikey
    local current stamped
    current=$(registry_digest "base/debian-$name" "$SUITE")
    stamped=$(registry_digest "base/debian-$name" "$SUITE-$ikey")
    if ((FORCE == 0)) && [[ -n $current && $current == "$stamped" ]]; then
      log "debian-$name: registry already has recipe $ikey ($current), nothing to do"
      continue
    fi
    todo[$name]=1
    tarball="$CACHE_DIR/debian-$name-$SUITE-$rkey.tar"
    if ((FORCE == 0)) && [[ -s $tarball ]]; then
      log "debian-$name: cached rootfs $tarball"
      continue
    fi
    # Root filesystems are built in parallel: the time goes into downloads and dpkg.
    build_rootfs "$name" "$rkey" "$tarball" &
    pids+=($!)
    building+=("$name")
  done
  local i failed=0
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
  done
  ((failed == 0)) || die "building a root filesystem failed"

  for name in "${names[@]}"; do
    [[ -n ${todo[$name]:-} ]] || continue
    tarball="$CACHE_DIR/debian-$name-$SUITE-${rkeys[$name]}.tar"
    import_and_push "$name" "${rkeys[$name]}" "${ikeys[$name]}" "$tarball"
    # Keep only the current rootfs of this image in the cache.
    find "$CACHE_DIR" -maxdepth 1 -name "debian-$name-$SUITE-*.tar" ! -name "debian-$name-$SUITE-${rkeys[$name]}.tar" -delete
  done

  log "done in $(since "$started"):"
  for name in "${names[@]}"; do report "$name" "${ikeys[$name]}"; done >&2
}

main "$@"
