"""What a release leaves behind and what a failed one puts back (issue #15).

* Six failed config-and-secret-changing deploys in a row leave the serving release's ConfigMap and Secret in place
  (a failed release prunes nothing), and its pods restart. The next verified release prunes only the versions that
  no ReplicaSet uses any more and that are beyond the kept ones.
* A component removed from app_components loses its Deployment, Service and HPA on the next verified deploy, and
  a run restricted to some components prunes nothing.
* A failed release that changed a Service port, an HPA and a PDB is rolled back with all three as they were.

The components run on the simulated (kwok) nodes with an image the registry has: no build. A release is made to
fail by an unschedulable backend and a short rollout timeout; the rollback restores the previous ReplicaSet.
"""

from __future__ import annotations

import copy
import os
import uuid

import pytest
import yaml

from pipeline_helpers import ROOT, Runner, record_figure, vault_vars
from test_refusals import kwok_overrides

HISTORY_LIMIT = 2  # app_revision_history_limit: old ReplicaSets (and so their config) go after two releases


@pytest.fixture(scope="module")
def prune_env(cluster, tmp_path_factory):
    namespace = f"it-prune-{uuid.uuid4().hex[:6]}"
    workdir = tmp_path_factory.mktemp("prune")
    base_vars = {
        "platform_namespace": namespace,
        "image_build": "no",
        "app_component_overrides": kwok_overrides(cluster),
        "app_revision_history_limit": HISTORY_LIMIT,
        "config_keep_versions": 1,
        "secrets_keep_versions": 1,
        "platform_health_checks": [],
        "platform_backup_dir": str(workdir / "backups"),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "ANSIBLE_VAULT_IDENTITY_LIST",
            os.environ.get("ANSIBLE_VAULT_IDENTITY_LIST", f"local@{ROOT}/inventories/local/vault-password.txt"),
        )
        yield {
            "runner": Runner(workdir, base_vars),
            "namespace": namespace,
            "cluster": cluster,
            "overrides": base_vars["app_component_overrides"],
            "secrets": vault_vars()["secrets_values"],
        }
    cluster.kubectl_run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def kubectl_json(env, *args):
    return env["cluster"].kubectl_json("-n", env["namespace"], *args)


