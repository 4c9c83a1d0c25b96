"""Two personas against the real local cluster: an admin runs playbooks/bootstrap.yml once, then the
namespace-scoped deployer ServiceAccount it created runs playbooks/deploy.yml end to end.

One module-scoped sequence in its own namespace and NodePorts (31280 frontend, 31680 backend):
  bootstrap.yml as admin, again (changed=0), --check (changed=0)  -> test_bootstrap_*
  the deployer's rights: no RBAC, no namespace patch, no token    -> test_deployer_*
  deploy.yml with a kubeconfig of the bootstrap-created SA        -> test_deploy_as_the_namespaced_deployer
  a namespace nobody may create is refused, naming bootstrap.yml  -> test_missing_namespace_*
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_helpers import (  # noqa: E402
    ROOT,
    VENV_BIN,
    Runner,
    local_inventory_vars,
    merged_overrides,
)

FRONTEND_PORT, BACKEND_PORT = 31280, 31680
DEPLOYER = "intelligent-agent-deployer"
VAULT = ["--vault-id", "local@inventories/local/vault-password.txt"]


def _registry_tags(cluster, repository: str) -> set[str]:
    proc = subprocess.run(
        ["curl", "-sf", f"http://{cluster.registry}/v2/{repository}/tags/list"],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(json.loads(proc.stdout or "{}").get("tags") or []) if proc.returncode == 0 else set()


@pytest.fixture(scope="module")
def boot(cluster, tmp_path_factory):
    """A fresh namespace bootstrapped by this module; deleted with its cluster-scoped policy afterwards."""
    namespace = f"it-bootstrap-{uuid.uuid4().hex[:6]}"
    workdir = tmp_path_factory.mktemp("bootstrap")
    inventory = local_inventory_vars()
    base_vars = {
        "platform_namespace": namespace,
        "app_component_overrides": merged_overrides(FRONTEND_PORT, BACKEND_PORT),
        "config_overrides": dict(inventory.get("config_overrides") or {}),
        "platform_backup_dir": str(workdir / "backups"),
    }
    policy = f"{namespace}-{DEPLOYER}-no-token-secrets"
    state = {
        "namespace": namespace,
        "runner": Runner(workdir, base_vars),
        "workdir": workdir,
        "policy": policy,
        "failed": [],
    }
    yield state
    cluster.kubectl_run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)
    for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
        cluster.kubectl_run("delete", kind, policy, "--ignore-not-found", check=False)


@pytest.fixture(autouse=True)
def _sequence(request, boot):
    if boot["failed"] and request.node.name != "test_missing_namespace_is_refused_naming_bootstrap":
        pytest.fail(f"an earlier step of the bootstrap sequence failed: {boot['failed']}")


def _fail_on_error(boot, name, result):
    if result.rc != 0:
        boot["failed"].append(name)


def test_bootstrap_creates_the_environment_as_admin(cluster, boot):
    ns = boot["namespace"]
    result = boot["runner"].run("bootstrap.yml", args=VAULT)
    _fail_on_error(boot, "bootstrap", result)
    assert result.rc == 0, result.tail()
    assert any(t.endswith("Apply the namespace objects server-side in one call") for t in result.changed_tasks())
    assert f"kubectl -n {ns} create token {DEPLOYER}" in " ".join(result.output.split()), result.tail()
    assert "eyJ" not in result.output, "bootstrap.yml must not mint or print a token"

    labels = cluster.kubectl_json("get", "namespace", ns)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/managed-by"] == "intelligent_agent.platform"
    kinds = cluster.kubectl_json(
        "-n", ns, "get", "resourcequota,limitrange,networkpolicy,serviceaccount,role,rolebinding"
    )["items"]
    names = {(item["kind"], item["metadata"]["name"]) for item in kinds}
    assert {
        ("ResourceQuota", "intelligent-agent-quota"),
        ("LimitRange", "intelligent-agent-limits"),
        ("NetworkPolicy", "default-deny-all"),
        ("ServiceAccount", DEPLOYER),
        ("Role", DEPLOYER),
        ("RoleBinding", DEPLOYER),
    } <= names, sorted(names)
    role = next(item for item in kinds if item["kind"] == "Role")
    for rule in role["rules"]:
        assert "rbac.authorization.k8s.io" not in rule["apiGroups"], rule
        assert "serviceaccounts/token" not in rule["resources"], rule
        if "namespaces" in rule["resources"]:
            assert rule["verbs"] == ["get"], rule
    binding = cluster.kubectl_json("get", "validatingadmissionpolicybinding", boot["policy"])
    assert binding["spec"]["validationActions"] == ["Deny"]


def test_bootstrap_again_changes_nothing(boot):
    result = boot["runner"].run("bootstrap.yml", args=VAULT)
    assert result.rc == 0, result.tail()
    assert result.changed_tasks() == [], result.changed_tasks()


def test_bootstrap_check_mode_changes_nothing(boot):
    result = boot["runner"].run("bootstrap.yml", args=[*VAULT, "--check"])
    assert result.rc == 0, result.tail()
    assert result.changed_tasks() == [], result.changed_tasks()


@pytest.fixture(scope="module")
def deployer_config(boot, sa_kubeconfig) -> Path:
    """A kubeconfig of the ServiceAccount bootstrap.yml created (token requested by the admin here)."""
    return sa_kubeconfig(boot["namespace"], DEPLOYER)


def _as_deployer(cluster, config: Path, *args: str, input: str | None = None):  # noqa: A002
    return subprocess.run(
        [cluster.kubectl, "--kubeconfig", str(config), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("create", "rolebindings.rbac.authorization.k8s.io", False),
        ("patch", "roles.rbac.authorization.k8s.io", False),
        ("patch", "namespaces", False),
        ("create", "serviceaccounts/token", False),
        ("patch", "resourcequotas", False),
        ("create", "secrets", True),
        ("delete", "configmaps", True),
        ("update", "leases.coordination.k8s.io", True),
    ],
)
def test_deployer_rights_are_namespaced_and_exclude_rbac(cluster, boot, deployer_config, verb, resource, allowed):
    proc = _as_deployer(cluster, deployer_config, "auth", "can-i", verb, resource, "-n", boot["namespace"])
    assert proc.stdout.strip() == ("yes" if allowed else "no"), (verb, resource, proc.stdout, proc.stderr)


def test_deployer_cannot_create_a_service_account_token_secret(cluster, boot, deployer_config):
    ns = boot["namespace"]
    token_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "deployer-forever-token",
            "namespace": ns,
            "annotations": {"kubernetes.io/service-account.name": DEPLOYER},
        },
        "type": "kubernetes.io/service-account-token",
    }
    refused = _as_deployer(cluster, deployer_config, "create", "-f", "-", input=json.dumps(token_secret))
    assert refused.returncode != 0
    assert boot["policy"] in refused.stderr, refused.stderr
    # The same request by the admin is not the policy's business, and an Opaque Secret by the deployer passes.
    opaque = dict(token_secret, type="Opaque", metadata={"name": "deployer-opaque", "namespace": ns})
    allowed = _as_deployer(cluster, deployer_config, "create", "--dry-run=server", "-f", "-", input=json.dumps(opaque))
    assert allowed.returncode == 0, allowed.stderr
    admin = cluster.kubectl_run("create", "--dry-run=server", "-f", "-", input=json.dumps(token_secret), check=False)
    assert admin.returncode == 0, admin.stderr


def test_deploy_as_the_namespaced_deployer(cluster, boot, deployer_config):
    ns = boot["namespace"]
    extra = {
        "platform_kubeconfig": str(deployer_config),
        "platform_health_checks": [{"name": "frontend", "url": f"http://127.0.0.1:{FRONTEND_PORT}/health"}],
    }
    # Images another run already pushed (make demo, the pipeline tests) are deployed by digest; else build them.
    common = _registry_tags(cluster, "intelligent-agent/frontend") & _registry_tags(
        cluster, "intelligent-agent/backend"
    )
    version = next((tag for tag in ("1.0.0", "2.0.0") if tag in common), None)
    if version:
        extra.update({"platform_version": version, "image_build": "false"})
    else:
        extra.update({"platform_version": f"0.0.0-boot{uuid.uuid4().hex[:6]}"})
    result = boot["runner"].run("deploy.yml", extra, args=VAULT, timeout=1200)
    _fail_on_error(boot, "deploy as the deployer", result)
    assert result.rc == 0, result.tail(80)
    assert (
        f"Namespace {ns} exists and is managed by bootstrap.yml: not patched (the deployer may not patch namespaces)"
        in " ".join(result.output.split())
    ), result.tail(80)
    assert "forbidden" not in result.output.lower(), [
        line for line in result.output.splitlines() if "orbidden" in line
    ][:5]
    for name in ("frontend", "backend"):
        deployment = cluster.kubectl_json("-n", ns, "get", "deployment", name)
        assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == extra["platform_version"]
        assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"]
    history = cluster.kubectl_json("-n", ns, "get", "configmap", "intelligent-agent-release-history")
    assert json.loads(history["data"]["releases.json"])[-1]["result"] == "succeeded"


def test_missing_namespace_is_refused_naming_bootstrap(cluster, boot, sa_kubeconfig):
    """Credentials that may read namespaces cluster-wide but not create them: refused before any write."""
    name = f"it-bootstrap-reader-{uuid.uuid4().hex[:6]}"
    home = boot["namespace"]
    missing = f"it-bootstrap-missing-{uuid.uuid4().hex[:6]}"
    reader = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": home}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": home}],
        },
    ]
    cluster.apply(reader)
    try:
        config = sa_kubeconfig(home, name)
        env = boot["runner"].env()
        env["K8S_AUTH_KUBECONFIG"] = str(config)
        proc = subprocess.run(
            [
                str(VENV_BIN / "ansible"),
                "localhost",
                "-i",
                "inventories/local",
                *VAULT,
                "-m",
                "ansible.builtin.include_role",
                "-a",
                "name=intelligent_agent.platform.namespace tasks_from=access",
                "-e",
                json.dumps({"platform_namespace": missing}),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = " ".join((proc.stdout + proc.stderr).split())
        assert proc.returncode != 0, output[-3000:]
        assert f"Namespace {missing} does not exist and these credentials may not create it" in output, output[-3000:]
        assert "run playbooks/bootstrap.yml as an admin first" in output
        assert cluster.kubectl_run("get", "namespace", missing, check=False).returncode != 0
    finally:
        cluster.kubectl_run("delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found", check=False)
