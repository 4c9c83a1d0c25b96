"""The metrics API (metrics-server) on the local cluster: `kubectl top` and a HorizontalPodAutoscaler.

metrics-server runs as a host daemon behind kube-apiserver's aggregation layer
(hack/local-cluster/lib/metrics-server.sh) and scrapes only the real node's kubelet every 15 s.

1. `kubectl top` and the metrics API report a pod's real usage: a busy loop capped at 100m by its CPU
   limit shows up as about 100m, and the node as at least that.
2. An HPA on the demo backend (examples/demo-app/backend, built here from the local Debian Python
   base image) scales it up while a busybox load generator requests /api/info in a loop, and back
   down to one replica once the load stops (scaleDown.stabilizationWindowSeconds: 15). The measured
   times are printed.
"""

from __future__ import annotations

import json
import time

import pytest

from cluster_helpers import deployment, wait_available, wait_until

METRICS_API = "/apis/metrics.k8s.io/v1beta1"

pytestmark = pytest.mark.usefixtures("metrics_api")


def cpu_millicores(quantity: str) -> float:
    """A CPU quantity of the metrics API ("12345678n", "5u", "100m", "1") in millicores."""
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1] in units:
        return float(quantity[:-1]) * units[quantity[-1]]
    return float(quantity) * 1000


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def raw(cluster, path: str) -> dict | None:
    proc = cluster.kubectl_run("get", "--raw", path, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


@pytest.fixture(scope="module")
def metrics_api(cluster):
    """The APIService is Available and metrics-server has node metrics of the real node only."""
    if not cluster.real_node:
        pytest.fail("the local cluster runs without its real node (REAL_NODE=0)")
    apiservice = cluster.kubectl_json("get", "apiservice", "v1beta1.metrics.k8s.io")
    available = {c["type"]: c["status"] for c in apiservice["status"].get("conditions", [])}
    assert available.get("Available") == "True", apiservice["status"]
    assert apiservice["spec"]["service"] == {
        "name": "metrics-server",
        "namespace": "kube-system",
        "port": 443,
    }
    assert not apiservice["spec"].get("insecureSkipTLSVerify")

    # The first node metrics need two scrapes (one resolution) after metrics-server starts.
    def node_names():
        nodes = raw(cluster, f"{METRICS_API}/nodes")
        return nodes and {n["metadata"]["name"] for n in nodes["items"]}

    names = wait_until(node_names, timeout=60, what="node metrics", interval=2)
    # kwok nodes have no kubelet: metrics-server's --node-selector leaves them out.
    assert names == {cluster.real_node}, names
    return names


def test_kubectl_top_reports_real_usage(cluster, namespace):
    """A busy loop limited to 100m: the metrics API and `kubectl top` show about 100m."""
    burner = deployment(
        cluster,
        "burner",
        f"{cluster.registry}/pause:3.10",
        container={
            "command": ["/bin/busybox", "sh", "-c", "while :; do :; done"],
            "resources": {
                "requests": {"cpu": "100m", "memory": "16Mi"},
                "limits": {"cpu": "100m", "memory": "32Mi"},
            },
        },
        pod_spec={"terminationGracePeriodSeconds": 0},
    )
    simulated = deployment(cluster, "simulated", f"{cluster.registry}/pause:3.10", kwok=True)
    cluster.apply([burner, simulated], namespace=namespace)
    wait_available(cluster, namespace, "burner", 1, timeout=120)
    wait_available(cluster, namespace, "simulated", 1, timeout=60)
    pod = cluster.kubectl_json("-n", namespace, "get", "pods", "-l", "app=burner")["items"][0]["metadata"]["name"]
    started = time.monotonic()

    def pod_metrics():
        return raw(cluster, f"{METRICS_API}/namespaces/{namespace}/pods/{pod}")

    metrics = wait_until(pod_metrics, timeout=90, what=f"metrics of pod {pod}", interval=2)
    waited = time.monotonic() - started
    usage = metrics["containers"][0]["usage"]
    cpu, mem = cpu_millicores(usage["cpu"]), memory_bytes(usage["memory"])
    top_pod = cluster.kubectl_run("-n", namespace, "top", "pod", pod).stdout
    top_node = cluster.kubectl_run("top", "node", cluster.real_node).stdout
    print(
        f"\npod metrics after {waited:.0f} s (window {metrics['window']}): cpu {cpu:.0f}m, "
        f"memory {mem} B\n{top_pod}{top_node}"
    )
    # The CFS quota caps the loop at 100m; a busy 2-core machine may give it less.
    assert 30 <= cpu <= 130, usage
    assert mem > 0, usage
    row = top_pod.splitlines()[1].split()
    assert row[0] == pod and row[1].endswith("m"), top_pod
    node_row = top_node.splitlines()[1].split()
    assert node_row[0] == cluster.real_node
    assert int(node_row[1].rstrip("m")) >= 30, top_node
    # A pod on a kwok node has no metrics (no kubelet there; metrics-server scrapes the real node only).
    sim_pod = cluster.kubectl_json("-n", namespace, "get", "pods", "-l", "app=simulated")["items"][0]["metadata"][
        "name"
    ]
    assert raw(cluster, f"{METRICS_API}/namespaces/{namespace}/pods/{sim_pod}") is None
    listed = raw(cluster, f"{METRICS_API}/namespaces/{namespace}/pods")
    assert [p["metadata"]["name"] for p in listed["items"]] == [pod], listed


def backend_objects(cluster, image: str) -> list[dict]:
    dep = deployment(
        cluster,
        "backend",
        image,
        container={
            "ports": [{"name": "http", "containerPort": 5000}],
            "env": [{"name": "READY_CHECK_DEPENDENCIES", "value": "false"}],
            "readinessProbe": {
                "httpGet": {"path": "/health", "port": "http"},
                "periodSeconds": 2,
                "timeoutSeconds": 5,
            },
            "resources": {
                "requests": {"cpu": "50m", "memory": "32Mi"},
                "limits": {"cpu": "500m", "memory": "128Mi"},
            },
        },
    )
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "backend"},
        "spec": {
            "selector": {"app": "backend"},
            "ports": [{"name": "http", "port": 5000, "targetPort": "http"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "backend"},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "backend",
            },
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0},
                # The default is 300 s (--horizontal-pod-autoscaler-downscale-stabilization).
                "scaleDown": {
                    "stabilizationWindowSeconds": 15,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                },
            },
        },
    }
    return [dep, svc, hpa]


