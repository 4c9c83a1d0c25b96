#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start/stop the local Docker engine (Debian's docker.io dockerd) and the local
# image registry (Debian's docker-registry) on 127.0.0.1:5000.
# Usage: docker.sh up|down|status
# Idempotent and safe to call concurrently (flock on $STATE_DIR/docker.lock).
# dockerd data lives in /var/lib/docker; registry storage in $STATE_DIR/registry.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=docker

DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
REGISTRY_DIR=$STATE_DIR/registry
REGISTRY_CONFIG=$STATE_DIR/registry-config.yml

docker_ok() { DOCKER_HOST=unix://$DOCKER_SOCK docker info >/dev/null 2>&1; }
registry_ok() { curl -fsS -m 3 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }

dockerd_up() {
  if docker_ok; then
    if is_running dockerd; then
      log "dockerd already running (pid $(pid_of dockerd))"
    else
      log "a Docker engine not started by us already answers on $DOCKER_SOCK; using it"
    fi
    return 0
  fi
  command -v dockerd >/dev/null || die "dockerd missing: run hack/install-system-deps.sh"
  stop_daemon dockerd 5
  # A stale pidfile from a killed dockerd makes it refuse to start.
  local stale=$STATE_DIR/dockerd.pid
  if [[ -f $stale ]] && ! kill -0 "$(cat "$stale")" 2>/dev/null; then rm -f "$stale"; fi
  start_daemon dockerd dockerd \
    --host "unix://$DOCKER_SOCK" \
    --pidfile "$STATE_DIR/dockerd.pid" \
    --data-root /var/lib/docker \
    --exec-root /var/run/docker \
    --exec-opt native.cgroupdriver=cgroupfs \
    --log-level warn
  wait_for_daemon dockerd "dockerd to answer on $DOCKER_SOCK" 90 docker_ok
  log "dockerd ready"
}

registry_up() {
  if registry_ok; then
    log "registry already answers on $REGISTRY_ADDR"
    return 0
  fi
  command -v docker-registry >/dev/null || die "docker-registry missing: run hack/install-system-deps.sh"
  stop_daemon registry 5
  mkdir -p "$REGISTRY_DIR"
  render registry.yml >"$REGISTRY_CONFIG"
  start_daemon registry docker-registry serve "$REGISTRY_CONFIG"
  wait_for_daemon registry "registry on $REGISTRY_ADDR" 60 registry_ok
  log "registry ready on $REGISTRY_ADDR (storage $REGISTRY_DIR)"
}

cmd_up() {
  take_lock docker
  dockerd_up
  registry_up
}

cmd_down() {
  take_lock docker
  stop_daemon registry 10
  stop_daemon dockerd 60
  rm -f "$STATE_DIR/dockerd.pid"
}

cmd_status() {
  local rc=0 pid
  if docker_ok; then
    pid=$(pid_of dockerd || echo "not started by us")
    echo "dockerd:  running (pid $pid)"
  else
    echo "dockerd:  not running"
    rc=1
  fi
  if registry_ok; then
    pid=$(pid_of registry || echo "not started by us")
    echo "registry: running on $REGISTRY_ADDR (pid $pid)"
  else
    echo "registry: not running"
    rc=1
  fi
  return "$rc"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
