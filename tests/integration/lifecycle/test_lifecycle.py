"""The lifecycle verbs against the real local cluster: render.yml, status.yml and uninstall.yml around a
deploy of the local inventory, all with the least-privilege deployer's kubeconfig.

One module-scoped sequence in its own namespace (admin-created, as bootstrap.yml would), ClusterIP Services
(the demo owns the local NodePorts), images the registry already has (the demo's 1.0.0) or, without them,
built by the local inventory into the test's own repositories:
  render.yml before the deploy: no secret value, `kubectl apply --dry-run=server` accepts it, twice unchanged
  render.yml with vault-encrypted Secrets                          -> test_render_*
  deploy.yml 1.0.0                                                 -> test_deploy
  status.yml: both components healthy, version and digest;
  a backend whose image cannot be pulled fails status_fail_unhealthy -> test_status_*
  uninstall.yml: refused without confirmation, --check lists, deletes only the platform's objects and keeps
  the history, a second run changes nothing                        -> test_uninstall_*
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

from pipeline_helpers import (  # noqa: E402
    VENV_BIN,
    Runner,
    local_inventory_vars,
    vault_secret_values,
)

pytestmark = pytest.mark.timeout(1800)

PLATFORM = "intelligent-agent"
HISTORY_CM = f"{PLATFORM}-release-history"
COMPONENTS = ("backend", "frontend")
DEMO_REPOSITORY, DEMO_VERSION = "intelligent-agent", "1.0.0"
# What the platform applies in this namespace (the namespace-scoped kinds the deployer may list).
APPLIED_KINDS = (
    "deployments,services,horizontalpodautoscalers,poddisruptionbudgets,ingresses,configmaps,secrets,networkpolicies,"
    "leases"
)


def _registry_has(registry: str, repository: str, tag: str) -> bool:
    try:
        with urllib.request.urlopen(  # noqa: S310 - local registry
            f"http://{registry}/v2/{repository}/tags/list", timeout=10
        ) as response:
            return tag in (json.loads(response.read()).get("tags") or [])
    except OSError:
        return False


def _clusterip_overrides() -> dict:
    overrides = json.loads(json.dumps(local_inventory_vars().get("app_component_overrides") or {}))
    for component in overrides.values():
        component["service"] = {"type": "ClusterIP"}
    return overrides


@pytest.fixture(scope="module")
def seq(cluster, tmp_path_factory, demo_images):
    workdir = tmp_path_factory.mktemp("lifecycle")
    namespace = f"it-lifecycle-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace, "labels": {"local-cluster/test": "true"}},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "platform-deployer", "namespace": namespace},
                "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "platform-system"}],
                "roleRef": {
                    "kind": "ClusterRole",
                    "name": "platform-deployer",
                    "apiGroup": "rbac.authorization.k8s.io",
                },
            },
        ]
    )
    reuse = all(_registry_has(cluster.registry, f"{DEMO_REPOSITORY}/{c}", DEMO_VERSION) for c in COMPONENTS)
    images = (
        {
            # Deploy what another run pushed, by digest (deploy.yml resolves the tags), or build our own.
            "image_build": "false",
            "platform_images": {c: f"{cluster.registry}/{DEMO_REPOSITORY}/{c}:{DEMO_VERSION}" for c in COMPONENTS},
        }
        if reuse
        else {
            "image_build": "true",
            "image_namespace": namespace,
            "app_image_registry": f"{cluster.registry}/{namespace}",
        }
    )
    base_vars = {
        # The deployer's namespace-scoped credentials; the namespace, quota, limits and RBAC are the admin's.
        "platform_kubeconfig": str(cluster.deployer_kubeconfig),
        "platform_namespace": namespace,
        "platform_version": DEMO_VERSION,
        "platform_backup_dir": str(workdir / "backups"),
        "namespace_create": False,
        "namespace_resource_quota_enabled": False,
        "namespace_limit_range_enabled": False,
        "namespace_deployer_enabled": False,
        "app_cluster_issuers_enabled": False,
        "app_optional_apis": {"vpa": False, "cert_manager": False, "custom_metrics": "auto"},
        "app_component_overrides": _clusterip_overrides(),
        **images,
    }
    print(f"\nlifecycle namespace {namespace}: images {'reused' if reuse else 'built'}")
    state = {
        "runner": Runner(workdir, base_vars),
        "namespace": namespace,
        "workdir": workdir,
        "secrets": vault_secret_values(),
        "failed": [],
        "reuse": reuse,
    }
    yield state
    cluster.kubectl_run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(autouse=True)
def _sequence(request, seq):
    """Later steps need the earlier ones: name the failed prerequisite instead of a confusing error."""
    if seq["failed"]:
        pytest.fail(f"an earlier step of the lifecycle sequence failed: {seq['failed']}")
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        seq["failed"].append(request.node.name)


def _no_secret_in(seq, text: str, where: str) -> None:
    encoded = {value: base64.b64encode(value.encode()).decode() for value in seq["secrets"]}
    leaked = [f"{value[:3]}...({len(value)} chars)" for value, b64 in encoded.items() if value in text or b64 in text]
    assert not leaked, f"secret values found in {where}: {leaked}"


def _snapshot(cluster, namespace: str) -> dict:
    """Kind/name -> (uid, hash of spec, data and metadata labels/annotations) of what is in the namespace: what a
    write would change, not the status the controllers keep updating (HPAs have no metadata.generation).
    Hashed, so that an assertion message never shows a Secret's data."""
    items = cluster.kubectl_json("-n", namespace, "get", APPLIED_KINDS)["items"]
    return {
        f"{i['kind']}/{i['metadata']['name']}": (
            i["metadata"]["uid"],
            hashlib.sha256(
                json.dumps(
                    [i.get(key) for key in ("spec", "data", "binaryData")]
                    + [i["metadata"].get("labels"), i["metadata"].get("annotations")],
                    sort_keys=True,
                ).encode()
            ).hexdigest()[:16],
        )
        for i in items
    }


