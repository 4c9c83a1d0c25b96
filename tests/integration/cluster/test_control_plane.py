"""Issue 3: the real control plane with kwok-simulated nodes."""

from __future__ import annotations

import json
import time

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


def test_readyz_is_ok(cluster):
    out = cluster.kubectl_run("get", "--raw", "/readyz").stdout.strip()
    assert out == "ok"


def test_server_version_is_the_pinned_release(cluster):
    version = json.loads(cluster.kubectl_run("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == cluster.k8s_version
    assert version["clientVersion"]["gitVersion"] == cluster.k8s_version


def _ready(node):
    conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
    return conds.get("Ready") == "True"


def test_all_nodes_ready_with_label_and_taint_scheme(cluster):
    nodes = {n["metadata"]["name"]: n for n in cluster.kubectl_json("get", "nodes")["items"]}
    assert set(cluster.kwok_nodes) <= set(nodes), sorted(nodes)
    assert len(cluster.kwok_nodes) >= 1
    for name in cluster.kwok_nodes:
        node = nodes[name]
        assert _ready(node), f"{name} not Ready"
        assert node["metadata"]["labels"]["type"] == "kwok"
        taints = node["spec"].get("taints", [])
        assert {
            "key": "kwok.x-k8s.io/node",
            "value": "fake",
            "effect": "NoSchedule",
        } in taints
    if cluster.real_node:
        node = nodes[cluster.real_node]
        assert _ready(node), f"{cluster.real_node} not Ready"
        assert node["metadata"]["labels"]["node-role/real"] == "true"
        # Untainted by the local cluster (controllers may add transient taints).
        keys = {t["key"] for t in node["spec"].get("taints", [])}
        assert "kwok.x-k8s.io/node" not in keys
        assert node["status"]["nodeInfo"]["kubeletVersion"] == cluster.k8s_version


def test_three_replicas_become_available_within_60s(cluster, namespace):
    start = time.monotonic()
    cluster.apply(
        deployment(cluster, "web", "registry.invalid/web:1", replicas=3, kwok=True),
        namespace,
    )
    dep = wait_available(cluster, namespace, "web", 3, timeout=60)
    assert time.monotonic() - start < 60
    assert dep["status"]["updatedReplicas"] == 3
    assert dep["status"]["availableReplicas"] == 3
    nodes = {p["spec"]["nodeName"] for p in pods(cluster, namespace, "web")}
    assert nodes <= set(cluster.kwok_nodes)


def _replicasets(cluster, namespace, app):
    items = cluster.kubectl_json("-n", namespace, "get", "replicasets", "-l", f"app={app}")["items"]
    return {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in items}


def _rollout_status(cluster, namespace, name):
    cluster.kubectl_run(
        "-n",
        namespace,
        "rollout",
        "status",
        f"deployment/{name}",
        "--timeout=180s",
        timeout=200,
    )


def test_image_change_creates_revision_and_rollout_undo_restores_it(cluster, namespace):
    first, second = "registry.invalid/web:1", "registry.invalid/web:2"
    cluster.apply(deployment(cluster, "web", first, replicas=3, kwok=True), namespace)
    _rollout_status(cluster, namespace, "web")
    cluster.kubectl_run("-n", namespace, "set", "image", "deployment/web", f"main={second}")
    _rollout_status(cluster, namespace, "web")

    rs = _replicasets(cluster, namespace, "web")
    assert set(rs) == {first, second}
    assert rs[first]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs[second]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert rs[first]["spec"]["replicas"] == 0
    assert rs[second]["spec"]["replicas"] == 3

    cluster.kubectl_run("-n", namespace, "rollout", "undo", "deployment/web")
    _rollout_status(cluster, namespace, "web")
    dep = deployment_status(cluster, namespace, "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == first
    assert is_available(dep, 3)
    rs = _replicasets(cluster, namespace, "web")
    # The first ReplicaSet is brought back (same pod-template-hash) as revision 3.
    assert set(rs) == {first, second}
    assert rs[first]["spec"]["replicas"] == 3
    assert rs[first]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rs[second]["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("marker", "image", "reason"),
    [
        (
            {"local-cluster/fail": "ImagePullBackOff"},
            "registry.invalid/web:1",
            "ImagePullBackOff",
        ),
        (
            {"local-cluster/fail": "CrashLoopBackOff"},
            "registry.invalid/web:1",
            "CrashLoopBackOff",
        ),
        ({}, "registry.invalid/web:kwok-fail", "ImagePullBackOff"),
        ({}, "registry.invalid/web:kwok-crash", "CrashLoopBackOff"),
    ],
    ids=["annotation-pull", "annotation-crash", "image-pull", "image-crash"],
)
def test_deployment_marked_to_fail_never_becomes_available(cluster, namespace, marker, image, reason):
    cluster.apply(
        deployment(cluster, "broken", image, replicas=2, kwok=True, pod_annotations=marker),
        namespace,
    )
    wait_until(
        lambda: reason in waiting_reasons(pods(cluster, namespace, "broken")),
        timeout=60,
        what=f"a pod of Deployment broken waiting with {reason}",
    )
    # Stays unavailable: sample for a while (kwok makes healthy pods Ready in ~1 s).
    for _sample in range(5):
        dep = deployment_status(cluster, namespace, "broken")
        assert dep["status"].get("availableReplicas", 0) == 0
        assert not is_available(dep, 2)
        pod_list = pods(cluster, namespace, "broken")
        assert pod_list
        assert all(
            cs.get("ready") is False for p in pod_list for cs in p.get("status", {}).get("containerStatuses", [])
        )
        time.sleep(1)
    assert waiting_reasons(pods(cluster, namespace, "broken")) == {reason}


def test_deployer_kubeconfig_is_least_privilege(cluster, namespace):
    def can_i(*args):
        proc = cluster.kubectl_run("auth", "can-i", *args, deployer=True, check=False)
        return proc.stdout.strip()

    assert can_i("create", "deployments.apps", "-n", namespace) == "yes"
    assert can_i("patch", "secrets", "-n", namespace) == "yes"
    assert can_i("create", "leases.coordination.k8s.io", "-n", namespace) == "yes"
    assert can_i("list", "nodes") == "no"
    assert can_i("create", "namespaces") == "no"
    assert can_i("create", "deployments.apps", "-n", "kube-system") == "no"
    assert can_i("create", "clusterrolebindings.rbac.authorization.k8s.io") == "no"
    assert can_i("*", "*", "-n", namespace) == "no"

    # And it really deploys with it.
    cluster.apply(
        deployment(cluster, "by-deployer", "registry.invalid/web:1", replicas=1, kwok=True),
        namespace,
        deployer=True,
    )
    _rollout_status(cluster, namespace, "by-deployer")
    denied = cluster.kubectl_run("get", "nodes", deployer=True, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
