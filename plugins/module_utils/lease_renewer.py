# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeps a run's deploy lock alive while the run lives, and no longer.

The deploy_lock action plugin starts this as a detached process on the controller after it acquired the lock,
and stops it before it frees the lock. It renews the Lease every third of its duration while the
ansible-playbook process it watches is alive. When that process dies (Ctrl-C, an AWX cancel, SIGKILL) it stops
renewing, so the lock expires one lease duration later and the next deploy starts without manual steps.

It also fences the run: when the Lease names another holder (the run was too slow and lost it), or when it
could not renew it for a whole lease duration, it records that in its state file, which the run reads before
every write (``deploy_lock: state=check``) and stops.

At the end of the run it frees the lock itself when asked (SIGUSR1, with the run's result in a request file):
it has the API client loaded already, so freeing takes one request instead of a module process (~0.6 s).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import sys
import time

from ansible_collections.intelligent_agent.platform.plugins.module_utils.deploy_lock import (
    LeaseApi,
    LockError,
    release,
    renew,
)
from ansible_collections.intelligent_agent.platform.plugins.module_utils.kube_client import light_client


class ReleaseRequested(Exception):
    """The run asked its renewer to free the lock (SIGUSR1)."""


def pid_alive(pid):
    """True while ``pid`` runs. A killed process nobody reaped yet (a zombie) counts as dead."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (IOError, OSError, IndexError):
        return True


def log(message):
    sys.stdout.write("%s %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stdout.flush()


def write_state(path, **state):
    """Atomically replace the state file: a reader never sees half of it."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(state, handle)
    os.rename(tmp, path)


def read_state(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def fence(state, duration, now):
    """None when the run may write, else why not (the state file's view of the lock)."""
    if not state:
        return "the lock renewer left no state: the lock cannot be trusted"
    if state.get("status") == "lost":
        return "this run lost the deploy lock to %s" % (state.get("holder_now") or "another run")
    renewed = state.get("renewed") or 0
    if now - renewed > duration:
        return "the deploy lock was not renewed for %d s (lease %d s): %s" % (
            now - renewed,
            duration,
            state.get("error") or "the renewer stopped",
        )
    return None


def renew_while_alive(api, holder, duration, watch_pid, state_path, clock=time.time, sleep=time.sleep, alive=pid_alive):
    """The renewer's loop. Returns an exit status: 0 when the watched run ended, 1 when the lock was lost."""
    interval = max(1.0, duration / 3.0)
    last_renewed = clock()
    write_state(state_path, status="held", renewed=last_renewed, holder=holder, pid=os.getpid())
    log(
        "renewing %s/%s for %s every %.0f s while process %d lives"
        % (api.namespace, api.name, holder, interval, watch_pid)
    )
    # Renew at once: starting this process took time the lease was already running for.
    next_renewal = clock()
    while True:
        if not alive(watch_pid):
            log("process %d ended: no more renewals, the lock expires in at most %d s" % (watch_pid, duration))
            write_state(state_path, status="orphaned", renewed=last_renewed, holder=holder, pid=os.getpid())
            return 0
        now = clock()
        if now >= next_renewal:
            try:
                held, view = renew(api, holder, clock=clock)
            except LockError as exc:
                log("renewal failed: %s" % exc)
                write_state(
                    state_path, status="held", renewed=last_renewed, holder=holder, pid=os.getpid(), error=str(exc)
                )
                next_renewal = now + 2  # retry soon; fence() stops the run once a duration passed
            else:
                if not held:
                    log("lost the lock to %s" % (view.get("holder") or "nobody"))
                    write_state(
                        state_path,
                        status="lost",
                        renewed=last_renewed,
                        holder=holder,
                        holder_now=view.get("holder") or "nobody (freed or broken)",
                        pid=os.getpid(),
                    )
                    return 1
                last_renewed = now
                write_state(state_path, status="held", renewed=last_renewed, holder=holder, pid=os.getpid())
                next_renewal = now + interval
        sleep(1)


def stop_on_sigterm(signum, frame):
    """SIGTERM handler (the action plugin's stop_renewer): end the process with status 0."""
    raise SystemExit(0)


def release_on_sigusr1(signum, frame):
    """SIGUSR1 handler: interrupt the renewal loop so that main() frees the lock."""
    raise ReleaseRequested()


def request_path(state_path):
    """Where the action plugin writes the run's result before it asks the renewer to free the lock."""
    return state_path[:-5] + ".release.json"


def release_as_requested(api, holder, state_path):
    """Free the lock with the result the run wrote; record the outcome in the state file. Returns the exit status."""
    try:
        with open(request_path(state_path)) as handle:
            result = json.load(handle).get("result") or ""
    except (IOError, OSError, ValueError):
        result = ""
    try:
        released, view = release(api, holder, result)
    except LockError as exc:
        log("freeing the lock failed: %s" % exc)
        write_state(state_path, status="release-failed", holder=holder, pid=os.getpid(), error=str(exc))
        return 1
    log("lock %s/%s freed (%s)" % (api.namespace, api.name, "released" if released else "not ours any more"))
    write_state(state_path, status="released", holder=holder, pid=os.getpid(), released=released, lock=view)
    return 0


def main(config_path):
    """Entry point of the detached process: its settings (auth included) come in a 0600 file it deletes.

    Returns the exit status (see renew_while_alive); a SIGTERM ends the process with status 0."""
    with open(config_path) as handle:
        config = json.load(handle)
    os.unlink(config_path)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    signal.signal(signal.SIGUSR1, release_on_sigusr1)
    api_client = light_client(config["auth"])
    if api_client is None:  # a connection only the kubernetes client makes (exec plugins, proxies...)
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

        api_client = get_api_client(**config["auth"]).client.client
    api = LeaseApi(api_client, config["namespace"], config["name"])
    try:
        return renew_while_alive(
            api, config["holder"], int(config["duration"]), int(config["watch_pid"]), config["state_path"]
        )
    except ReleaseRequested:
        # A renewal the signal interrupted may or may not have been written: release() reads the Lease again.
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        return release_as_requested(api, config["holder"], config["state_path"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
