# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for intelligent_agent.platform.deploy_lock: the renewer's lifecycle on the controller.

- state=acquired: runs the module; once the lock is taken it starts the renewer (module_utils/lease_renewer.py)
  as a detached process that watches this ansible-playbook process and renews the Lease while it lives.
- state=check: the fence before a write, answered from the renewer's state file without an API call.
- state=released / broken: stops the renewer first, then runs the module.
The renewer's settings (the task's Kubernetes auth included) go to it in a 0600 file it deletes at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from ansible_collections.intelligent_agent.platform.plugins.plugin_utils.controller_module import (
    ControllerModuleAction,
)

AUTH_OPTIONS = (
    "kubeconfig",
    "context",
    "host",
    "api_key",
    "username",
    "password",
    "validate_certs",
    "ca_cert",
    "client_cert",
    "client_key",
    "proxy",
    "no_proxy",
    "proxy_headers",
    "persist_config",
    "impersonate_user",
    "impersonate_groups",
)


def lock_dir():
    path = os.path.join(tempfile.gettempdir(), "intelligent-agent-platform-locks-%d" % os.getuid())
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700)
    return path


def state_paths(namespace, name, holder):
    key = hashlib.sha256(("%s/%s/%s" % (namespace, name, holder)).encode("utf-8")).hexdigest()[:16]
    base = os.path.join(lock_dir(), key)
    return base + ".json", base + ".pid"


def collection_roots():
    """The folders that hold ansible_collections/ for this collection and kubernetes.core (for the renewer)."""
    # args_common: a kubernetes.core file that imports no kubernetes client (0.3 s in this worker otherwise).
    from ansible_collections.kubernetes.core.plugins.module_utils import args_common

    roots = []
    for module_file in (__file__, args_common.__file__):
        path = os.path.abspath(module_file)
        while os.path.basename(path) != "ansible_collections" and path != os.path.dirname(path):
            path = os.path.dirname(path)
        root = os.path.dirname(path)
        if root not in roots:
            roots.append(root)
    return roots


def renewer_pid(pid_path):
    """The PID the acquire recorded, or None."""
    try:
        with open(pid_path) as handle:
            return int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return None


def signal_and_wait(pid, signum, timeout):
    """Send ``signum`` and wait until the process ended; False when it could not be signalled."""
    from ansible_collections.intelligent_agent.platform.plugins.module_utils.lease_renewer import pid_alive

    try:
        os.kill(pid, signum)
    except OSError:
        return False
    # Ended once it is gone or a zombie: the renewer is an orphan, and the init process may reap it only later
    # (measured: ~1.7 s of each run's unlock waiting for a process that had already exited).
    deadline = time.time() + timeout
    while time.time() < deadline and pid_alive(pid):
        time.sleep(0.02)
    return True


def remove(*paths):
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


def stop_renewer(pid_path, timeout=5.0):
    pid = renewer_pid(pid_path)
    if pid is None:
        return
    signal_and_wait(pid, signal.SIGTERM, timeout)
    remove(pid_path)


def release_through_renewer(pid_path, state_path, run_result, timeout=5.0):
    """Ask the live renewer to free the lock (it holds a loaded API client); the module's result, or None when the
    renewer is gone or did not free it (the module then frees the lock as before)."""
    from ansible_collections.intelligent_agent.platform.plugins.module_utils.lease_renewer import (
        pid_alive,
        read_state,
        request_path,
    )

    pid = renewer_pid(pid_path)
    if pid is None or not pid_alive(pid):
        return None
    request = request_path(state_path)
    descriptor = os.open(request, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"result": run_result}, handle)
    if not signal_and_wait(pid, signal.SIGUSR1, timeout):
        remove(request)
        return None
    state = read_state(state_path) or {}
    remove(request, pid_path)
    if state.get("status") != "released" or pid_alive(pid):
        return None
    remove(state_path)
    freed = {
        "changed": False,
        "held": False,
        "released": bool(state.get("released")),
        "lock": state.get("lock") or {},
        "freed_by": "renewer",
    }
    holder_now = freed["lock"].get("holder")
    if not freed["released"] and holder_now:
        freed["warnings"] = ["the deploy lock is held by %s, not by this run: left as it is" % holder_now]
    return freed


class ActionModule(ControllerModuleAction):
    MODULE = "deploy_lock"

    def task_result(self, result, task_vars):
        args = dict(self._task.args)
        state = args.get("state", "acquired")
        holder = args.get("holder") or ""
        state_path, pid_path = state_paths(args.get("namespace", ""), args.get("name", ""), holder)

        if state == "check" and os.path.exists(state_path):
            return self._check(result, state_path, int(args.get("duration", 60)))
        if state == "released" and not self._task.check_mode:
            freed = release_through_renewer(pid_path, state_path, args.get("result") or "")
            if freed is not None:
                result.update(freed)
                return result
        if state in ("released", "broken"):
            stop_renewer(pid_path)
        module_args = dict((k, v) for k, v in args.items() if k != "renew")
        result.update(self.run_module(module_args, task_vars))
        if state == "released":
            result["freed_by"] = "module"
        if state == "released" and not result.get("failed"):
            for path in (state_path,):
                if os.path.exists(path):
                    os.unlink(path)
        if (
            state == "acquired"
            and result.get("held")
            and args.get("renew", True)
            and not self._task.check_mode
            and not result.get("failed")
        ):
            result["renewer"] = self._start_renewer(args, state_path, pid_path)
        return result

    def _check(self, result, state_path, duration):
        from ansible_collections.intelligent_agent.platform.plugins.module_utils.lease_renewer import (
            fence,
            read_state,
        )

        state = read_state(state_path)
        reason = fence(state, duration, time.time())
        result.update(changed=False, held=reason is None, renewer_state=state)
        if reason:
            result.update(failed=True, msg="%s: stopping before the next write." % reason)
        return result

    def _start_renewer(self, args, state_path, pid_path):
        stop_renewer(pid_path)  # a previous renewer of the same run (a re-acquire) is replaced
        config = {
            "auth": dict((k, args[k]) for k in AUTH_OPTIONS if args.get(k) is not None),
            "namespace": args["namespace"],
            "name": args["name"],
            "holder": args["holder"],
            "duration": int(args.get("duration", 60)),
            # The worker that runs this task is a child of the ansible-playbook process the lock belongs to.
            "watch_pid": os.getppid(),
            "state_path": state_path,
        }
        fd, config_path = tempfile.mkstemp(prefix="renewer-", suffix=".json", dir=lock_dir())
        with os.fdopen(fd, "w") as handle:
            json.dump(config, handle)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            collection_roots() + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        log_path = state_path[:-5] + ".log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ansible_collections.intelligent_agent.platform.plugins.module_utils.lease_renewer",
                    config_path,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                close_fds=True,
                start_new_session=True,
                cwd="/",
            )
        with open(pid_path, "w") as handle:
            handle.write(str(proc.pid))
        return {"pid": proc.pid, "state_file": state_path, "log": log_path}