def load_generator(cluster) -> dict:
    """busybox wget loops against the backend's /api/info (pause image: busybox in FROM scratch)."""
    loop = "while :; do wget -q -O /dev/null http://backend:5000/api/info; done"
    script = f"for i in 1 2 3 4; do ({loop}) & done; wait"
    return deployment(
        cluster,
        "load",
        f"{cluster.registry}/pause:3.10",
        container={
            "command": ["/bin/busybox", "sh", "-c", script],
            "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "600m"}},
        },
        pod_spec={"terminationGracePeriodSeconds": 0},
    )


def hpa_state(cluster, namespace: str) -> dict:
    hpa = cluster.kubectl_json("-n", namespace, "get", "hpa", "backend")
    st = hpa.get("status", {})
    cpu = None
    for m in st.get("currentMetrics") or []:
        if m.get("type") == "Resource":
            cpu = m["resource"]["current"].get("averageUtilization")
    conditions = {c["type"]: c["status"] for c in st.get("conditions", [])}
    return {
        "current": st.get("currentReplicas"),
        "desired": st.get("desiredReplicas"),
        "cpu": cpu,
        "active": conditions.get("ScalingActive"),
    }


def test_hpa_scales_demo_backend_under_load(cluster, namespace, backend_image):
    cluster.apply(backend_objects(cluster, backend_image), namespace=namespace)
    wait_available(cluster, namespace, "backend", 1, timeout=120)
    # The HPA computes from real metrics before the load starts (idle: far below the target).
    idle = wait_until(
        lambda: (s := hpa_state(cluster, namespace))["active"] == "True" and s["cpu"] is not None and s,
        timeout=90,
        what="the HPA to read the backend's CPU",
        interval=2,
    )
    print(f"\nidle: {idle}")
    assert idle["current"] == 1 and idle["cpu"] < 50, idle

    cluster.apply(load_generator(cluster), namespace=namespace)
    wait_available(cluster, namespace, "load", 1, timeout=60)
    load_started = time.monotonic()

    def scaled_up():
        s = hpa_state(cluster, namespace)
        return s["desired"] >= 2 and s

    up = wait_until(scaled_up, timeout=150, what="the HPA to scale the backend up", interval=1)
    scale_up_s = time.monotonic() - load_started
    print(f"scaled up {scale_up_s:.0f} s after the load started: {up}")
    # The new replicas really run on the real node (the HPA may still raise the count meanwhile).
    wait_until(
        lambda: (
            cluster.kubectl_json("-n", namespace, "get", "deployment", "backend")["status"].get("availableReplicas", 0)
            >= 2
        ),
        timeout=120,
        what="2 available backend replicas",
    )
    top = cluster.kubectl_run("-n", namespace, "top", "pods").stdout
    print(top)

    cluster.kubectl_run("-n", namespace, "delete", "deployment", "load", "--cascade=foreground")
    load_stopped = time.monotonic()

    def scaled_down():
        s = hpa_state(cluster, namespace)
        return s["desired"] == 1 and s["current"] == 1 and s

    down = wait_until(scaled_down, timeout=150, what="the HPA to scale the backend down", interval=1)
    scale_down_s = time.monotonic() - load_stopped
    print(f"scaled down {scale_down_s:.0f} s after the load stopped: {down}")
    wait_available(cluster, namespace, "backend", 1, timeout=60)
    events = cluster.kubectl_run(
        "-n",
        namespace,
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=HorizontalPodAutoscaler",
        "-o",
        "custom-columns=TIME:.lastTimestamp,MESSAGE:.message",
        "--sort-by=.lastTimestamp",
    ).stdout
    print(events)
    assert (
        "SuccessfulRescale"
        in cluster.kubectl_run("-n", namespace, "get", "events", "-o", "jsonpath={.items[*].reason}").stdout
    )
