"""A refused deploy changes nothing: every check that can refuse playbooks/deploy.yml runs in its preflight,
before the deploy lock and the first write (issue #14, "Validation first").

One baseline release is deployed per module (kwok nodes, an image that is already in the local registry, no
build); then each bad input is run once against it and must: fail, name the field or cause, fail fast (in the
preflight: no lock, no write; the seconds are recorded), and leave every object of the namespace as it was (all
but the status the controllers keep writing: spec, metadata and the field managers of every non-status write).
A refused first deploy must not create the namespace, and credentials lacking one verb are refused naming it.
"""

from __future__ import annotations

import copy
import json
import os
import uuid

import pytest

from pipeline_helpers import ROOT, Runner, local_inventory_vars, record_figure

BASE_IMAGE = "127.0.0.1:5000/base/debian-python:bookworm"
KINDS = (
    "deployments,replicasets,pods,services,configmaps,secrets,leases,serviceaccounts,roles,rolebindings,"
    "ingresses,networkpolicies,horizontalpodautoscalers,poddisruptionbudgets,resourcequotas,limitranges"
)
# Task names that only run after the preflight: none may appear in a refused run.
AFTER_PREFLIGHT = (
    "Create the namespace so that it can hold the lock",
    "Create the deploy lock, free, when it does not exist yet",
    "Acquire the deploy lock",
    "Apply the namespace objects server-side in one call",
    "Write the release record",
)
# The preflight of a refused run, measured: it used to take 30-60 s and write first.
FAST_SECONDS = 60
# A value that must never be printed (the production-secrets case).
UNMISTAKABLE_SECRET = "refusal-test-session-secret-" + uuid.uuid4().hex


def kwok_overrides(cluster) -> dict:
    """The local inventory's components on the simulated nodes, ClusterIP, with an image the registry has."""
    overrides = copy.deepcopy(local_inventory_vars().get("app_component_overrides") or {})
    for component in overrides.values():
        component["service"] = {"type": "ClusterIP"}
        component["node_selector"] = dict(cluster.kwok_node_selector)
        component["tolerations"] = [dict(cluster.kwok_toleration)]
        component["image"] = BASE_IMAGE
    return overrides


def written_state(obj: dict) -> str:
    """What a write by a client changes: the object without its status and without the bookkeeping of status
    writes. The controllers (HPA, Deployment, kubelet) keep writing status, which bumps resourceVersion without
    any write of ours."""
    metadata = {key: value for key, value in obj["metadata"].items() if key not in ("resourceVersion", "managedFields")}
    managers = [entry for entry in obj["metadata"].get("managedFields") or [] if entry.get("subresource") != "status"]
    body = {key: value for key, value in obj.items() if key not in ("status", "metadata")}
    return json.dumps({"metadata": metadata, "managers": managers, "body": body}, sort_keys=True)


def snapshot(cluster, namespace: str) -> dict:
    """Every object of the namespace (and the Namespace itself) -> its written state; {} when it does not exist."""
    found = cluster.kubectl_run("get", "namespace", namespace, "-o", "name", check=False)
    if found.returncode != 0:
        return {}
    items = cluster.kubectl_json("-n", namespace, "get", KINDS, "--show-managed-fields")["items"]
    state = {f"{item['kind']}/{item['metadata']['name']}": written_state(item) for item in items}
    state[f"Namespace/{namespace}"] = written_state(cluster.kubectl_json("get", "namespace", namespace))
    return state


def assert_refused_early(result, fragments: list[str], name: str) -> None:
    assert result.rc != 0, f"{name}: the run was not refused\n{result.tail()}"
    for fragment in fragments:
        assert fragment in result.output, f"{name}: '{fragment}' not in the output\n{result.tail(40)}"
    reached = [
        task
        for task in AFTER_PREFLIGHT
        if f"TASK [intelligent_agent.platform.release : {task}]" in result.output
        or f"TASK [intelligent_agent.platform.namespace : {task}]" in result.output
    ]
    assert not reached, f"{name}: the refusal came after the preflight ({reached})\n{result.tail()}"
    record_figure(f"refusal: {name}", f"{result.seconds:.1f} s")
    assert result.seconds < FAST_SECONDS, f"{name}: refused only after {result.seconds:.0f} s"


def assert_unchanged(before: dict, after: dict, name: str) -> None:
    changed = sorted(k for k in before if after.get(k) != before[k])
    added = sorted(set(after) - set(before))
    assert not changed and not added, f"{name}: changed {changed}, added {added}"


@pytest.fixture(scope="module")
def baseline(cluster, tmp_path_factory):
    """One released baseline (1.0.0) in its own namespace, shared by every refusal of this module."""
    namespace = f"it-refusals-{uuid.uuid4().hex[:6]}"
    workdir = tmp_path_factory.mktemp("refusals")
    base_vars = {
        "platform_namespace": namespace,
        # A string: the play reads image_build as an AWX answer; nothing is built, the image is resolved.
        "image_build": "no",
        "app_component_overrides": kwok_overrides(cluster),
        "platform_health_checks": [],
        "platform_backup_dir": str(workdir / "backups"),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "ANSIBLE_VAULT_IDENTITY_LIST",
            os.environ.get("ANSIBLE_VAULT_IDENTITY_LIST", f"local@{ROOT}/inventories/local/vault-password.txt"),
        )
        runner = Runner(workdir, base_vars)
        first = runner.run("deploy.yml", {"platform_version": "1.0.0"})
        record_figure("refusals: baseline deploy of 1.0.0 (kwok, no build)", f"{first.seconds:.1f} s")
        assert first.rc == 0, first.tail()
        yield {"runner": runner, "namespace": namespace, "overrides": base_vars["app_component_overrides"]}
    cluster.kubectl_run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def with_backend(overrides: dict, **backend) -> dict:
    changed = copy.deepcopy(overrides)
    for key, value in backend.items():
        node = changed["backend"]
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return {"app_component_overrides": changed}


