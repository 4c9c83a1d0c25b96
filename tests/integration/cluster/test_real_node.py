"""Issue 4: a real node (kubelet + containerd + CNI + kube-proxy) runs the pods."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest

from cluster_helpers import (
    deployment,
    deployment_status,
    is_available,
    pods,
    wait_available,
    wait_until,
    waiting_reasons,
)

pytestmark = pytest.mark.usefixtures("real_node")


def http_server(cluster, name, image, replicas=1, **kwargs):
    """The busybox HTTP server with a real HTTP readiness probe."""
    container = {
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 1,
            # Generous: a busy 2-core machine must not make a ready pod flap.
            "timeoutSeconds": 5,
            "failureThreshold": 3,
            "successThreshold": 1,
        },
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    container.update(kwargs.pop("container", {}))
    return deployment(cluster, name, image, replicas=replicas, container=container, **kwargs)


def node_port_service(name):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "NodePort",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def get(url, timeout=5.0):
    req = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return resp.status, resp.read().decode()


def node_port(cluster, namespace, name):
    svc = cluster.kubectl_json("-n", namespace, "get", "service", name)
    return svc["spec"]["ports"][0]["nodePort"]


def answers(url, expected):
    try:
        status, body = get(url)
    except (OSError, urllib.error.URLError):
        return False
    return status == 200 and expected in body


def test_http_server_runs_on_real_node_and_answers_via_node_port(cluster, namespace, http_images):
    cluster.apply(
        [
            http_server(cluster, "web", http_images.v1, replicas=2),
            node_port_service("web"),
        ],
        namespace,
    )
    wait_available(cluster, namespace, "web", 2)
    pod_list = pods(cluster, namespace, "web")
    assert {p["spec"]["nodeName"] for p in pod_list} == {cluster.real_node}
    for pod in pod_list:
        assert pod["status"]["podIP"].startswith("10.88.")
        (cs,) = pod["status"]["containerStatuses"]
        assert cs["ready"] is True
        assert cs["imageID"]  # pulled for real by containerd
        assert "running" in cs["state"]

    url = f"http://127.0.0.1:{node_port(cluster, namespace, 'web')}/"
    # kube-proxy programs the rules within a few seconds of the endpoints.
    wait_until(lambda: answers(url, "hello from v1"), timeout=60, what=f"{url} to answer")
    status, body = get(url)
    assert status == 200
    assert body == "hello from v1\n"


def test_pods_resolve_service_names_through_cluster_dns(cluster, namespace, http_images):
    cluster.apply(
        [http_server(cluster, "web", http_images.v1), node_port_service("web")],
        namespace,
    )
    wait_available(cluster, namespace, "web", 1)
    (pod,) = pods(cluster, namespace, "web")
    name = pod["metadata"]["name"]
    cluster_ip = cluster.kubectl_json("-n", namespace, "get", "service", "web")["spec"]["clusterIP"]
    fqdn = f"web.{namespace}.svc.cluster.local"

    def in_pod(script):
        proc = cluster.kubectl_run(
            "-n",
            namespace,
            "exec",
            name,
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            script,
            check=False,
            timeout=60,
        )
        return proc.stdout if proc.returncode == 0 else None

    # CoreDNS (kube-dns Service 10.96.0.10) answers with the Service's ClusterIP.
    answer = wait_until(
        lambda: in_pod(f"/bin/busybox nslookup {fqdn}"),
        timeout=60,
        what=f"{fqdn} to resolve",
    )
    assert cluster_ip in answer

    # HTTP by the short name (resolv.conf search path) and by the full name,
    # through kube-proxy's ClusterIP rules (hairpin to the pod itself).
    # Until kube-proxy has programmed a new ClusterIP, a connection to it follows the default route
    # off the machine, where a transparent proxy may answer (seen in CI: "426 Upgrade Required"):
    # wait for the server's own answer and name any other answer if it never comes.
    request = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 5 {} 80"
    for host in ("web", fqdn):
        other_answers = []
        try:
            wait_until(
                lambda host=host, seen=other_answers: served_by_web(in_pod(request.format(host)), seen),
                timeout=60,
                what=f"the pod to reach http://{host}/",
            )
        except AssertionError as timeout:
            raise AssertionError(f"{timeout}; other answers: {other_answers[-3:]}") from None


def served_by_web(answer, other_answers):
    """The answer when the web pod sent it; any other answer is kept in OTHER_ANSWERS (its status line)."""
    if answer and answer.startswith("HTTP/1.") and answer.endswith("hello from v1\n"):
        return answer
    if answer:
        other_answers.append(answer.splitlines()[0])
    return None


def test_missing_image_tag_yields_real_image_pull_backoff(cluster, namespace, http_images):
    missing = f"{http_images.repo}:does-not-exist"
    cluster.apply(http_server(cluster, "nopull", missing), namespace)
    # The kubelet reports ErrImagePull first, then ImagePullBackOff between retries.
    wait_until(
        lambda: waiting_reasons(pods(cluster, namespace, "nopull")) & {"ErrImagePull", "ImagePullBackOff"},
        timeout=120,
        what="ErrImagePull/ImagePullBackOff",
    )
    wait_until(
        lambda: "ImagePullBackOff" in waiting_reasons(pods(cluster, namespace, "nopull")),
        timeout=180,
        what="ImagePullBackOff",
    )
    events = cluster.kubectl_json("-n", namespace, "get", "events")["items"]
    assert any(e.get("reason") == "Failed" and missing in e.get("message", "") for e in events)
    dep = deployment_status(cluster, namespace, "nopull")
    assert dep["status"].get("availableReplicas", 0) == 0


def test_exiting_process_yields_real_crash_loop_backoff(cluster, namespace, http_images):
    cluster.apply(
        http_server(
            cluster,
            "crasher",
            http_images.v1,
            container={"command": ["/bin/busybox", "sh", "-c", "echo starting; exit 3"]},
        ),
        namespace,
    )

    def crashed():
        for pod in pods(cluster, namespace, "crasher"):
            for cs in pod.get("status", {}).get("containerStatuses", []) or []:
                waiting = cs.get("state", {}).get("waiting", {})
                last = cs.get("lastState", {}).get("terminated", {})
                if waiting.get("reason") == "CrashLoopBackOff" and last.get("exitCode") == 3:
                    return cs
        return None

    cs = wait_until(crashed, timeout=180, what="CrashLoopBackOff with exit code 3")
    assert cs["restartCount"] >= 1
    assert cs["ready"] is False
    # The kubelet serves the crashed container's log through the apiserver.
    (pod,) = pods(cluster, namespace, "crasher")
    logs = cluster.kubectl_run("-n", namespace, "logs", pod["metadata"]["name"], "--previous")
    assert "starting" in logs.stdout
    dep = deployment_status(cluster, namespace, "crasher")
    assert dep["status"].get("availableReplicas", 0) == 0


@dataclass
class LoadResult:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    bodies: dict[str, int] = field(default_factory=dict)


def _load(url: str, rate: float, stop: threading.Event, deadline: float, result: LoadResult) -> None:
    """Send `rate` requests/s (one connection each) until stop or deadline."""
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            status, body = get(url, timeout=10)
            if status == 200:
                result.ok += 1
                result.bodies[body.strip()] = result.bodies.get(body.strip(), 0) + 1
            else:
                result.failures.append(f"HTTP {status}")
        except (OSError, urllib.error.URLError) as exc:
            result.failures.append(f"{type(exc).__name__}: {exc}")
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


def test_rolling_update_under_load_loses_no_request(cluster, namespace, http_images):
    strategy = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    zero_downtime = {
        # Keep serving while kube-proxy removes the endpoint, then exit.
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/busybox", "sleep", "8"]}}},
    }
    manifest = http_server(
        cluster,
        "web",
        http_images.v1,
        replicas=2,
        strategy=strategy,
        container=zero_downtime,
        pod_spec={"terminationGracePeriodSeconds": 30},
    )
    cluster.apply([manifest, node_port_service("web")], namespace)
    wait_available(cluster, namespace, "web", 2)
    url = f"http://127.0.0.1:{node_port(cluster, namespace, 'web')}/"
    wait_until(lambda: answers(url, "hello from v1"), timeout=60, what=f"{url} to answer")
    # Every endpoint must be programmed before the measurement starts.
    for _attempt in range(10):
        assert answers(url, "hello from v1")

    result = LoadResult()
    stop = threading.Event()
    loader = threading.Thread(
        target=_load,
        args=(url, 20.0, stop, time.monotonic() + 300, result),
        daemon=True,
    )
    loader.start()
    try:
        time.sleep(2)
        cluster.kubectl_run("-n", namespace, "set", "image", "deployment/web", f"main={http_images.v2}")
        cluster.kubectl_run(
            "-n",
            namespace,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=240s",
            timeout=260,
        )
        # Old pods finish terminating (preStop) while the load continues.
        wait_until(
            lambda: len(pods(cluster, namespace, "web")) == 2,
            timeout=90,
            what="the old pods to be gone",
        )
        time.sleep(2)
    finally:
        stop.set()
        loader.join(timeout=30)

    assert result.failures == [], f"{len(result.failures)} failed of {result.ok + len(result.failures)}"
    assert result.ok >= 100, result
    assert result.bodies.get("hello from v1", 0) > 0
    assert result.bodies.get("hello from v2", 0) > 0
    assert set(result.bodies) == {"hello from v1", "hello from v2"}
    dep = deployment_status(cluster, namespace, "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == http_images.v2
    assert is_available(dep, 2)
