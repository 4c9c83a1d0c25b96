"""The namespace, secrets, config and app roles against the real local cluster.

Production inventory values (the seed's numbers) are applied to a unique namespace with the admin kubeconfig and read
back from the API; pods are steered to the kwok nodes (node_selector/tolerations overrides) so the production
replica counts and requests do not occupy the one real node. Secret values come from a file of fake but
well-formed values; every one of them is searched for in the play output."""

from __future__ import annotations

import copy
import json
import re
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
# Shared with the functional tests (no conftest.py there, so nothing shadows this directory's fixtures).
sys.path.append(str(ROOT / "tests" / "functional" / "roles"))

from roles_helpers import FAKE_SECRETS, PLAYBOOKS, run_playbook  # noqa: E402
from seed_expectations import (  # noqa: E402
    SEED_SECRET_KEYS,
    assert_edge,
    assert_labels,
    assert_namespace_objects,
    assert_workloads,
)

NAMESPACED_KINDS = (
    "deployments.apps,services,horizontalpodautoscalers.autoscaling,poddisruptionbudgets.policy,"
    "ingresses.networking.k8s.io,networkpolicies.networking.k8s.io,resourcequotas,limitranges,"
    "serviceaccounts,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,configmaps,secrets"
)


def kwok_overrides(cluster) -> dict:
    """Production numbers unchanged; only where the pods land (the simulated nodes)."""
    placement = {
        "node_selector": dict(cluster.kwok_node_selector),
        "tolerations": [dict(cluster.kwok_toleration)],
    }
    return {"frontend": placement, "backend": copy.deepcopy(placement)}


def secret_values() -> dict:
    return yaml.safe_load(FAKE_SECRETS.read_text())


def every_secret_string(values: dict) -> list[str]:
    registry = values["secrets_registry"]
    return [v for v in values["secrets_values"].values() if len(v) >= 8] + [registry["password"]]


def changed_count(output: str) -> int:
    match = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