def test_render_writes_every_manifest_without_a_secret_value(seq, cluster):
    render_dir = seq["workdir"] / "render"
    extra = {"render_dir": str(render_dir), "render_resolve_images": "true" if seq["reuse"] else "false"}
    result = seq["runner"].run("render.yml", extra)
    assert result.rc == 0, result.tail()
    files = sorted(render_dir.glob("*.yaml"))
    docs = [yaml.safe_load(path.read_text()) for path in files]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "NetworkPolicy", "HorizontalPodAutoscaler"} <= kinds, kinds
    assert "Namespace" not in kinds  # namespace_create is false here: the render follows the inventory
    assert all(re.match(r"^\d{3}-[a-z]+-", path.name) for path in files)
    text = "\n".join(path.read_text() for path in files)
    _no_secret_in(seq, text, "the rendered files")
    _no_secret_in(seq, result.output, "the render output")
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert secret["metadata"]["annotations"]["intelligent-agent.platform/redacted"] == "true"
    assert {base64.b64decode(v).decode() for v in secret["data"].values()} == {"REDACTED"}
    for component in COMPONENTS:
        deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == component)
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        if seq["reuse"]:
            assert "@sha256:" in image, f"render_resolve_images did not pin {component}: {image}"
        seq.setdefault("rendered_images", {})[component] = image
    # The API server accepts every rendered object, with the deployer's rights (nothing is created).
    dry = cluster.kubectl_run("apply", "--dry-run=server", "-f", str(render_dir), deployer=True, check=False)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert "(server dry run)" in dry.stdout
    assert cluster.kubectl_json("-n", seq["namespace"], "get", "deployments")["items"] == []

    again = seq["runner"].run("render.yml", extra)
    assert again.rc == 0, again.tail()
    assert again.changed_tasks() == [], f"a second render changed {again.changed_tasks()}"


