"""Small helpers for the local-cluster integration tests."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll PREDICATE until it returns something truthy; fail after TIMEOUT s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def deployment(
    cluster,
    name: str,
    image: str,
    replicas: int = 1,
    kwok: bool = False,
    pod_annotations: dict[str, str] | None = None,
    container: dict[str, Any] | None = None,
    strategy: dict[str, Any] | None = None,
    pod_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Deployment for the simulated (kwok=True) or the real node."""
    ctr: dict[str, Any] = {"name": "main", "image": image}
    ctr.update(container or {})
    spec: dict[str, Any] = {"containers": [ctr], "terminationGracePeriodSeconds": 5}
    if kwok:
        spec["nodeSelector"] = dict(cluster.kwok_node_selector)
        spec["tolerations"] = [dict(cluster.kwok_toleration)]
    else:
        spec["nodeSelector"] = dict(cluster.real_node_selector)
    spec.update(pod_spec or {})
    dep: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": dict(pod_annotations or {}),
                },
                "spec": spec,
            },
        },
    }
    if strategy:
        dep["spec"]["strategy"] = strategy
    return dep


def deployment_status(cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.kubectl_json("-n", namespace, "get", "deployment", name)


def is_available(dep: dict[str, Any], replicas: int) -> bool:
    """Rollout complete: observed, all replicas updated and available, no old ones."""
    st = dep.get("status", {})
    return (
        st.get("observedGeneration", 0) >= dep["metadata"]["generation"]
        and st.get("updatedReplicas", 0) == replicas
        and st.get("availableReplicas", 0) == replicas
        and st.get("replicas", 0) == replicas
    )


def wait_available(cluster, namespace: str, name: str, replicas: int, timeout: float = 180) -> dict[str, Any]:
    """Wait until the Deployment's rollout is complete; return its final state."""

    def check():
        dep = deployment_status(cluster, namespace, name)
        return dep if is_available(dep, replicas) else None

    return wait_until(
        check,
        timeout=timeout,
        what=f"Deployment {name} to be Available with {replicas} replicas",
    )


def pods(cluster, namespace: str, app: str) -> list[dict[str, Any]]:
    return cluster.kubectl_json("-n", namespace, "get", "pods", "-l", f"app={app}")["items"]


def waiting_reasons(pod_list: list[dict[str, Any]]) -> set[str]:
    reasons = set()
    for pod in pod_list:
        for cs in pod.get("status", {}).get("containerStatuses", []) or []:
            reason = cs.get("state", {}).get("waiting", {}).get("reason")
            if reason:
                reasons.add(reason)
    return reasons


def _docker(*args: str, cwd: Path | None = None, timeout: float = 300) -> str:
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    proc = subprocess.run(
        ["docker", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def build_and_push(context: Path, ref: str) -> str:
    """docker build CONTEXT as REF and push it; return REF."""
    _docker("build", "-q", "-t", ref, str(context))
    _docker("push", ref)
    return ref
