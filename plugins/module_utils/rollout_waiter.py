# -*- coding: utf-8 -*-
# Copyright: Intelligent Agent platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waits for workloads to roll out, driven by watch events (k8s_watch), judged by rollout.py.

One watcher per resource (the workload kinds, their ReplicaSets, the pods of the namespace) feeds a
queue; the loop keeps the latest objects, re-evaluates every workload on each change (and at least
every half second, so a failure that has persisted for its grace is noticed), writes progress lines
and stops when every workload is complete, when one failed (fail fast) or at the deadline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

try:
    import queue
except ImportError:  # pragma: no cover - Python 2
    import Queue as queue

from ansible_collections.intelligent_agent.platform.plugins.module_utils import rollout
from ansible_collections.intelligent_agent.platform.plugins.module_utils.k8s_watch import (
    KIND_RESOURCES,
    ResourceWatcher,
    api_error_reason,
    open_request,
)


class WaitError(Exception):
    """The wait cannot start or continue (forbidden, missing workload); the message says which and why.
    ``names``: the workloads concerned (the missing ones, else every requested name)."""

    def __init__(self, msg, names=None):
        super(WaitError, self).__init__(msg)
        self.names = list(names or [])


def _key(obj):
    meta = obj.get("metadata") or {}
    return meta.get("uid") or meta.get("name")


