# shellcheck shell=bash
# Shared helpers for cluster.sh and docker.sh: paths, logging, locking and
# daemons tracked by pidfiles. Processes are only ever stopped by the PID we
# recorded when we started them, after checking that the PID still runs the
# binary we started (so a reused PID is never signalled).

LC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LC_DIR/../.." && pwd)
STATE_DIR=${CLUSTER_STATE_DIR:-$REPO_ROOT/.local/cluster}
LOG_DIR=$STATE_DIR/logs
PID_DIR=$STATE_DIR/pids
REGISTRY_ADDR=${REGISTRY_ADDR:-127.0.0.1:5000}

log() { printf '[%s %s] %s\n' "${LOG_TAG:-cluster}" "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ensure_state_dirs() {
  mkdir -p "$STATE_DIR" "$LOG_DIR" "$PID_DIR"
  chmod 0700 "$STATE_DIR"
}

# take_lock NAME: hold an exclusive flock on $STATE_DIR/NAME.lock for the rest
# of this shell. CLUSTER_LOCK_WAIT = seconds to wait (default 3600).
take_lock() {
  local name=$1 wait=${CLUSTER_LOCK_WAIT:-3600} fd
  ensure_state_dirs
  exec {fd}>"$STATE_DIR/$name.lock"
  if ! flock -n "$fd"; then
    log "waiting up to ${wait}s for $name.lock (another run holds it)"
    flock -w "$wait" "$fd" || die "timed out after ${wait}s waiting for $STATE_DIR/$name.lock"
  fi
}

# pid_of NAME: print the recorded PID if that process is alive and still runs
# the recorded executable; return 1 otherwise.
pid_of() {
  local name=$1 pid exe want
  [[ -f $PID_DIR/$name.pid ]] || return 1
  read -r pid <"$PID_DIR/$name.pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -f $PID_DIR/$name.exe ]]; then
    read -r want <"$PID_DIR/$name.exe"
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    exe=${exe% (deleted)}
    [[ $exe == "$want" ]] || return 1
  fi
  # A zombie is not running.
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  echo "$pid"
}

is_running() { pid_of "$1" >/dev/null; }

# start_daemon NAME BINARY ARGS...: start BINARY detached (own session), log to
# $LOG_DIR/NAME.log, record its PID and resolved executable.
start_daemon() {
  local name=$1 bin=$2
  shift 2
  local path
  path=$(readlink -f "$(command -v "$bin")") || die "$bin not found"
  ensure_state_dirs
  {
    echo "=== $(date -u +%FT%TZ) starting $name: $path $*"
  } >>"$LOG_DIR/$name.log"
  # The daemon must not inherit any lock file descriptor (ours or one a parent
  # script passed down): it would hold that lock for its whole life.
  (
    local fdpath fd
    for fdpath in /proc/"$BASHPID"/fd/*; do
      fd=${fdpath##*/}
      if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then exec {fd}>&- 2>/dev/null || true; fi
    done
    exec setsid "$path" "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1
  ) &
  local pid=$! i exe
  echo "$pid" >"$PID_DIR/$name.pid"
  echo "$path" >"$PID_DIR/$name.exe"
  # Until the subshell has exec'd, /proc/PID/exe is bash: wait for the switch
  # so that is_running does not mistake the start for an exit.
  for ((i = 0; i < 100; i++)); do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    [[ ${exe% (deleted)} == "$path" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  log "started $name (pid $pid)"
}

# stop_daemon NAME [TIMEOUT]: SIGTERM the recorded PID, SIGKILL after TIMEOUT s.
stop_daemon() {
  local name=$1 timeout=${2:-20} pid i
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop in ${timeout}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$PID_DIR/$name.pid" "$PID_DIR/$name.exe"
}

# wait_for DESCRIPTION TIMEOUT COMMAND...: poll COMMAND every 0.5 s.
wait_for() {
  local what=$1 timeout=$2 start
  shift 2
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if (($(date +%s) - start >= timeout)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# wait_for_daemon NAME DESCRIPTION TIMEOUT COMMAND...: like wait_for but fails
# fast (showing the log tail) if the daemon exits.
wait_for_daemon() {
  local name=$1 what=$2 timeout=$3 start
  shift 3
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if ! is_running "$name"; then
      tail -n 30 "$LOG_DIR/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $LOG_DIR/$name.log)"
    fi
    if (($(date +%s) - start >= timeout)); then
      tail -n 30 "$LOG_DIR/$name.log" >&2 || true
      die "timed out after ${timeout}s waiting for $what (log: $LOG_DIR/$name.log)"
    fi
    sleep 0.5
  done
}

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

# args_changed NAME BINARY ARGS...: true if NAME runs, but not as BINARY ARGS (a flag was added or
# changed since it was started, e.g. by an edit of this directory).
args_changed() {
  local name=$1 pid path
  shift
  pid=$(pid_of "$name") || return 1
  path=$(readlink -f "$(command -v "$1")") || return 1
  shift
  ! cmp -s <(tr '\0' '\n' <"/proc/$pid/cmdline") <(printf '%s\n' "$path" "$@")
}

# stop_if_args_changed NAME TIMEOUT BINARY ARGS...: healthy_or_stop only replaces unhealthy daemons;
# start functions call this first so that `up` applies new flags to a running daemon.
stop_if_args_changed() {
  local name=$1 timeout=$2
  shift 2
  if args_changed "$name" "$@"; then
    log "$name runs with other flags than these: restarting it"
    stop_daemon "$name" "$timeout"
  fi
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

# render TEMPLATE: print $LC_DIR/templates/TEMPLATE with its ${VAR} references
# replaced by the shell's values. Only the names the template uses are
# substituted (so `$!` or `$1` in a script stay as they are), and a name that
# is unset is an error rather than an empty string.
render() {
  local file=$LC_DIR/templates/$1 names name
  [[ -f $file ]] || die "no template $file"
  # shellcheck disable=SC2016 # the ${...} are the template's, not ours
  names=$(grep -o '\${[A-Za-z_][A-Za-z0-9_]*}' "$file" | sort -u | tr -d '${}' || true)
  (
    for name in $names; do
      [[ -v $name ]] || die "template $1 uses \${$name}, which is not set"
      export "${name?}"
    done
    # shellcheck disable=SC2016,SC2086 # envsubst's own ${NAME} list, one word per name
    envsubst "$(printf '${%s} ' $names)" <"$file"
  )
}