def test_render_with_vault_encrypts_the_secrets(seq):
    render_dir = seq["workdir"] / "render-vault"
    password = seq["workdir"] / "render-vault-password"
    password.write_text(uuid.uuid4().hex)  # a throwaway vault password
    result = seq["runner"].run(
        "render.yml",
        {
            "render_dir": str(render_dir),
            "render_layout": "single",
            "render_secrets": "vault",
            "render_vault_password_file": str(password),
        },
    )
    assert result.rc == 0, result.tail()
    assert sorted(p.name for p in render_dir.iterdir()) == ["manifests.yaml", "secrets.vault.yaml"]
    manifests = (render_dir / "manifests.yaml").read_text()
    assert "kind: Secret" not in manifests
    _no_secret_in(seq, manifests, "manifests.yaml")
    vaulted = (render_dir / "secrets.vault.yaml").read_text()
    assert vaulted.startswith("$ANSIBLE_VAULT;")
    _no_secret_in(seq, vaulted, "secrets.vault.yaml")
    plain = subprocess.run(
        [
            str(VENV_BIN / "ansible-vault"),
            "view",
            "--vault-password-file",
            str(password),
            str(render_dir / "secrets.vault.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    secret = next(d for d in yaml.safe_load_all(plain) if d)
    values = {base64.b64decode(v).decode() for v in secret["data"].values()}
    assert set(seq["secrets"]) & values, "the vault file does not hold the vault's values"


def test_deploy(seq, cluster):
    result = seq["runner"].run("deploy.yml", timeout=1200)
    assert result.rc == 0, result.tail(80)
    for component in COMPONENTS:
        live = cluster.kubectl_json("-n", seq["namespace"], "get", "deployment", component)
        image = live["spec"]["template"]["spec"]["containers"][0]["image"]
        if seq["reuse"]:
            # The render pinned the same digests the deploy applied.
            assert image == seq["rendered_images"][component]
        seq.setdefault("images", {})[component] = image


def test_status_shows_both_components_healthy_with_version_and_digest(seq):
    result = seq["runner"].run("status.yml", {"status_fail_unhealthy": "true"})
    assert result.rc == 0, result.tail()
    assert f"Platform {PLATFORM} in {seq['namespace']}: 2 component(s), all healthy" in result.output
    for component in COMPONENTS:
        digest = seq["images"][component].partition("@sha256:")[2]
        short = digest[:12] if digest else ""
        line = next(
            (ln for ln in result.output.splitlines() if re.match(rf"^\s+{component}\s+{DEMO_VERSION}\s", ln)), ""
        )
        assert line, result.tail(30)
        assert re.search(rf"\s{short or '[0-9a-f]{12}'}\s+2/2 ready\s+healthy\s+HPA (\d|-) \(min 2, max 3\)", line), (
            line
        )
    assert re.search(rf"Last release: #1 deploy {DEMO_VERSION} .*: succeeded by ", result.output), result.tail(20)
    assert "No component is unhealthy." in result.output
    assert result.changed_tasks() == []


def test_status_fails_on_an_unhealthy_component_when_asked(seq, cluster):
    namespace = seq["namespace"]
    cluster.kubectl_run(
        "-n",
        namespace,
        "set",
        "image",
        "deployment/backend",
        f"backend={cluster.registry}/it-lifecycle/does-not-exist:0",
    )
    deadline_reached = True
    for _attempt in range(60):
        pods = cluster.kubectl_json("-n", namespace, "get", "pods", "-l", "app.kubernetes.io/name=backend")["items"]
        reasons = {
            (s.get("state", {}).get("waiting") or {}).get("reason")
            for p in pods
            for s in p.get("status", {}).get("containerStatuses") or []
        }
        if reasons & {"ErrImagePull", "ImagePullBackOff"}:
            deadline_reached = False
            break
        subprocess.run(["sleep", "2"], check=True)
    assert not deadline_reached, "the backend pod never failed to pull"
    report = seq["runner"].run("status.yml")
    assert report.rc == 0, report.tail()  # reporting alone never fails
    assert "UNHEALTHY: backend" in report.output, report.tail(30)
    strict = seq["runner"].run("status.yml", {"status_fail_unhealthy": True})
    assert strict.rc != 0
    assert re.search(
        r"Unhealthy in \S+: backend \(pod backend-\S+ container backend: (ErrImagePull|ImagePullBackOff)",
        " ".join(strict.output.split()),
    ), strict.tail(30)
    assert "frontend (" not in " ".join(strict.output.split())


def test_uninstall_without_confirmation_refuses_and_changes_nothing(seq, cluster):
    namespace = seq["namespace"]
    # Objects the platform did not create, one even carrying its part-of label: never touched.
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "not-ours",
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/part-of": PLATFORM},
                },
            },
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "foreign", "namespace": namespace}},
        ]
    )
    before = _snapshot(cluster, namespace)
    result = seq["runner"].run("uninstall.yml")
    assert result.rc != 0
    assert "uninstall_confirm=true" in result.output and "Nothing was deleted." in " ".join(result.output.split())
    assert _snapshot(cluster, namespace) == before
    check = seq["runner"].run("uninstall.yml", args=["--check"])
    assert check.rc == 0, check.tail()
    assert "Would delete (check mode, nothing deleted)" in " ".join(check.output.split())
    assert "Deployment/backend" in check.output and f"ConfigMap/{HISTORY_CM} kept" in check.output
    assert _snapshot(cluster, namespace) == before
    _no_secret_in(seq, result.output + check.output, "the uninstall output")