CASES = {
    "negative-replicas": (
        lambda o: with_backend(o, replicas=-1),
        ["app_components[backend].replicas: must be 0 or more, got -1"],
    ),
    "unknown-component-field": (
        lambda o: with_backend(o, colour="blue"),
        ["app_components[backend].colour: unknown field"],
    ),
    "cpu-lots": (
        lambda o: with_backend(o, resources__requests__cpu="lots"),
        ["app_components[backend].resources.requests.cpu: 'lots' is not a Kubernetes quantity"],
    ),
    "unknown-component-name": (
        lambda o: {"platform_components": "frontend,worker"},
        ["unknown component 'worker'"],
    ),
    "health-check-ftp": (
        lambda o: {"platform_health_checks": [{"name": "web", "url": "ftp://127.0.0.1/health"}]},
        ["platform_health_checks[web].url: scheme 'ftp' is not allowed"],
    ),
    "boolean-ture": (
        lambda o: {"rollback_on_failure": "ture"},
        ["rollback_on_failure: 'ture' is not a boolean"],
    ),
    "component-boolean-ture": (
        lambda o: with_backend(o, autoscaling__enabled="ture"),
        ["app_components[backend].autoscaling.enabled: 'ture' is not a boolean"],
    ),
    "production-change-me-secret": (
        lambda o: {
            "platform_environment": "production",
            "deploy_confirm": "true",
            "secrets_values": {"JWT_SECRET": "CHANGE_ME", "SESSION_SECRET": UNMISTAKABLE_SECRET},
        },
        ["Refusing to apply secrets in environment 'production'", "JWT_SECRET (placeholder)"],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_before_anything_changes(cluster, baseline, name):
    make_extra, fragments = CASES[name]
    namespace = baseline["namespace"]
    before = snapshot(cluster, namespace)
    assert any(key.startswith("Deployment/") for key in before), before
    extra = {"platform_version": "1.1.0", **make_extra(baseline["overrides"])}
    result = baseline["runner"].run("deploy.yml", extra)
    assert_refused_early(result, fragments, name)
    assert UNMISTAKABLE_SECRET not in result.output, f"{name}: a secret value was printed"
    assert_unchanged(before, snapshot(cluster, namespace), name)


def test_refused_first_deploy_creates_no_namespace(cluster, baseline):
    namespace = f"it-refusals-first-{uuid.uuid4().hex[:6]}"
    extra = {
        "platform_version": "1.0.0",
        "platform_namespace": namespace,
        **with_backend(baseline["overrides"], resources__limits__memory="1GB"),
    }
    result = baseline["runner"].run("deploy.yml", extra)
    try:
        assert_refused_early(
            result,
            ["app_components[backend].resources.limits.memory: '1GB' is not a Kubernetes quantity"],
            "first deploy with memory 1GB",
        )
        assert snapshot(cluster, namespace) == {}, "the refused first deploy created the namespace"
    finally:
        cluster.kubectl_run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def _wait_until(cluster, namespace: str, verb: str, resource: str, allowed: bool) -> None:
    import time

    deadline = time.monotonic() + 60
    while True:
        answer = cluster.kubectl_run("auth", "can-i", verb, resource, "-n", namespace, deployer=True, check=False)
        if (answer.stdout.strip() == "yes") == allowed:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"can-i {verb} {resource} did not become {allowed} within 60 s")
        time.sleep(0.5)


def test_missing_permission_is_refused_naming_it(cluster, namespace, baseline, tmp_path):
    """The deployer bound by a Role that lacks `update leases` (the lock) is refused before it writes."""
    rules = copy.deepcopy(cluster.kubectl_json("get", "clusterrole", "platform-deployer")["rules"])
    for rule in rules:
        if "leases" in rule.get("resources", []):
            rule["verbs"] = [verb for verb in rule["verbs"] if verb != "update"]
    cluster.apply(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "deployer-without-lease-update", "namespace": namespace},
                "rules": rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "deployer-without-lease-update", "namespace": namespace},
                "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "platform-system"}],
                "roleRef": {
                    "kind": "Role",
                    "name": "deployer-without-lease-update",
                    "apiGroup": "rbac.authorization.k8s.io",
                },
            },
        ]
    )
    cluster.kubectl_run("-n", namespace, "delete", "rolebinding", "platform-deployer")
    _wait_until(cluster, namespace, "update", "leases.coordination.k8s.io", allowed=False)
    _wait_until(cluster, namespace, "create", "deployments.apps", allowed=True)

    before = snapshot(cluster, namespace)
    runner = Runner(tmp_path, {})
    runner.base_vars = {
        **baseline["runner"].base_vars,
        "platform_namespace": namespace,
        "platform_kubeconfig": str(cluster.deployer_kubeconfig),
        # The admin's part (bootstrap.yml), as for any namespaced deployer.
        "namespace_create": False,
        "namespace_resource_quota_enabled": False,
        "namespace_limit_range_enabled": False,
        "namespace_deployer_enabled": False,
        "app_cluster_issuers_enabled": False,
        "app_optional_apis": {"vpa": False, "cert_manager": False, "custom_metrics": "auto"},
    }
    result = runner.run("deploy.yml", {"platform_version": "1.0.0"})
    assert_refused_early(
        result, ["lack 1 permission(s)", "update leases.coordination.k8s.io"], "missing update on leases"
    )
    assert_unchanged(before, snapshot(cluster, namespace), "missing permission")