def serving_refs(env, name="backend") -> tuple[str, str]:
    """The ConfigMap and Secret the Deployment's pod template imports (envFrom)."""
    refs = kubectl_json(env, "get", "deployment", name)["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    config = next(r["configMapRef"]["name"] for r in refs if "configMapRef" in r)
    secret = next(r["secretRef"]["name"] for r in refs if "secretRef" in r)
    return config, secret


def names(env, kind, selector) -> set[str]:
    return {item["metadata"]["name"] for item in kubectl_json(env, "get", kind, "-l", selector)["items"]}


def replicaset_refs(env) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap/Secret a ReplicaSet of the namespace imports."""
    found = set()
    for rs in kubectl_json(env, "get", "replicasets")["items"]:
        for container in rs["spec"]["template"]["spec"]["containers"]:
            for ref in container.get("envFrom") or []:
                if "configMapRef" in ref:
                    found.add(("configmap", ref["configMapRef"]["name"]))
                if "secretRef" in ref:
                    found.add(("secret", ref["secretRef"]["name"]))
    return found


def deploy(env, version, extra=None):
    return env["runner"].run("deploy.yml", {"platform_version": version, **(extra or {})})


def changed_release(env, number: int) -> dict:
    """A release with its own config and Secret version whose backend cannot be scheduled (it fails fast)."""
    overrides = copy.deepcopy(env["overrides"])
    overrides["backend"]["node_selector"] = {"kubernetes.io/hostname": "no-such-node"}
    secrets = dict(env["secrets"], JWT_SECRET=f"failed-release-{number}-" + "x" * 40)
    return {
        "config_overrides": {"LOG_LEVEL": f"debug-{number}"},
        "secrets_values": secrets,
        "app_component_overrides": overrides,
        "release_wait_timeout": 8,
    }


def test_failed_config_changes_keep_the_serving_config_and_a_verified_release_prunes_the_unused(prune_env):
    env = prune_env
    first = deploy(env, "1.0.0")
    assert first.rc == 0, first.tail()
    serving_config, serving_secret = serving_refs(env)

    for number in range(1, 7):
        failed = deploy(env, f"1.0.{number}", changed_release(env, number))
        assert failed.rc != 0 and "ROLLED-BACK" in failed.output, failed.tail()
        record_figure(f"prune: failed config-changing deploy {number}/6 (whole run)", f"{failed.seconds:.1f} s")
        assert serving_refs(env) == (serving_config, serving_secret)

    configs = names(env, "configmaps", "app.kubernetes.io/name=config")
    secrets = names(env, "secrets", "app.kubernetes.io/name=secrets")
    assert serving_config in configs and serving_secret in secrets
    assert len(configs) == 7 and len(secrets) == 7, (configs, secrets)  # a failed release deletes nothing
    # The serving pods restart (their ConfigMap and Secret are there to import).
    env["cluster"].kubectl_run("-n", env["namespace"], "rollout", "restart", "deployment/backend")
    env["cluster"].kubectl_run("-n", env["namespace"], "rollout", "status", "deployment/backend", "--timeout=120s")

    # A verified release with a new config: the versions no ReplicaSet uses, beyond the newest kept one, go.
    good = deploy(env, "1.1.0", {"config_overrides": {"LOG_LEVEL": "info"}})
    assert good.rc == 0, good.tail()
    assert "Pruned ConfigMap/" in good.output, good.tail()
    new_config, _secret = serving_refs(env)
    configs_after = names(env, "configmaps", "app.kubernetes.io/name=config")
    secrets_after = names(env, "secrets", "app.kubernetes.io/name=secrets")
    live = {("configmap", n) for n in configs_after} | {("secret", n) for n in secrets_after}
    # Every version a ReplicaSet (a rollback target) imports is still there, the serving one of before included.
    assert replicaset_refs(env) <= live, replicaset_refs(env) - live
    assert serving_config in configs_after and new_config in configs_after
    assert len(configs | {new_config}) - len(configs_after) >= 1, (configs, configs_after)  # something went
    assert serving_secret in secrets_after
    record_figure(
        "prune: ConfigMap versions before/after the verified release", f"{len(configs) + 1} / {len(configs_after)}"
    )

    # A second identical deploy changes nothing and prunes nothing.
    again = deploy(env, "1.1.0", {"config_overrides": {"LOG_LEVEL": "info"}})
    assert again.rc == 0 and "Pruned" not in again.output, again.tail()


def app_components_with_worker() -> list[dict]:
    """The role's components plus "worker", a copy of the backend without Ingress (Deployment, Service, HPA, PDB)."""
    components = yaml.safe_load((ROOT / "roles/app/defaults/main.yml").read_text())["app_components"]
    worker = copy.deepcopy(next(c for c in components if c["name"] == "backend"))
    worker["name"] = "worker"
    for key in ("ingress", "vpa", "metrics"):
        worker.pop(key, None)
    return components + [worker]


def test_a_removed_component_is_pruned_on_the_next_verified_deploy(prune_env, cluster):
    env = prune_env
    overrides = copy.deepcopy(env["overrides"])
    overrides["worker"] = copy.deepcopy(overrides["backend"])
    with_worker = {"app_components": app_components_with_worker(), "app_component_overrides": overrides}
    first = deploy(env, "2.0.0", with_worker)
    assert first.rc == 0, first.tail()
    worker_objects = {(k, n) for k, n in _objects(env) if n == "worker"}
    assert ("deployment", "worker") in worker_objects and ("service", "worker") in worker_objects, worker_objects

    # Restricted to some components, a run does not know what is unwanted: nothing is pruned.
    partial = deploy(env, "2.0.1", {"platform_components": "backend"})
    assert partial.rc == 0, partial.tail()
    assert {(k, n) for k, n in _objects(env) if n == "worker"} == worker_objects

    removed = deploy(env, "2.0.2")
    assert removed.rc == 0, removed.tail()
    assert "Deployment/worker" in removed.output, removed.tail()
    assert not {(k, n) for k, n in _objects(env) if n == "worker"}
    assert {("deployment", "backend"), ("deployment", "frontend")} <= set(_objects(env))


def _objects(env) -> list[tuple[str, str]]:
    kinds = "deployments,services,horizontalpodautoscalers,poddisruptionbudgets,ingresses"
    return [(item["kind"].lower(), item["metadata"]["name"]) for item in kubectl_json(env, "get", kinds)["items"]]


def test_a_failed_release_puts_back_the_service_hpa_and_pdb_it_changed(prune_env):
    env = prune_env
    before = {
        kind: kubectl_json(env, "get", kind, "backend")["spec"]
        for kind in ("service", "horizontalpodautoscaler", "poddisruptionbudget")
    }
    broken = changed_release(env, 99)
    backend = broken["app_component_overrides"]["backend"]
    backend.setdefault("service", {}).update(port=5099)
    backend.setdefault("autoscaling", {}).update(max_replicas=before["horizontalpodautoscaler"]["maxReplicas"] + 1)
    backend.setdefault("pdb", {}).update(min_available=2)
    failed = deploy(env, "3.0.0-broken", broken)
    assert failed.rc != 0 and "ROLLED-BACK" in failed.output, failed.tail()
    assert "put back Service/backend" in failed.output, failed.tail()
    after = {kind: kubectl_json(env, "get", kind, "backend")["spec"] for kind in before}
    assert [p["port"] for p in after["service"]["ports"]] == [p["port"] for p in before["service"]["ports"]]
    assert after["horizontalpodautoscaler"]["maxReplicas"] == before["horizontalpodautoscaler"]["maxReplicas"]
    assert after["poddisruptionbudget"]["minAvailable"] == before["poddisruptionbudget"]["minAvailable"]
    record_figure("restore: failed release with Service/HPA/PDB changes, whole run", f"{failed.seconds:.1f} s")


def test_rollback_to_a_release_puts_back_its_service_port_and_the_hpa_a_later_release_removed(prune_env):
    env = prune_env
    service_ports = [p["port"] for p in kubectl_json(env, "get", "service", "backend")["spec"]["ports"]]
    hpa_spec = kubectl_json(env, "get", "horizontalpodautoscaler", "backend")["spec"]
    overrides = copy.deepcopy(env["overrides"])
    overrides["backend"].setdefault("service", {}).update(port=5099)
    overrides["backend"].setdefault("autoscaling", {}).update(enabled=False)
    changed = deploy(env, "4.0.0", {"app_component_overrides": overrides})
    assert changed.rc == 0, changed.tail()
    # Verified: the HPA it no longer renders is pruned, the Service has the new port.
    assert "HorizontalPodAutoscaler/backend" in changed.output, changed.tail()
    assert ("horizontalpodautoscaler", "backend") not in _objects(env)
    assert [p["port"] for p in kubectl_json(env, "get", "service", "backend")["spec"]["ports"]] == [5099]

    rolled = env["runner"].run("rollback.yml", {})
    assert rolled.rc == 0, rolled.tail()
    assert "Putting back" in rolled.output, rolled.tail()
    assert [p["port"] for p in kubectl_json(env, "get", "service", "backend")["spec"]["ports"]] == service_ports
    restored = kubectl_json(env, "get", "horizontalpodautoscaler", "backend")["spec"]
    assert (restored["minReplicas"], restored["maxReplicas"]) == (hpa_spec["minReplicas"], hpa_spec["maxReplicas"])
    record_figure("restore: rollback.yml putting back a Service port and a pruned HPA", f"{rolled.seconds:.1f} s")


def test_the_objects_of_records_the_history_trimmed_are_pruned(prune_env):
    env = prune_env
    selector = "app.kubernetes.io/component=release-objects"
    kept_before = names(env, "configmap", selector)
    assert len(kept_before) >= 2, kept_before  # the releases above recorded different Services and HPAs
    trimmed = deploy(env, "5.0.0", {"release_history_max": 1})
    assert trimmed.rc == 0, trimmed.tail()
    history = kubectl_json(env, "get", "configmap", "-l", "app.kubernetes.io/component=release-history")["items"]
    records = yaml.safe_load(history[0]["data"]["releases.json"])
    assert [r["version"] for r in records] == ["5.0.0"], records
    # Only the objects the one kept record names are left; the others went with their records.
    assert names(env, "configmap", selector) == {records[0]["objects"]}, kept_before


def test_the_app_step_alone_keeps_the_config_and_secret_the_pods_import(prune_env):
    """`--tags app` runs the secrets and config steps too: the pods reference their content-hashed names, and a
    Deployment rendered without them would start pods without their configuration."""
    env = prune_env
    deployed = deploy(env, "4.0.0")
    assert deployed.rc == 0, deployed.tail()
    refs = serving_refs(env)
    generation = kubectl_json(env, "get", "deployment", "backend")["metadata"]["generation"]
    app_only = env["runner"].run("deploy.yml", {"platform_version": "4.0.0"}, args=["--tags", "app"])
    # Without its wait and verify steps the run is applied, not verified: it says so and fails.
    assert "APPLIED" in app_only.output, app_only.tail()
    assert serving_refs(env) == refs
    assert kubectl_json(env, "get", "deployment", "backend")["metadata"]["generation"] == generation
