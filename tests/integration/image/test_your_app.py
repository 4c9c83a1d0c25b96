"""docs/your-app.md end to end: the minimal inventory of another app (examples/your-app/inventory: one `web`
component on port 8080, no secrets, no Ingress or load balancer) deployed from the installed collection tarball to
the local cluster, from a working directory outside the repository (no git, no ansible.cfg of the repository):
  ansible-playbook intelligent_agent.platform.bootstrap as the admin, then
  ansible-playbook intelligent_agent.platform.deploy as the namespace's deployer ServiceAccount, the image by
  digest (the demo frontend 1.0.0 of the local registry: nginx on 8080 answering /health), and it is deployed,
  verified by the inventory's own health check through its NodePort, and backed up under the default backup
  folder (~/.local/share/intelligent-agent-platform/backups of the user running it).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
import urllib.request
import uuid

import pytest
import yaml

from image_helpers import REGISTRY, ROOT, manifest_digest
from test_workflow_deploy import BIN

pytestmark = pytest.mark.timeout(1200)

EXAMPLE = ROOT / "examples" / "your-app" / "inventory"
DEPLOYER = "web-deployer"
IMAGE_REPOSITORY, IMAGE_TAG = "intelligent-agent/frontend", "1.0.0"


def _free_node_port(cluster) -> int:
    used = {
        p.get("nodePort")
        for s in cluster.kubectl_json("get", "services", "-A")["items"]
        for p in s["spec"].get("ports") or []
    }
    return random.choice([p for p in range(31900, 32000) if p not in used])  # noqa: S311 - not a secret


def _run(work, home, collections, *args, timeout=900):
    """ansible-playbook as a user of the installed collection runs it: in its own folder, no repository config."""
    env = {
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
    }
    assert "ANSIBLE_CONFIG" not in env and not (work / "ansible.cfg").exists()
    started = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.monotonic() - started
    print(f"\nansible-playbook {args[0]}: rc {proc.returncode} in {seconds:.1f} s")
    return proc.returncode, proc.stdout + proc.stderr


def test_the_minimal_inventory_deploys_from_the_installed_collection(
    cluster, tmp_path, installed_collection, sa_kubeconfig, demo_images
):
    t0 = time.monotonic()
    collections = installed_collection.parent / "collections"
    assert (collections / "ansible_collections" / "intelligent_agent" / "platform" / "galaxy.yml").exists() or (
        collections / "ansible_collections" / "intelligent_agent" / "platform" / "MANIFEST.json"
    ).exists()
    digest = manifest_digest(IMAGE_REPOSITORY, IMAGE_TAG)
    if not digest:
        pytest.fail(f"{REGISTRY}/{IMAGE_REPOSITORY}:{IMAGE_TAG} is not in the local registry", pytrace=False)
    image = f"{REGISTRY}/{IMAGE_REPOSITORY}@{digest}"

    # The user's folder: a copy of the example inventory, outside the repository and not a git checkout.
    work, home = tmp_path / "my-web", tmp_path / "home"
    home.mkdir()
    shutil.copytree(EXAMPLE, work / "inventory")
    assert not str(work).startswith(str(ROOT)) and not (work / ".git").exists()
    namespace, node_port = f"it-your-app-{uuid.uuid4().hex[:6]}", _free_node_port(cluster)
    main = work / "inventory" / "group_vars" / "all" / "main.yml"
    data = yaml.safe_load(main.read_text())
    data.update({"platform_namespace": namespace, "web_node_port": node_port})
    main.write_text(yaml.safe_dump(data, sort_keys=False))
    # The demo frontend image proxies /api/ to BACKEND_URL, resolved when nginx starts: an address, not a name.
    (work / "inventory" / "group_vars" / "all" / "test.yml").write_text(
        yaml.safe_dump({"app_component_overrides": {"web": {"env": {"BACKEND_URL": "http://127.0.0.1:9"}}}})
    )
    policy = f"{namespace}-{DEPLOYER}-no-token-secrets"
    try:
        rc, output = _run(
            work,
            home,
            collections,
            "intelligent_agent.platform.bootstrap",
            "-i",
            "inventory",
            "-e",
            f"platform_kubeconfig={cluster.kubeconfig}",
        )
        assert rc == 0, output[-6000:]
        deployer = sa_kubeconfig(namespace, DEPLOYER)

        rc, output = _run(
            work,
            home,
            collections,
            "intelligent_agent.platform.deploy",
            "-i",
            "inventory",
            "-e",
            "platform_version=1.0.0",
            "-e",
            f"platform_kubeconfig={deployer}",
            "-e",
            json.dumps({"platform_images": {"web": image}}),
        )
        assert rc == 0, output[-8000:]
        text = " ".join(output.split())
        assert f"Release 1.0.0 (commit unknown) to {namespace} [staging]" in text and "SUCCEEDED" in text, output[
            -3000:
        ]
        assert "not a git repository" not in output and "Build each image" not in output
        # Verified by the inventory's own health check (not only by the rollout).
        assert "No health checks configured" not in output
        assert "TASK [intelligent_agent.platform.release : Check the health of the release]" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{node_port}/health", timeout=10) as response:  # noqa: S310
            assert response.status == 200

        deployment = cluster.kubectl_json("-n", namespace, "get", "deployment", "web")
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
        assert deployment["status"].get("readyReplicas") == 2
        names = {
            (i["kind"], i["metadata"]["name"])
            for i in cluster.kubectl_json(
                "-n", namespace, "get", "deployments,services,ingresses,horizontalpodautoscalers"
            )["items"]
        }
        assert names == {("Deployment", "web"), ("Service", "web")}, sorted(names)
        history = cluster.kubectl_json("-n", namespace, "get", "configmap", "web-release-history")
        record = json.loads(history["data"]["releases.json"])[-1]
        assert (record["version"], record["result"], record["commit"]) == ("1.0.0", "succeeded", "unknown")

        # Backups in the default folder of the user running it, not in the installed collection.
        backups = home / ".local" / "share" / "intelligent-agent-platform" / "backups" / namespace
        runs = list(backups.iterdir())
        assert len(runs) == 1 and (runs[0] / "manifests.yml").exists(), runs
        assert not list(collections.rglob("backups"))
    finally:
        cluster.kubectl_run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)
        for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
            cluster.kubectl_run("delete", kind, policy, "--ignore-not-found", check=False)
        print(f"\nyour-app test: {time.monotonic() - t0:.0f} s (tarball build and install included)")


def test_the_example_inventory_has_no_demo_values():
    text = "".join(p.read_text() for p in sorted(EXAMPLE.rglob("*.yml")))
    for demo in ("intelligent-agent", "frontend", "backend", "127.0.0.1:5000"):
        assert demo not in text, demo
    assert not list(EXAMPLE.rglob("vault*")), "the example needs no vault"
    assert os.path.isfile(EXAMPLE / "hosts.yml")
