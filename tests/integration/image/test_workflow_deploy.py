"""The deploy step of the application's workflow templates (examples/app-repo/.github/workflows/build-deploy.yml
-> .github/actions/platform-deploy/deploy.sh), run the way a workflow job runs it, against the local cluster:
the collection installed from its tarball, a working directory that is no git checkout, the deployer's
least-privilege kubeconfig, the image of the build job by digest in platform_images and image_build=false.
It deploys without building anything and the Deployment runs that digest.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import yaml

from image_helpers import REGISTRY, ROOT, manifest_digest

BIN = ROOT / ".venv" / "bin"
ACTION = ROOT / "examples" / "app-repo" / ".github" / "actions" / "platform-deploy"
LOCAL = ROOT / "inventories" / "local"


def app_repository(tmp_path, namespace):
    """An application repository with deploy/inventories/local: the local inventory, a lone backend in namespace."""
    repo = tmp_path / "app-repo"
    inventory = repo / "deploy" / "inventories" / "local"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    shutil.copy(LOCAL / "hosts.yml", inventory / "hosts.yml")
    for name in ("main.yml", "vault.yml"):
        shutil.copy(LOCAL / "group_vars" / "all" / name, inventory / "group_vars" / "all" / name)
    local = yaml.safe_load((LOCAL / "group_vars" / "all" / "main.yml").read_text())
    overrides = copy.deepcopy(local.get("app_component_overrides") or {})
    backend = overrides.setdefault("backend", {})
    backend.update({"service": {"type": "ClusterIP"}, "replicas": 1, "ingress": {"hosts": [f"{namespace}.localhost"]}})
    backend.setdefault("autoscaling", {})["min_replicas"] = 1
    (inventory / "group_vars" / "all" / "test.yml").write_text(
        yaml.safe_dump(
            {
                "platform_namespace": namespace,
                "platform_components": "backend",
                "app_component_overrides": overrides,
            }
        )
    )
    return repo, inventory


def run_deploy_step(repo, config, environment):
    env = {
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(repo.parent),
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_NOCOLOR": "1",
        **environment,
    }
    proc = subprocess.run(
        [str(ACTION / "deploy.sh")], cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_the_workflow_deploy_step_deploys_the_build_jobs_digest_without_building(
    cluster, namespace, tmp_path, installed_collection, backend_image
):
    repository, tag = backend_image.rsplit(":", 1)
    digest = manifest_digest(repository.split("/", 1)[1], tag)
    assert digest, f"{backend_image} is not in the registry"
    reference = f"{repository}@{digest}"
    repo, inventory = app_repository(tmp_path, namespace)
    backups = tmp_path / "backups"
    rc, output = run_deploy_step(
        repo,
        installed_collection,
        {
            "PLATFORM_ENVIRONMENT": "local",
            "PLATFORM_INVENTORY": str(inventory.relative_to(repo)),
            "PLATFORM_VERSION": "sha-0123abc",
            "PLATFORM_IMAGES": json.dumps({"backend": reference}),
            "PLATFORM_KUBECONFIG": str(cluster.deployer_kubeconfig),
            "PLATFORM_COMMIT": "0123abc0123abc0123abc0123abc0123abc0123",
            "PLATFORM_VAULT_PASSWORD_FILE": str(LOCAL / "vault-password.txt"),
            "PLATFORM_WAIT_TIMEOUT": "300",
            "PLATFORM_BACKUP_DIR": str(backups),
        },
    )
    assert rc == 0, output[-6000:]
    # The command line the workflow runs, printed by deploy.sh before it runs it.
    command = output.splitlines()[0]
    assert command.startswith("ansible-playbook intelligent_agent.platform.deploy ")
    for argument in ("-e image_build=false", "-e deploy_confirm=true", "platform_images", "release_wait_timeout=300"):
        assert argument in command, argument
    assert "Build each image" not in output
    assert "not a git repository" not in output
    deployment = cluster.kubectl_json("-n", namespace, "get", "deployment", "backend")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == reference
    assert REGISTRY in reference
    # Backups go where the workflow says (a writable folder), not into the installed collection.
    assert backups.is_dir()


def test_the_workflow_deploy_step_refuses_an_image_without_digest(tmp_path):
    """Before ansible-playbook runs: a tag could move between the build job and the deploy."""
    rc, output = run_deploy_step(
        tmp_path,
        tmp_path / "none.cfg",
        {
            "PLATFORM_ENVIRONMENT": "staging",
            "PLATFORM_INVENTORY": "deploy/inventories/staging",
            "PLATFORM_VERSION": "v1.2.3",
            "PLATFORM_IMAGES": json.dumps(
                {"frontend": f"{REGISTRY}/app/frontend@sha256:{'a' * 64}", "backend": f"{REGISTRY}/app/backend:1.2.3"}
            ),
            "PLATFORM_KUBECONFIG": str(tmp_path / "kubeconfig"),
        },
    )
    assert rc != 0
    assert (
        "not an image reference by digest" in output
        and "backend" in output
        and "frontend" not in output.split("for:", 1)[1]
    )
    assert "ansible-playbook" not in output
