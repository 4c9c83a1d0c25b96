"""`deploy.yml --check --diff` previews a release against the real local cluster and writes nothing.

Two previews, with the local inventory and images the registry already has (the demo's 1.0.0 and 2.0.0, pinned
by digest: image_build false), ClusterIP Services (the demo owns the local NodePorts):
  a first deploy (the namespace does not exist; admin credentials, namespace_create true): it lists what a real
  run would create, and no namespace appears                           -> test_preview_of_a_first_deploy_*
  a new version (2.0.0 over a deployed 1.0.0, as the namespace-scoped deployer, while another run holds the
  deploy lock): the diff shows the Deployment images, the summary says PREVIEW, every object keeps its
  resourceVersion, no history record, no backup                      -> test_preview_of_a_new_version_*
The real deploy of 1.0.0 runs in the background while the first preview runs (CI time: about 3 minutes in all).
"""

from __future__ import annotations

import datetime
import json
import re
import time
import urllib.request
import uuid

import pytest

from pipeline_helpers import Runner, local_inventory_vars, record_figure

pytestmark = pytest.mark.timeout(900)

PLATFORM = "intelligent-agent"
LOCK = f"{PLATFORM}-deploy-lock"
HISTORY_CM = f"{PLATFORM}-release-history"
COMPONENTS = ("backend", "frontend")
REPOSITORY = "intelligent-agent"
# Every namespaced kind the platform writes (the deployer may list them all).
KINDS = (
    "deployments,services,horizontalpodautoscalers,poddisruptionbudgets,ingresses,configmaps,secrets,"
    "networkpolicies,leases,serviceaccounts"
)


def _digest(registry: str, component: str, tag: str) -> str | None:
    request = urllib.request.Request(
        f"http://{registry}/v2/{REPOSITORY}/{component}/manifests/{tag}",
        method="HEAD",
        headers={
            "Accept": ", ".join(
                [
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.oci.image.index.v1+json",
                ]
            )
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local registry
            return response.headers.get("Docker-Content-Digest")
    except OSError:
        return None


def _overrides() -> dict:
    """The local inventory's components with ClusterIP Services and one replica each (a faster rollout)."""
    overrides = json.loads(json.dumps(local_inventory_vars().get("app_component_overrides") or {}))
    for component in overrides.values():
        component["service"] = {"type": "ClusterIP"}
        component["replicas"] = 1
        component.setdefault("autoscaling", {})["min_replicas"] = 1
    return overrides


def _images(registry: str, version: str) -> dict:
    return {c: f"{registry}/{REPOSITORY}/{c}:{version}" for c in COMPONENTS}


def _base_vars(registry: str, namespace: str, backups) -> dict:
    return {
        "platform_namespace": namespace,
        "platform_version": "1.0.0",
        "platform_backup_dir": str(backups),
        "image_build": "false",
        "platform_images": _images(registry, "1.0.0"),
        "app_cluster_issuers_enabled": False,
        "app_optional_apis": {"vpa": False, "cert_manager": False, "custom_metrics": "auto"},
        "app_component_overrides": _overrides(),
    }


@pytest.fixture(scope="module")
def seq(cluster, tmp_path_factory, demo_images):
    """Namespace `deployed` (admin-created, deployer bound) gets 1.0.0 by a real deploy started in the background;
    namespace `absent` is never created."""
    digests = {(c, v): _digest(cluster.registry, c, v) for c in COMPONENTS for v in ("1.0.0", "2.0.0")}
    missing = [f"{REPOSITORY}/{c}:{v}" for (c, v), d in digests.items() if not d]
    if missing:
        pytest.fail(f"the local registry lacks {missing}", pytrace=False)
    suffix = uuid.uuid4().hex[:6]
    deployed, absent = f"it-check-diff-{suffix}", f"it-check-first-{suffix}"
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": deployed, "labels": {"local-cluster/test": "true"}},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "platform-deployer", "namespace": deployed},
                "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "platform-system"}],
                "roleRef": {
                    "kind": "ClusterRole",
                    "name": "platform-deployer",
                    "apiGroup": "rbac.authorization.k8s.io",
                },
            },
        ]
    )
    workdir = tmp_path_factory.mktemp("check-diff")
    deployer = Runner(
        workdir / "deployer",
        {
            **_base_vars(cluster.registry, deployed, workdir / "backups"),
            # The deployer's namespace-scoped credentials; the namespace, quota, limits and RBAC are the admin's.
            "platform_kubeconfig": str(cluster.deployer_kubeconfig),
            "namespace_create": False,
            "namespace_resource_quota_enabled": False,
            "namespace_limit_range_enabled": False,
            "namespace_deployer_enabled": False,
        },
    )
    # The admin of the local inventory (its platform_kubeconfig), who may create the namespace.
    admin = Runner(workdir / "admin", _base_vars(cluster.registry, absent, workdir / "backups-first"))
    for runner in (deployer, admin):
        runner.workdir.mkdir()
    started = time.monotonic()
    state = {
        "deployer": deployer,
        "admin": admin,
        "deployed": deployed,
        "absent": absent,
        "workdir": workdir,
        "digests": digests,
        "deploy": deployer.start("deploy.yml"),
        "t0": started,
    }
    yield state
    if state.get("deploy"):
        state["deploy"][0].kill()
    for name in (deployed, absent):
        cluster.kubectl_run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
    print(f"\ncheck-diff module: {time.monotonic() - started:.0f} s in all")


def _text(output: str) -> str:
    return " ".join(output.split())


