"""playbooks/deploy.yml and images, against the local cluster and registry: outside the local
environment nothing is built (image_build=true is refused), a tag that does not resolve stops the run
before its first write naming the component, and the Deployments name the registry's digest, not a tag.
"""

from __future__ import annotations

import copy
import json
import re
import uuid

import yaml

from image_helpers import REGISTRY, ROOT, http, manifest_digest, registry_tags
from support.runner import run_playbook

LOCAL = yaml.safe_load((ROOT / "inventories/local/group_vars/all/main.yml").read_text())


def _deploy(tmp_path, extra, timeout=900):
    variables = {
        "platform_backup_dir": str(tmp_path / "backups"),
        "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
        **extra,
    }
    vars_file = tmp_path / f"vars-{uuid.uuid4().hex[:6]}.json"
    vars_file.write_text(json.dumps(variables))
    proc = run_playbook(
        "playbooks/deploy.yml",
        inventory="inventories/local",
        extra_files=[vars_file],
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _nothing_written(cluster, namespace):
    for kind in ("deployments", "leases", "configmaps", "secrets"):
        names = cluster.kubectl_json("-n", namespace, "get", kind)["items"]
        names = [item["metadata"]["name"] for item in names if not item["metadata"]["name"].startswith("kube-root-ca")]
        assert names == [] or kind == "secrets" and all(n.startswith("default-token") for n in names), (kind, names)


def test_image_build_true_is_refused_outside_local(cluster, namespace, tmp_path):
    rc, output = _deploy(
        tmp_path,
        {
            "platform_namespace": namespace,
            "platform_environment": "staging",
            "platform_version": "1.0.0",
            "image_build": "true",
        },
    )
    assert rc != 0
    assert "image_build=true is refused in staging" in output, output[-3000:]
    assert "Build each image" not in output
    _nothing_written(cluster, namespace)


def test_a_tag_that_does_not_resolve_stops_the_run_before_the_first_write(cluster, namespace, tmp_path):
    version = f"9.9.9-missing-{uuid.uuid4().hex[:6]}"
    rc, output = _deploy(
        tmp_path,
        {
            "platform_namespace": namespace,
            "platform_version": version,
            "image_build": "false",
        },
    )
    assert rc != 0
    prefix = LOCAL["app_image_registry"]
    assert f"component backend: {prefix}/backend:{version}" in output, output[-3000:]
    assert f"component frontend: {prefix}/frontend:{version}" in output
    assert "Acquire the deploy lock" not in output
    _nothing_written(cluster, namespace)


def _backend_only(namespace):
    """The local overrides for a lone backend in its own namespace (no NodePort, own Ingress host)."""
    overrides = copy.deepcopy(LOCAL.get("app_component_overrides") or {})
    backend = overrides.setdefault("backend", {})
    backend["service"] = {"type": "ClusterIP"}
    backend["replicas"] = 1
    backend.setdefault("autoscaling", {})["min_replicas"] = 1
    backend["ingress"] = {"hosts": [f"{namespace}.localhost"]}
    return overrides


def test_the_deployment_names_the_registry_digest(cluster, namespace, tmp_path, backend_image):
    rc, output = _deploy(
        tmp_path,
        {
            "platform_namespace": namespace,
            "platform_version": "1.0.0",
            "platform_components": "backend",
            "image_build": "false",
            "app_component_overrides": _backend_only(namespace),
            # What CI pushed, by tag: the run pins it to its digest.
            "platform_images": {"backend": backend_image},
        },
    )
    assert rc == 0, output[-6000:]
    repository, tag = backend_image.rsplit(":", 1)
    digest = manifest_digest(repository.split("/", 1)[1], tag)
    deployment = cluster.kubectl_json("-n", namespace, "get", "deployment", "backend")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{repository}@{digest}"
    assert REGISTRY in image and "Build each image" not in output


def test_the_local_environment_still_builds_and_deploys_the_built_digest(cluster, namespace, tmp_path):
    image_namespace = f"it-deploy-{uuid.uuid4().hex[:6]}"
    version = "1.0.0"
    rc, output = _deploy(
        tmp_path,
        {
            "platform_namespace": namespace,
            "platform_version": version,
            "platform_components": "backend",
            "image_namespace": image_namespace,
            "app_component_overrides": _backend_only(namespace),
        },
    )
    try:
        _check_local_build(cluster, namespace, image_namespace, version, rc, output)
    finally:  # best effort: the run's manifests out of the shared registry
        for tag in registry_tags(f"{image_namespace}/backend"):
            digest = manifest_digest(f"{image_namespace}/backend", tag)
            if digest:
                http(
                    f"http://{REGISTRY}/v2/{image_namespace}/backend/manifests/{digest}",
                    "DELETE",
                )


def _check_local_build(cluster, namespace, image_namespace, version, rc, output):
    assert rc == 0, output[-6000:]
    assert "Build each image and push its version tag" in output
    # Built here, so nothing is pinned from the registry in the preflight.
    assert re.search(r"Pin each component's image to its registry digest\] \*+\nskipping", output), output[-6000:]
    digest = manifest_digest(f"{image_namespace}/backend", version)
    deployment = cluster.kubectl_json("-n", namespace, "get", "deployment", "backend")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{REGISTRY}/{image_namespace}/backend@{digest}"
