"""Pure logic over what the watcher and the peers' output recorded: when a rollout started, completed,
failed or was undone. No cluster: tests/unit/bench tests this module.

A Deployment is complete when `kubectl rollout status` would say so (the same order of checks as
k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go): observedGeneration has caught up, no
ProgressDeadlineExceeded, every replica updated, no old replica left, every updated replica available.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class DeploymentState:
    name: str
    generation: int
    observed_generation: int
    replicas: int
    status_replicas: int
    updated: int
    available: int
    images: tuple[str, ...]
    progressing_reason: str = ""


def deployment_state(obj: dict) -> DeploymentState:
    """The fields of a Deployment (as the API returns it) that decide its rollout."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    reason = ""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing":
            reason = condition.get("reason") or ""
    replicas = spec.get("replicas")
    return DeploymentState(
        name=meta.get("name", ""),
        generation=int(meta.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        replicas=1 if replicas is None else int(replicas),
        status_replicas=int(status.get("replicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        images=tuple(c.get("image", "") for c in containers),
        progressing_reason=reason,
    )


def rollout_complete(state: DeploymentState) -> bool:
    """kubectl rollout status's verdict: True only when the rollout is done."""
    if state.generation > state.observed_generation:
        return False
    if state.progressing_reason == "ProgressDeadlineExceeded":
        return False
    if state.updated < state.replicas:
        return False
    if state.status_replicas > state.updated:
        return False
    return state.available >= state.updated


class Timeline:
    """Deployment states of one namespace, each with the monotonic time the watcher saw it."""

    def __init__(self):
        self._events: list[tuple[float, DeploymentState | None, str]] = []
        self._lock = threading.Lock()

    def record(self, when: float, state: DeploymentState) -> None:
        with self._lock:
            self._events.append((when, state, state.name))

    def record_deleted(self, when: float, name: str) -> None:
        with self._lock:
            self._events.append((when, None, name))

    def events(self) -> list[tuple[float, DeploymentState | None, str]]:
        with self._lock:
            return list(self._events)

    def states_at(self, when: float) -> dict[str, DeploymentState]:
        """The latest state of every Deployment seen at or before `when`."""
        states: dict[str, DeploymentState] = {}
        for t, state, name in self.events():
            if t > when:
                break
            if state is None:
                states.pop(name, None)
            else:
                states[name] = state
        return states

    def first_change(self, since: float, baseline: dict[str, int]) -> float | None:
        """First time after `since` a Deployment's spec changed (its generation passed the baseline), or a
        Deployment not in the baseline appeared."""
        for t, state, name in self.events():
            if t < since or state is None:
                continue
            if state.generation > baseline.get(name, 0):
                return t
        return None

    def complete_with(self, names, images: dict[str, tuple[str, ...]] | None, since: float) -> float | None:
        """First time at or after `since` every named Deployment is complete (and, when `images` is given,
        runs exactly those images)."""
        names = list(names)
        current = self.states_at(since)

        def done() -> bool:
            for name in names:
                state = current.get(name)
                if state is None or not rollout_complete(state):
                    return False
                if images is not None and state.images != tuple(images[name]):
                    return False
            return True

        if done():
            return since
        for t, state, name in self.events():
            if t <= since:
                continue
            if state is None:
                current.pop(name, None)
            else:
                current[name] = state
            if name in names and done():
                return t
        return None

    def completion_times(self, names, since: float, min_generation: dict[str, int] | None = None) -> dict[str, float]:
        """For each named Deployment, the first time at or after `since` it was complete at a generation
        of at least `min_generation[name]` (default 1). Deployments never complete are left out."""
        wanted = set(names)
        out: dict[str, float] = {}
        for t, state, name in self.events():
            if t < since or state is None or name not in wanted or name in out:
                continue
            if state.generation >= (min_generation or {}).get(name, 1) and rollout_complete(state):
                out[name] = t
        return out


_FATAL = re.compile(r"^fatal: \[[^\]]*\]: FAILED!")
_TASK = re.compile(r"^TASK \[")
_TASK_NAME = re.compile(r"^TASK \[(.*)\] \**$")


def ansible_failure_time(lines: list[tuple[float, str]], after: float = 0.0) -> float | None:
    """Time of the first task failure an ansible-playbook run reported (default callback): a `fatal:` line,
    unless its task went on with `...ignoring`."""
    pending: float | None = None
    for t, line in lines:
        if _TASK.match(line):
            if pending is not None:
                return pending
            continue
        if pending is None and t >= after and _FATAL.match(line):
            pending = t
        elif pending is not None and line.strip() == "...ignoring":
            pending = None
    return pending


def first_line_time(lines: list[tuple[float, str]], pattern: str) -> float | None:
    """Time of the first output line matching the regular expression."""
    regex = re.compile(pattern)
    for t, line in lines:
        if regex.search(line):
            return t
    return None


_TIMINGS = re.compile(r"timings: (.*)$")


def deploy_timings(lines: list[tuple[float, str]]) -> dict[str, float]:
    """deploy.yml's per-step timings from its release summary ("timings: app 3.4 s, wait 2.5 s")."""
    for _, line in reversed(lines):
        match = _TIMINGS.search(line)
        if match:
            out = {}
            for part in match.group(1).split(","):
                step = re.match(r"\s*(\S+) ([0-9.]+) s", part)
                if step:
                    out[step.group(1)] = float(step.group(2))
            return out
    return {}


def version_images(template: dict[str, tuple[str, ...]], old: str, new: str) -> dict[str, tuple[str, ...]]:
    """The images of every Deployment once the version string `old` in their references is `new`."""
    return {name: tuple(image.replace(old, new) for image in images) for name, images in template.items()}


def task_durations(lines: list[tuple[float, str]], end: float | None = None) -> list[tuple[str, float]]:
    """Each task an ansible-playbook run printed (default callback), with the time until the next task
    started (the last one until `end`, or its last output line)."""
    starts = [(t, _TASK_NAME.match(line).group(1)) for t, line in lines if _TASK_NAME.match(line)]
    if not starts:
        return []
    last = end if end is not None else lines[-1][0]
    out = []
    for index, (t, name) in enumerate(starts):
        following = starts[index + 1][0] if index + 1 < len(starts) else last
        out.append((name, round(following - t, 2)))
    return out


def task_profile(lines: list[tuple[float, str]], end: float | None = None, top: int = 8) -> dict:
    """How long a playbook spent in tasks: their number, the total, the mean, and the slowest ones."""
    tasks = task_durations(lines, end)
    total = sum(seconds for _, seconds in tasks)
    return {
        "tasks": len(tasks),
        "seconds": round(total, 2),
        "mean_seconds": round(total / len(tasks), 3) if tasks else 0.0,
        "slowest": [{"task": name, "seconds": seconds} for name, seconds in sorted(tasks, key=lambda x: -x[1])[:top]],
    }