def _versions(cluster, namespace: str) -> dict:
    """kind/name -> resourceVersion of everything the platform writes in the namespace. An HPA's status (current
    metrics) is rewritten by its controller every few seconds: for HPAs the generation and the spec stand in."""
    items = cluster.kubectl_json("-n", namespace, "get", KINDS)["items"]
    return {
        f"{i['kind']}/{i['metadata']['name']}": (
            (i["metadata"].get("generation"), json.dumps(i.get("spec"), sort_keys=True))
            if i["kind"] == "HorizontalPodAutoscaler"
            else i["metadata"]["resourceVersion"]
        )
        for i in items
    }


def test_preview_of_a_first_deploy_creates_nothing(seq, cluster):
    absent = seq["absent"]
    result = seq["admin"].run("deploy.yml", args=["--check", "--diff"])
    record_figure("deploy.yml --check --diff of a first deploy", f"{result.seconds:.1f} s")
    assert result.rc == 0, result.tail(80)
    text = _text(result.output)
    assert f"to {absent} [local]" in text and "PREVIEW (check mode): nothing was changed" in text, result.tail(40)
    assert "SUCCEEDED" not in result.output
    for component in COMPONENTS:
        digest = seq["digests"][(component, "1.0.0")]
        assert re.search(rf"{component}: - \(revision -\) -> 1\.0\.0: would be created, image \S+@{digest}", text), (
            result.tail(40)
        )
        # The diff shows every object a real run would create (none can be dry-run in a namespace that does not
        # exist yet), the Deployments with their pinned image.
        assert f"after: Deployment/{component} in {absent} (applied)" in result.output, result.tail(120)
        assert re.search(
            rf"^\+\s+(?:-\s+)?image: {re.escape(cluster.registry)}/{REPOSITORY}/{component}@{digest}$",
            result.output,
            re.M,
        ), result.tail(120)
    # Nothing written: no namespace (so no object, lock or history in it) and no backup on the controller.
    assert cluster.kubectl_run("get", "namespace", absent, check=False).returncode != 0
    assert not (seq["workdir"] / "backups-first").exists()
    assert "Backed up" not in result.output


def test_preview_of_a_new_version_shows_the_diff_and_writes_nothing(seq, cluster):
    deployed = seq["deployed"]
    deploy = Runner.finish(seq.pop("deploy"), timeout=600)
    record_figure("deploy.yml of 1.0.0 (in the background)", f"{deploy.seconds:.1f} s")
    assert deploy.rc == 0, deploy.tail(80)
    backups_before = sorted(p.name for p in (seq["workdir"] / "backups" / deployed).iterdir())
    assert len(backups_before) == 1

    # Another run holds the deploy lock: a preview needs no lock, so it neither waits for nor touches it.
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LOCK, "namespace": deployed},
        "spec": {
            "holderIdentity": "another-run@ci/1",
            "leaseDurationSeconds": 600,
            "acquireTime": now,
            "renewTime": now,
        },
    }
    cluster.kubectl_run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager",
        "integration-tests",
        "-f",
        "-",
        input=json.dumps(lease),
    )
    before = _versions(cluster, deployed)
    assert f"Lease/{LOCK}" in before and f"ConfigMap/{HISTORY_CM}" in before, sorted(before)

    result = seq["deployer"].run(
        "deploy.yml",
        {"platform_version": "2.0.0", "platform_images": _images(cluster.registry, "2.0.0")},
        args=["--check", "--diff"],
    )
    record_figure("deploy.yml --check --diff of a new version", f"{result.seconds:.1f} s")
    assert result.rc == 0, result.tail(80)
    text = _text(result.output)
    assert "Release 2.0.0 (commit" in text and "PREVIEW (check mode): nothing was changed" in text, result.tail(40)
    assert "SUCCEEDED" not in result.output
    for component in COMPONENTS:
        old, new = seq["digests"][(component, "1.0.0")], seq["digests"][(component, "2.0.0")]
        # The diff of the Deployment: its image (by digest) and its version label.
        assert re.search(rf"^-\s+(?:-\s+)?image: \S+/{component}@{old}$", result.output, re.M), result.tail(120)
        assert re.search(rf"^\+\s+(?:-\s+)?image: \S+/{component}@{new}$", result.output, re.M), result.tail(120)
        assert re.search(
            rf"{component}: 1\.0\.0 \(revision 1\) -> 2\.0\.0: would be rolled out, "
            rf"image \S+@{old} -> \S+@{new}",
            text,
        ), result.tail(40)
    # The server bookkeeping stays out of the diff.
    assert "managedFields" not in result.output
    assert re.search(r"^[-+]\s+app\.kubernetes\.io/version: [12]\.0\.0$", result.output, re.M)

    # Nothing written: every object as before (the lock of the other run included), one history record, one backup.
    assert _versions(cluster, deployed) == before
    lease = cluster.kubectl_json("-n", deployed, "get", "lease", LOCK)
    assert lease["spec"]["holderIdentity"] == "another-run@ci/1"
    history = cluster.kubectl_json("-n", deployed, "get", "configmap", HISTORY_CM)
    assert [r["version"] for r in json.loads(history["data"]["releases.json"])] == ["1.0.0"]
    assert sorted(p.name for p in (seq["workdir"] / "backups" / deployed).iterdir()) == backups_before
    for component in COMPONENTS:
        live = cluster.kubectl_json("-n", deployed, "get", "deployment", component)
        assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(seq["digests"][(component, "1.0.0")])
    record_figure("check-diff module so far", f"{time.monotonic() - seq['t0']:.1f} s")