def play(cluster, extra: dict, *args, kubeconfig=None, expect_ok=True, timeout=600):
    variables = {
        "platform_kubeconfig": str(kubeconfig or cluster.kubeconfig),
        "platform_version": "1.0.0",
    }
    variables.update(extra)
    started = time.monotonic()
    proc = run_playbook(
        PLAYBOOKS / "platform.yml",
        "production",
        variables,
        [FAKE_SECRETS],
        args=args,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    print(f"ansible-playbook {' '.join(args)}: rc={proc.returncode} in {time.monotonic() - started:.1f}s")
    if expect_ok:
        assert proc.returncode == 0, output[-6000:]
    return output


def read_back(cluster, namespace: str) -> list[dict]:
    items = cluster.kubectl_json("-n", namespace, "get", NAMESPACED_KINDS)["items"]
    items.append(cluster.kubectl_json("get", "namespace", namespace))
    for kind in ("verticalpodautoscalers.autoscaling.k8s.io",):
        proc = cluster.kubectl_run("-n", namespace, "get", kind, "-o", "json", check=False)
        if proc.returncode == 0:
            items += json.loads(proc.stdout)["items"]
    return items


def wait_settled(cluster, namespace: str, timeout: float = 180) -> None:
    """Wait until the controllers stop writing status (rollout done, HPA and quota status stable): the k8s module
    compares whole objects, so a status update racing a re-apply would count as a change.
    """
    started = time.monotonic()
    last, stable_since = None, time.monotonic()
    while time.monotonic() - started < timeout:
        items = cluster.kubectl_json(
            "-n",
            namespace,
            "get",
            "deployments,horizontalpodautoscalers,resourcequotas",
        )["items"]
        status = json.dumps(
            [(i["kind"], i["metadata"]["name"], i["metadata"]["resourceVersion"]) for i in items],
            sort_keys=True,
        )
        if status != last:
            last, stable_since = status, time.monotonic()
        elif time.monotonic() - stable_since >= 8:
            print(f"objects in {namespace} settled after {time.monotonic() - started:.1f}s")
            return
        time.sleep(2)
    print(f"objects in {namespace} still changing after {timeout}s; continuing")


def api_groups(cluster) -> set[str]:
    return {line.split("/")[0] for line in cluster.kubectl_run("api-versions").stdout.split()}


@pytest.fixture
def production_namespace(cluster):
    name = f"it-roles-prod-{uuid.uuid4().hex[:6]}"
    yield name
    cluster.kubectl_run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def test_production_values_create_the_seed_objects_idempotently(cluster, production_namespace):
    ns = production_namespace
    values = secret_values()
    base = {
        "platform_namespace": ns,
        "app_component_overrides": kwok_overrides(cluster),
        "app_cluster_issuers_enabled": False,
    }

    first = play(cluster, base)
    assert changed_count(first) > 0
    groups = api_groups(cluster)
    objects = read_back(cluster, ns)
    assert_workloads(
        objects,
        custom_metrics="custom.metrics.k8s.io" in groups,
        vpa="autoscaling.k8s.io" in groups,
    )
    assert_edge(objects, issuers=False)
    assert_namespace_objects(objects, ns)
    assert_labels(
        [
            o
            for o in objects
            if o["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "intelligent_agent.platform"
        ]
    )
    if "autoscaling.k8s.io" not in groups:
        assert "VerticalPodAutoscaler skipped: API autoscaling.k8s.io is not served" in first

    secrets = [
        o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"].startswith("intelligent-agent-secrets-")
    ]
    assert len(secrets) == 1 and set(secrets[0]["data"]) == SEED_SECRET_KEYS
    # Server-side apply: no last-applied annotation holding the data; one stable field manager.
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (secrets[0]["metadata"].get("annotations") or {})
    fields = cluster.kubectl_json(
        "-n",
        ns,
        "get",
        "secret",
        secrets[0]["metadata"]["name"],
        "--show-managed-fields",
    )
    assert {m["manager"] for m in fields["metadata"]["managedFields"]} == {"intelligent-agent-platform"}
    registry = next(
        o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "intelligent-agent-registry"
    )
    assert registry["type"] == "kubernetes.io/dockerconfigjson"
    backend = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "backend")
    env_from = backend["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": secrets[0]["metadata"]["name"]}} in env_from
    for secret in every_secret_string(values):
        assert secret not in first

    wait_settled(cluster, ns)
    second = play(cluster, base)
    assert changed_count(second) == 0, second[-4000:]

    # --check --diff with a changed config value and a changed secret: reported, not applied, no value shown.
    generations = {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in cluster.kubectl_json("-n", ns, "get", "deployments")["items"]
    }
    configmaps = {c["metadata"]["name"] for c in cluster.kubectl_json("-n", ns, "get", "configmaps")["items"]}
    rotated = copy.deepcopy(values["secrets_values"])
    rotated["JWT_SECRET"] = "rotated-" + uuid.uuid4().hex + uuid.uuid4().hex
    changed_vars = {
        **base,
        "config_overrides": {"LOG_LEVEL": "warn"},
        "secrets_values": rotated,
    }
    check = play(cluster, changed_vars, "--check", "--diff")
    assert changed_count(check) > 0
    for secret in every_secret_string(values) + [rotated["JWT_SECRET"]]:
        assert secret not in check, "a secret value appeared in --check --diff output"
    after = {
        d["metadata"]["name"]: d["metadata"]["generation"]
        for d in cluster.kubectl_json("-n", ns, "get", "deployments")["items"]
    }
    assert after == generations
    assert {c["metadata"]["name"] for c in cluster.kubectl_json("-n", ns, "get", "configmaps")["items"]} == configmaps

    # The same change for real, with --diff: new hashed ConfigMap and Secret, the Deployment points at them,
    # the previous versions stay for rollbacks, and still no value in the output.
    applied = play(cluster, changed_vars, "--diff")
    for secret in every_secret_string(values) + [rotated["JWT_SECRET"]]:
        assert secret not in applied, "a secret value appeared in --diff output"
    config_names = sorted(
        c["metadata"]["name"]
        for c in cluster.kubectl_json("-n", ns, "get", "configmaps", "-l", "app.kubernetes.io/name=config")["items"]
    )
    assert len(config_names) == 2
    backend = cluster.kubectl_json("-n", ns, "get", "deployment", "backend")
    refs = backend["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    new_config = next(r["configMapRef"]["name"] for r in refs if "configMapRef" in r)
    assert new_config in config_names
    assert cluster.kubectl_json("-n", ns, "get", "configmap", new_config)["data"]["LOG_LEVEL"] == "warn"

    # A third version with config_keep_versions=1: the config role deletes nothing (pruning waits for a verified
    # release: deploy.yml's prune step), and the Deployment uses the newest.
    third = play(
        cluster,
        {
            **changed_vars,
            "config_overrides": {"LOG_LEVEL": "error"},
            "config_keep_versions": 1,
        },
    )
    assert changed_count(third) > 0
    remaining = {
        c["metadata"]["name"]
        for c in cluster.kubectl_json("-n", ns, "get", "configmaps", "-l", "app.kubernetes.io/name=config")["items"]
    }
    assert len(remaining) == 3 and set(config_names) <= remaining
    backend = cluster.kubectl_json("-n", ns, "get", "deployment", "backend")
    refs = backend["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    newest = next(r["configMapRef"]["name"] for r in refs if "configMapRef" in r)
    assert newest in remaining and newest not in config_names


def test_production_with_one_change_me_fails_before_anything_is_applied(cluster):
    ns = f"it-roles-changeme-{uuid.uuid4().hex[:6]}"
    values = secret_values()
    broken = copy.deepcopy(values["secrets_values"])
    broken["SESSION_SECRET"] = "CHANGE_ME"
    output = play(cluster, {"platform_namespace": ns, "secrets_values": broken}, expect_ok=False)
    assert "SESSION_SECRET (placeholder)" in output
    assert "nothing was applied" in output
    for secret in every_secret_string(values):
        assert secret not in output
    assert "Apply the namespace objects server-side" not in output
    namespaces = {n["metadata"]["name"] for n in cluster.kubectl_json("get", "namespaces")["items"]}
    assert ns not in namespaces, "the namespace was created although the secrets were refused"


def test_deployer_kubeconfig_applies_the_namespaced_parts(cluster, namespace):
    """The least-privilege deployer (bound in the test namespace only) runs every namespaced step."""
    extra = {
        "platform_namespace": namespace,
        "app_component_overrides": kwok_overrides(cluster),
        # Cluster-scoped or RBAC/quota objects are the admin's part (the deployer is not allowed to change them).
        "namespace_create": False,
        "namespace_resource_quota_enabled": False,
        "namespace_limit_range_enabled": False,
        "namespace_deployer_enabled": False,
        "app_cluster_issuers_enabled": False,
        "app_optional_apis": {
            "vpa": False,
            "cert_manager": False,
            "custom_metrics": "auto",
        },
    }
    first = play(cluster, extra, kubeconfig=cluster.deployer_kubeconfig)
    assert changed_count(first) > 0
    deployments = {d["metadata"]["name"] for d in cluster.kubectl_json("-n", namespace, "get", "deployments")["items"]}
    assert deployments == {"frontend", "backend"}
    policies = {p["metadata"]["name"] for p in cluster.kubectl_json("-n", namespace, "get", "networkpolicies")["items"]}
    assert "default-deny-all" in policies and "allow-backend-ingress" in policies
    wait_settled(cluster, namespace)
    second = play(cluster, extra, kubeconfig=cluster.deployer_kubeconfig)
    assert changed_count(second) == 0, second[-4000:]