class RolloutWaiter(object):
    def __init__(
        self,
        api_client,
        namespace,
        kinds=("Deployment",),
        names=None,
        selector=None,
        timeout=300,
        grace=5.0,
        transient_grace=30.0,
        restart_threshold=3,
        log_lines=20,
        stop_on_failure=True,
        progress=None,
        clock=time.monotonic,
        watch_seconds=60,
    ):
        self.api_client = api_client
        self.namespace = namespace
        self.kinds = list(kinds)
        self.names = list(names or [])
        self.selector = selector
        self.timeout = float(timeout)
        self.grace = float(grace)
        self.transient_grace = float(transient_grace)
        self.restart_threshold = restart_threshold
        self.log_lines = int(log_lines)
        self.stop_on_failure = stop_on_failure
        self.progress = progress or (lambda line: None)
        self.clock = clock
        self.watch_seconds = watch_seconds
        self.events = queue.Queue()
        self.store = {}
        self.watchers = []
        self.synced = set()

    # ---- watch plumbing ----

    def _start_watchers(self):
        resources = [(KIND_RESOURCES[kind], self.selector) for kind in self.kinds]
        if "Deployment" in self.kinds:
            resources.append(("replicasets", None))
        resources.append(("pods", None))
        # Events only explain a stuck pod (FailedCreatePodSandBox, FailedMount); the wait does without them.
        resources.append(("events", None))
        for resource, selector in resources:
            self.store[resource] = {}
            watcher = ResourceWatcher(
                self.api_client,
                resource,
                self.namespace,
                self.events,
                label_selector=selector,
                watch_seconds=self.watch_seconds,
                clock=self.clock,
                optional=resource == "events",
            )
            self.watchers.append(watcher)
            watcher.start()

    def _stop_watchers(self):
        for watcher in self.watchers:
            watcher.stop()

    def _handle(self, message, tracker):
        kind = message[0]
        if kind == "fatal":
            raise WaitError(str(message[2]), self.names)
        resource = message[1]
        if kind == "optional-failed":
            self.synced.add(resource)
            return
        if kind == "sync":
            items = message[2]
            self.store[resource] = dict((_key(obj), obj) for obj in items)
            self.synced.add(resource)
        elif kind == "event":
            event_type, obj = message[2], message[3]
            if event_type == "DELETED":
                self.store[resource].pop(_key(obj), None)
                if resource == "pods" and tracker is not None:
                    tracker.forget(_key(obj))
            else:
                self.store[resource][_key(obj)] = obj

    def _pump(self, wait_s, tracker):
        """Handle queued messages, waiting up to wait_s for the first one."""
        try:
            self._handle(self.events.get(timeout=max(wait_s, 0.01)), tracker)
        except queue.Empty:
            return
        while True:
            try:
                self._handle(self.events.get_nowait(), tracker)
            except queue.Empty:
                return

    def _wait_for_sync(self, deadline):
        wanted = set(w.resource for w in self.watchers)
        while not wanted <= self.synced:
            now = self.clock()
            if now >= deadline:
                slow = sorted(wanted - self.synced)
                errors = "; ".join(
                    "%s: %s" % (w.resource, w.last_error) for w in self.watchers if w.resource in slow and w.last_error
                )
                raise WaitError(
                    "cannot list %s in namespace %s within the timeout%s"
                    % (", ".join(slow), self.namespace, " (%s)" % errors if errors else ""),
                    self.names,
                )
            self._pump(min(0.5, deadline - now), None)

    # ---- workloads ----

    def _find_targets(self):
        """(kind, name) of every workload to wait for, and the names that do not exist."""
        found = []
        for kind in self.kinds:
            for obj in self.store[KIND_RESOURCES[kind]].values():
                name = obj["metadata"]["name"]
                if not self.names or name in self.names:
                    found.append((kind, name))
        missing = [n for n in self.names if n not in set(name for _kind, name in found)]
        return sorted(found, key=lambda kn: (kn[1], kn[0])), missing

    def _current(self, kind, name):
        for obj in self.store[KIND_RESOURCES[kind]].values():
            if obj["metadata"]["name"] == name:
                return obj
        return None

    def _log_tail(self, pod_name, container, restarts):
        if self.log_lines <= 0:
            return [], None
        path = "/api/v1/namespaces/%s/pods/%s/log" % (self.namespace, pod_name)
        attempts = [True, False] if restarts else [False]
        error = None
        for previous in attempts:
            query = [("container", container), ("tailLines", str(self.log_lines)), ("previous", str(previous).lower())]
            try:
                response = open_request(self.api_client, path, query, 10, accept="*/*")
                try:
                    text = response.data.decode("utf-8", "replace") if response.data else ""
                finally:
                    response.release_conn()
                return text.splitlines()[-self.log_lines :], None
            except Exception as exc:  # pylint: disable=broad-except
                error = api_error_reason(exc) if hasattr(exc, "status") else repr(exc)[:300]
        return [], error

    def _finish_failed(self, result):
        for pod in result["failing_pods"]:
            if pod["reason"] in rollout.IMAGE_REASONS or pod["reason"].startswith("CreateContainer"):
                pod["log_tail"] = []
                continue
            pod["log_tail"], error = self._log_tail(pod["name"], pod["container"], pod["restarts"])
            if error:
                pod["log_error"] = error

    # ---- the wait ----

    def run(self, check_mode=False):
        started = self.clock()
        deadline = started + self.timeout
        self._start_watchers()
        try:
            return self._run(started, deadline, check_mode)
        finally:
            self._stop_watchers()

    def _run(self, started, deadline, check_mode):
        self._wait_for_sync(deadline)
        targets, missing = self._find_targets()
        results = {}
        if missing and not check_mode:
            raise WaitError(
                "%s %s not found in namespace %s" % ("/".join(self.kinds), ", ".join(missing), self.namespace), missing
            )
        if not targets and not missing:
            raise WaitError(
                "no %s matches selector %r in namespace %s" % ("/".join(self.kinds), self.selector, self.namespace)
            )
        for name in missing:
            results[("?", name)] = {
                "name": name,
                "kind": "/".join(self.kinds),
                "state": "missing",
                "message": "not found in namespace %s" % self.namespace,
                "failing_pods": [],
                "durations": {},
            }
        self.progress(
            "waiting for %d workload(s) in namespace %s: %s (timeout %ds)"
            % (len(targets), self.namespace, ", ".join(n for _k, n in targets), self.timeout)
        )
        # In check mode nothing waits: a failure sign counts at once.
        tracker = rollout.FailureTracker(0 if check_mode else self.grace, 0 if check_mode else self.transient_grace)
        durations = dict((t, {"first_ready_s": None, "complete_s": None}) for t in targets)
        finished = {}
        last_lines = {}
        while True:
            now = self.clock()
            elapsed = round(now - started, 1)
            pods = list(self.store["pods"].values())
            replicasets = list(self.store.get("replicasets", {}).values())
            warnings = rollout.latest_warnings(self.store.get("events", {}).values())
            for target in targets:
                if target in finished:
                    continue
                kind, name = target
                obj = self._current(kind, name)
                if obj is None:
                    result = {
                        "name": name,
                        "kind": kind,
                        "state": "failed",
                        "reason": "Deleted",
                        "message": "%s %s was deleted during the wait" % (kind, name),
                        "failing_pods": [],
                        "replicas": None,
                        "revision": None,
                        "image": None,
                    }
                else:
                    result = rollout.evaluate_workload(
                        kind, obj, pods, replicasets, tracker, now, self.restart_threshold, warnings
                    )
                if result.get("ready") and durations[target]["first_ready_s"] is None:
                    durations[target]["first_ready_s"] = elapsed
                if result["state"] == "complete":
                    durations[target]["complete_s"] = elapsed
                    if durations[target]["first_ready_s"] is None:
                        durations[target]["first_ready_s"] = elapsed
                result["durations"] = durations[target]
                results[target] = result
                if result["state"] in ("complete", "failed"):
                    finished[target] = result
                    if result["state"] == "failed" and not check_mode:
                        self._finish_failed(result)
                line = rollout.progress_line(result)
                if result["state"] == "complete":
                    line = "%s complete in %.1fs (revision %s)" % (name, elapsed, result.get("revision"))
                elif result["state"] == "failed":
                    line = "%s failed: %s" % (name, rollout.failure_text(result))
                if last_lines.get(target) != line:
                    last_lines[target] = line
                    self.progress(line)
            failed = [t for t, r in finished.items() if r["state"] == "failed"]
            if check_mode or len(finished) == len(targets) or (failed and self.stop_on_failure):
                break
            if now >= deadline:
                for target in targets:
                    if target not in finished:
                        results[target]["state"] = "timeout"
                break
            self._pump(min(0.5, deadline - now), tracker)
        return self._result(targets, results, started, check_mode)

    def _result(self, targets, results, started, check_mode):
        workloads = []
        for key in [k for k in results if k[0] == "?"] + list(targets):
            result = dict(results[key])
            result.pop("ready", None)
            if result.get("state") != "waiting" and result.get("state") != "timeout":
                result.pop("hint", None)
            workloads.append(result)
        failed = [w["name"] for w in workloads if w["state"] in ("failed", "timeout")]
        messages = []
        for workload in workloads:
            if workload["state"] == "failed":
                messages.append(rollout.failure_message(workload))
            elif workload["state"] == "timeout":
                text = "%s: timed out after %ds (%s): %s" % (
                    workload["name"],
                    self.timeout,
                    rollout.replicas_text(workload.get("replicas")),
                    workload.get("message"),
                )
                if workload.get("hint"):
                    text += " (%s)" % workload["hint"]
                messages.append(text)
        if messages:
            msg = "; ".join(messages)
            others = [w for w in workloads if w["state"] == "waiting"]
            if others and not check_mode:
                msg += "; stopped waiting for %s" % ", ".join(w["name"] for w in others)
        elif check_mode:
            msg = "check mode, current state: %s" % rollout.rollout_summary(workloads)
        else:
            msg = "rolled out: %s" % rollout.rollout_summary(workloads)
        stats = {}
        for watcher in self.watchers:
            for key, value in watcher.stats.items():
                stats[key] = stats.get(key, 0) + value
        return {
            "workloads": workloads,
            "failed_workloads": failed,
            "failed": bool(failed) and not check_mode,
            "msg": msg,
            "elapsed_s": round(self.clock() - started, 1),
            "watch": stats,
        }