def test_uninstall_deletes_the_platform_but_keeps_the_history(seq, cluster):
    namespace = seq["namespace"]
    result = seq["runner"].run("uninstall.yml", {"uninstall_confirm": "true"})
    assert result.rc == 0, result.tail()
    _no_secret_in(seq, result.output, "the uninstall output")
    deleted = " ".join(result.output.split())
    for name in (
        "Deployment/backend",
        "Deployment/frontend",
        "Service/backend",
        "HorizontalPodAutoscaler/frontend",
        "NetworkPolicy/default-deny-all",
        f"Lease/{PLATFORM}-deploy-lock",
    ):
        assert name in deleted, result.tail(30)
    left = _snapshot(cluster, namespace)
    # The history stays with the objects its records name (kept for a rollback to those releases).
    recorded = sorted(name for name in left if name.startswith(f"ConfigMap/{HISTORY_CM}-objects-"))
    assert sorted(set(left) - set(recorded)) == sorted(
        [f"ConfigMap/{HISTORY_CM}", "ConfigMap/not-ours", "ConfigMap/foreign", "ConfigMap/kube-root-ca.crt"]
    ), sorted(left)
    history = cluster.kubectl_json("-n", namespace, "get", "configmap", HISTORY_CM)
    records = json.loads(history["data"]["releases.json"])
    assert records[-1]["version"] == DEMO_VERSION
    named = {f"ConfigMap/{r['objects']}" for r in records if r.get("objects")}
    assert recorded and set(recorded) <= named and f"ConfigMap/{records[-1]['objects']}" in recorded, (recorded, named)
    assert cluster.kubectl_run("get", "namespace", namespace, check=False).returncode == 0


def test_a_second_uninstall_changes_nothing(seq, cluster):
    before = _snapshot(cluster, seq["namespace"])
    result = seq["runner"].run("uninstall.yml", {"uninstall_confirm": "true"})
    assert result.rc == 0, result.tail()
    assert result.changed_tasks() == []
    assert "Deleted 0 object(s)" in " ".join(result.output.split())
    assert _snapshot(cluster, seq["namespace"]) == before
    status = seq["runner"].run("status.yml")
    assert status.rc == 0 and "no Deployment of the platform runs here" in status.output, status.tail()
